import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import layers as layers_lib
from gan_tf import losses, models
from gan_tf.errors import UserError

# The articles' layer tables (002) and the TensorFlow DCGAN tutorial.
PARAMS = {"mlp": (1_493_520, 665_089), "dcgan": (2_330_944, 212_865)}


@pytest.mark.parametrize("arch", sorted(PARAMS))
def test_parameter_counts_and_shapes(arch):
  generator, discriminator = models.build(arch, 100, (28, 28, 1))
  assert (generator.count_params(), discriminator.count_params()) == PARAMS[arch]
  images = generator(tf.random.normal([3, 100]), training=False)
  assert images.shape == (3, 28, 28, 1)
  assert float(tf.reduce_max(tf.abs(images))) <= 1.0  # tanh
  assert discriminator(images, training=False).shape == (3, 1)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_outputs_stay_float32_under_mixed_precision(policy):
  keras.mixed_precision.set_global_policy(policy)
  try:
    for attention in (False, True):
      generator, discriminator = models.build("dcgan", 8, (28, 28, 1), self_attention=attention)
      images = generator(tf.random.normal([2, 8]))
      assert images.dtype == tf.float32 and discriminator(images).dtype == tf.float32
  finally:
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("shape", [(64, 4, 4, 8), (64, 16)])
def test_fused_batchnorm_computes_what_keras_does(shape):
  x = tf.random.stateless_normal(shape, seed=[0, 1]) * 3 + 1
  weight = tf.random.stateless_normal(shape, seed=[0, 2])
  stock, fused = keras.layers.BatchNormalization(momentum=0.8), layers_lib.BatchNormalization(momentum=0.8)
  for layer in (stock, fused):
    layer.build(shape)
    layer.gamma.assign(tf.linspace(0.5, 2.0, shape[-1]))
    layer.beta.assign(tf.linspace(-1.0, 1.0, shape[-1]))
  results = []
  for layer in (stock, fused):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x, training=True)
      loss = tf.reduce_sum(y * weight)
    results.append([y, *tape.gradient(loss, [x, layer.gamma, layer.beta]), layer.moving_mean, layer.moving_variance])
  for a, b in zip(*results, strict=True):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
  assert float(tf.reduce_max(tf.abs(fused.moving_mean))) > 0.1  # The statistics moved.
  np.testing.assert_allclose(fused(x, training=False), stock(x, training=False), rtol=1e-5, atol=1e-5)


def test_fast_layers_keep_keras_checkpoints(tmp_path):
  # A checkpoint written with either build restores into the other.
  for arch in sorted(PARAMS):
    fast, stock = models.build(arch, 100, (28, 28, 1)), models.build(arch, 100, (28, 28, 1), stock_layers=True)
    path = tf.train.Checkpoint(generator=fast[0], discriminator=fast[1]).write(str(tmp_path / arch))
    tf.train.Checkpoint(generator=stock[0], discriminator=stock[1]).read(path).assert_consumed()
    for a, b in zip(fast, stock, strict=True):
      inputs = tf.random.stateless_normal([4, *a.input_shape[1:]], seed=[0, 3])
      np.testing.assert_allclose(a(inputs, training=False), b(inputs, training=False), atol=1e-5)
  # And a model saved in Keras's format loads back with its own layer classes.
  fast[0].save(tmp_path / "g.keras")
  loaded = keras.models.load_model(tmp_path / "g.keras")
  assert any(isinstance(layer, layers_lib.BatchNormalization) for layer in loaded.layers)


def test_dropout_drops_its_rate_and_rescales():
  layer = layers_lib.Dropout(0.3, seed=1)
  x = tf.ones([64, 14, 14, 64])
  first, second = layer(x, training=True), layer(x, training=True)
  dropped = float(tf.reduce_mean(tf.cast(first == 0, tf.float32)))
  assert abs(dropped - 0.3) < 0.005
  np.testing.assert_allclose(np.unique(first.numpy()), [0.0, 1 / 0.7], rtol=1e-6)
  assert bool(tf.reduce_any(first != second))  # A new mask per call.
  assert bool(tf.reduce_all(layer(x, training=False) == x))
  odd = layer(tf.ones([5, 3, 7]), training=True)  # An odd number of units: half a draw is left over.
  assert odd.shape == (5, 3, 7) and 0 < float(tf.reduce_mean(tf.cast(odd == 0, tf.float32))) < 1
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = layer(x, training=True)
    total = tf.reduce_sum(y)
  grad = tape.gradient(total, x)
  np.testing.assert_array_equal(grad.numpy() == 0, y.numpy() == 0)  # Dropped units pass no gradient.


def test_dropout_mask_follows_the_seed_generator():
  a, b = layers_lib.Dropout(0.5, seed=7), layers_lib.Dropout(0.5, seed=7)
  x = tf.ones([8, 16])
  np.testing.assert_array_equal(a(x, training=True), b(x, training=True))
  compiled = tf.function(lambda x: a(x, training=True), jit_compile=True)  # XLA, as --jit_compile uses it.
  np.testing.assert_array_equal(compiled(x), b(x, training=True))


def test_dcgan_discriminator_dropout_is_a_setting():
  images = tf.random.stateless_normal([16, 28, 28, 1], seed=[0, 4])
  for rate, layers_expected in ((0.3, 2), (0.0, 0)):
    _, discriminator = models.build("dcgan", 8, (28, 28, 1), d_dropout=rate)
    dropouts = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(dropouts) == layers_expected and all(layer.rate == rate for layer in dropouts)
    first, second = discriminator(images, training=True), discriminator(images, training=True)
    # Training-mode logits differ from call to call only through dropout's masks.
    assert bool(tf.reduce_all(first == second)) == (rate == 0.0)


@pytest.mark.parametrize("arch, width, widths", [("dcgan", 128, [128, 256]), ("mlp", 256, [256, 256])])
def test_discriminator_width_is_a_setting(arch, width, widths):
  _, source = models.build(arch, 8, (28, 28, 1))
  _, wide = models.build(arch, 8, (28, 28, 1), d_width=width)
  hidden = lambda d: [layer for layer in d.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))][:-1]  # noqa: E731
  assert [layer.filters if arch == "dcgan" else layer.units for layer in hidden(wide)] == widths
  assert wide.count_params() != source.count_params()
  assert wide(tf.zeros([2, 28, 28, 1]), training=False).shape == (2, 1)


@pytest.mark.parametrize(
  "arch, width, widths", [("dcgan", 128, [512, 256, 128, 1]), ("dcgan", 32, [128, 64, 32, 1]), ("mlp", 128, [128, 256, 512, 784])]
)
def test_generator_width_is_a_setting(arch, width, widths):
  source, _ = models.build(arch, 8, (28, 28, 1))
  wide, _ = models.build(arch, 8, (28, 28, 1), g_width=width)
  if arch == "dcgan":  # The dense layer's output is reshaped to 7x7 maps of the widest level.
    widths = [7 * 7 * widths[0]] + widths[1:]
  layers = [layer for layer in wide.layers if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2DTranspose))]
  assert [getattr(layer, "filters", None) or layer.units for layer in layers] == widths
  assert wide.count_params() != source.count_params()
  assert wide(tf.zeros([2, 8]), training=False).shape == (2, 28, 28, 1)
  # The source's width is the default: the tutorial's and the articles' generators.
  assert (
    models.build_generator(arch, 8, (28, 28, 1), width={"dcgan": 64, "mlp": 256}[arch]).count_params() == source.count_params()
  )


def test_the_dcgan_generator_can_resize_instead_of_transposing():
  tutorial, _ = models.build("dcgan", 8, (28, 28, 1))
  resized, _ = models.build("dcgan", 8, (28, 28, 1), g_upsample="resize")

  def kinds(generator):
    return [type(layer).__name__ for layer in generator.layers if type(layer).__name__.startswith(("Conv", "UpSampling"))]

  assert kinds(tutorial) == ["Conv2DTranspose"] * 3
  assert kinds(resized) == ["Conv2D", "UpSampling2D", "Conv2D", "UpSampling2D", "Conv2D"]
  # As many weights: only how they are applied differs.
  assert resized.count_params() == tutorial.count_params()
  images = resized(tf.random.normal([4, 8]), training=False)
  assert images.shape == (4, 28, 28, 1) and images.dtype == tf.float32
  assert float(tf.reduce_max(tf.abs(images))) <= 1.0
  # A 32x32 generator doubles three times.
  assert models.build_generator("dcgan", 8, (32, 32, 3), upsample="resize")(tf.zeros([1, 8])).shape == (1, 32, 32, 3)


def test_self_attention_starts_as_the_identity_and_then_sees_the_whole_map():
  keras.utils.set_random_seed(0)
  with layers_lib.dtype_policy("float32"):
    inputs = keras.Input((14, 14, 64))
    block = keras.Model(inputs, layers_lib.self_attention(inputs))
  # Small maps: attention over large ones is nearly one-hot, and whether the
  # one corner reaches the other then depends on the draw.
  maps = tf.random.stateless_normal([2, 14, 14, 64], seed=[0, 1], stddev=0.1)
  assert np.array_equal(block(maps), maps)  # Its output convolution starts at zero.
  out = block.layers[-2]
  out.kernel.assign(tf.random.stateless_normal(out.kernel.shape, seed=[0, 2], stddev=0.1))
  # One corner changed: the opposite corner's output changes too, which no
  # convolution of this size would do.
  moved = tf.tensor_scatter_nd_add(maps, [[0, 0, 0]], tf.ones([1, 64]))
  assert float(tf.reduce_max(tf.abs(block(moved)[0, 13, 13] - block(maps)[0, 13, 13]))) > 1e-4
  assert np.array_equal(block(moved)[1], block(maps)[1])  # Images do not attend to each other.


def test_self_attention_is_a_setting_of_both_dcgan_networks(tmp_path):
  plain = models.build("dcgan", 100, (28, 28, 1))
  attending = models.build("dcgan", 100, (28, 28, 1), self_attention=True)
  # Query and key (64 x 8 each), value (64 x 32) and output (32 x 64) 1x1 convolutions, in each network.
  assert [b.count_params() - a.count_params() for a, b in zip(plain, attending)] == [5120, 5120]
  generator, discriminator = attending
  images = generator(tf.random.normal([4, 100]), training=False)
  assert images.shape == (4, 28, 28, 1) and discriminator(images, training=False).shape == (4, 1)
  assert models.build_generator("dcgan", 8, (32, 32, 3), attention=True)(tf.zeros([1, 8])).shape == (1, 32, 32, 3)
  # Of stock layers: the exported generator.keras (built as the sampler builds it) loads with Keras alone.
  generator = models.build_generator("dcgan", 100, (28, 28, 1), stock_layers=True, attention=True)
  generator.save(tmp_path / "g.keras")
  script = "import sys, keras; sys.modules['gan_tf'] = None; print(keras.models.load_model(sys.argv[1]).count_params())"
  proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "g.keras")], capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.strip().splitlines()[-1] == str(generator.count_params())


def test_unknown_arch():
  with pytest.raises(UserError, match="unknown arch='vae'"):
    models.build("vae", 100, (28, 28, 1))


def test_losses_on_known_logits():
  zero = tf.zeros([4, 1])
  assert losses.generator_loss(zero).shape == (4,)  # Per example.
  np.testing.assert_allclose(losses.generator_loss(zero), [np.log(2)] * 4, rtol=1e-6)
  np.testing.assert_allclose(losses.discriminator_loss(zero, zero), [2 * np.log(2)] * 4, rtol=1e-6)
  confident = tf.fill([4, 1], 20.0)
  # A discriminator sure that everything is real: tiny loss on real, ~20 on fake.
  np.testing.assert_allclose(losses.discriminator_loss(confident, confident), [20.0] * 4, rtol=1e-3)
  np.testing.assert_allclose(losses.generator_loss(confident), [0.0] * 4, atol=1e-6)
  np.testing.assert_allclose(losses.generator_loss(-confident), [20.0] * 4, rtol=1e-3)


def test_discriminator_accuracy():
  real = tf.constant([[1.0], [2.0], [-1.0], [3.0]])  # 3 of 4 called real
  fake = tf.constant([[-1.0], [-2.0], [1.0], [1.0]])  # 2 of 4 called fake
  np.testing.assert_allclose(losses.discriminator_accuracy(real, fake), [1.0, 1.0, 0.0, 0.5])
  assert float(tf.reduce_mean(losses.discriminator_accuracy(real, fake))) == pytest.approx(5 / 8)


def test_the_dcgan_generator_can_draw_from_a_layer_at_the_image_size():
  tutorial, _ = models.build("dcgan", 8, (28, 28, 1))
  layered, _ = models.build("dcgan", 8, (28, 28, 1), g_image_width=16)

  def convolutions(generator):
    return [
      (type(layer).__name__, layer.output.shape[1:]) for layer in generator.layers if type(layer).__name__.startswith("Conv")
    ]

  assert convolutions(tutorial)[-1] == ("Conv2DTranspose", (28, 28, 1))
  assert convolutions(layered)[-2:] == [("Conv2DTranspose", (28, 28, 16)), ("Conv2D", (28, 28, 1))]
  # The 14x14x64 -> 28x28x16 kernel, its BatchNorm's four vectors and the 3x3 drawing kernel replace 14x14x64 -> 28x28x1.
  assert layered.count_params() - tutorial.count_params() == 5 * 5 * 64 * (16 - 1) + 4 * 16 + 3 * 3 * 16
  images = layered(tf.random.normal([4, 8]), training=False)
  assert images.dtype == tf.float32 and float(tf.reduce_max(tf.abs(images))) <= 1.0
