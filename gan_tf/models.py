"""Generator and discriminator builders, one pair per architecture.

Discriminators return logits (scores, for the objectives without a sigmoid).
Final layers are float32 so outputs stay float32 under a mixed-precision
policy.

A conditional pair (`num_classes` > 0) takes `[inputs, labels]`: the
generator joins an embedding of the label to its noise; the discriminator is
a projection discriminator (Miyato & Koyama, 2018): its logit is a linear
function of its features plus the inner product of those features with an
embedding of the label.
"""

import dataclasses
import math
from collections.abc import Callable

import keras
from keras import layers

from gan_tf import custom, recipes
from gan_tf import layers as layers_lib
from gan_tf.errors import UserError

EMBEDDING_DIM = 50  # Of the generator's label embedding, as in keras-io's conditional GAN examples.
# dcgan widths: the tutorial's 64, 128, 256 per level, doubled per extra level
# (the DCGAN paper's 64x64 generator starts at 4x4x1024), capped.
_MAX_FILTERS = 512


def _inputs(shape, name, num_classes):
  x = keras.Input(shape, name=name)
  if not num_classes:
    return x, x, None  # A lone tensor, as callers pass it (a list would make Keras warn at every call).
  label = keras.Input((), dtype="int32", name="label")
  return x, [x, label], label


def _coded(noise, code, stock_layers):
  """The noise with an InfoGAN code of `code` classes read from it (0: as it is)."""
  if not code:
    return noise
  return layers_lib.stock_code(noise, code) if stock_layers else layers_lib.Code(code, name="code")(noise)


def code_network(image_shape, classes, width=64):
  """InfoGAN's Q network: the logits of the code's classes from an image,
  through two strided 5x5 convolutions as the tutorial's discriminator's.
  Its own network, not a head on the discriminator: a packed discriminator
  judges pairs, and the code is each image's."""
  images = keras.Input(image_shape, name="images")
  x = images
  for filters in (width, 2 * width):
    x = layers.LeakyReLU(negative_slope=0.3)(layers.Conv2D(filters, 5, strides=2, padding="same")(x))
  logits = layers.Dense(classes, dtype="float32")(layers.Flatten()(x))
  return keras.Model(images, logits, name="code_network")


def _join_label(noise, label, num_classes):
  if label is None:
    return noise
  embedded = layers.Embedding(num_classes, EMBEDDING_DIM, name="label_embedding")(label)
  return layers.Concatenate()([noise, embedded])


class _Projection(layers.Layer):
  """<embed(label), features>: the class-conditional term of a projection discriminator.

  Never spectrally normalised, even with --spectral_norm: with a normalised
  embedding (unit singular values over 10 x 6272 at 28x28) the conditional
  dcgan ignored the labels (classifier agreement 0.10 after 5 epochs on
  MNIST, chance level); without, 0.82 (BUILD.md)."""

  def __init__(self, num_classes, **kwargs):
    super().__init__(**kwargs)
    self.num_classes = num_classes

  def build(self, input_shapes):
    features_shape, _ = input_shapes
    self.embedding = layers.Embedding(self.num_classes, features_shape[-1], name="embedding")
    self.embedding.build((None,))

  def call(self, inputs):
    features, label = inputs
    embedded = keras.ops.cast(self.embedding(label), features.dtype)
    return keras.ops.sum(embedded * features, axis=-1, keepdims=True)

  def get_config(self):
    return {**super().get_config(), "num_classes": self.num_classes}


def _logit(features, label, num_classes, spectral_norm):
  dense = layers.Dense(1, dtype="float32")
  logit = (layers.SpectralNormalization(dense, dtype="float32") if spectral_norm else dense)(features)
  if label is None:
    return logit
  projection = _Projection(num_classes, dtype="float32", name="projection")([features, label])
  return layers.Add(dtype="float32")([logit, projection])


def _maybe_sn(layer, spectral_norm):
  return layers.SpectralNormalization(layer) if spectral_norm else layer


def mlp_generator(latent_dim, image_shape, num_classes=0, sync_batchnorm=False, stock_layers=False, width=256, code=0):
  """The Keras articles' dense generator (1,493,520 parameters at 28x28x1):
  three hidden layers of `width` units (the articles' 256), doubled per layer."""
  norm = layers.BatchNormalization if stock_layers else layers_lib.BatchNormalization
  noise, inputs, label = _inputs((latent_dim,), "noise", num_classes)
  x = _coded(_join_label(noise, label, num_classes), code, stock_layers)
  for units in (width, 2 * width, 4 * width):
    x = layers.Dense(units)(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    x = norm(momentum=0.8, synchronized=sync_batchnorm)(x)
  size = image_shape[0] * image_shape[1] * image_shape[2]
  x = layers.Dense(size, activation="tanh", dtype="float32")(x)
  return keras.Model(inputs, layers.Reshape(image_shape, dtype="float32")(x), name="mlp_generator")


def mlp_discriminator(image_shape, num_classes=0, spectral_norm=False, stock_layers=False, pack=1, pack_layout="fold", width=512):
  """The articles' dense discriminator (665,089 parameters at 28x28x1), on
  logits: two hidden layers of `width` units (the articles' 512)."""
  images, inputs, label = _inputs(image_shape, "images", num_classes)
  x = layers.Flatten()(layers_lib.packed(images, pack, pack_layout))
  for units in (width, width):
    x = _maybe_sn(layers.Dense(units), spectral_norm)(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
  return keras.Model(inputs, layers_lib.unpacked(_logit(x, label, num_classes, spectral_norm), pack), name="mlp_discriminator")


def dcgan_levels(image_shape):
  """(start, levels): the generator starts at start x start and doubles the
  size `levels` times; the discriminator halves it as often. 28x28 gives the
  tutorial's (7, 2); 32x32 (4, 3); 64x64 (4, 4)."""
  height, width = image_shape[:2]
  for start in (7, 4):
    levels = math.log2(height / start) if height % start == 0 else 0
    if height == width and levels >= 1 and levels == int(levels):
      return start, int(levels)
  raise UserError(
    f"@arch=dcgan draws square images of 7 or 4 times a power of two pixels (28, 32, 64, ...), "
    f"not {height}x{width}; pass @image_size=28, 32 or 64"
  )


def dcgan_generator(
  latent_dim,
  image_shape,
  num_classes=0,
  sync_batchnorm=False,
  stock_layers=False,
  width=64,
  upsample="transpose",
  attention=False,
  image_width=0,
  code=0,
):
  """The TensorFlow DCGAN tutorial's generator, one level deeper per doubling
  of the image size: at 28x28x1 exactly the tutorial's 7x7x256 -> 7x7x128 ->
  14x14x64 -> 28x28x1. `width` is its last hidden layer's filters (the
  tutorial's 64), doubled per level up to 512. `upsample` "resize" doubles
  the maps by nearest-neighbour upsampling and a 5x5 convolution instead of
  the tutorial's 5x5 transposed convolution of stride 2: as many weights,
  but every output pixel sums as many of them, so no checkerboard pattern
  (Odena et al., 2016). `attention` adds a self-attention block before the
  last upsampling. `image_width` filters (0: none) make one more layer at
  the image's size, from which a 3x3 convolution draws the image: the
  tutorial draws each stroke from the half-size map with one kernel."""
  norm = layers.BatchNormalization if stock_layers else layers_lib.BatchNormalization
  start, levels = dcgan_levels(image_shape)
  level_width = lambda level: min(width * 2**level, _MAX_FILTERS)
  noise, inputs, label = _inputs((latent_dim,), "noise", num_classes)
  x = _coded(_join_label(noise, label, num_classes), code, stock_layers)
  x = layers.Dense(start * start * level_width(levels), use_bias=False)(x)
  x = norm(synchronized=sync_batchnorm)(x)
  x = layers.LeakyReLU(negative_slope=0.3)(x)
  x = layers.Reshape((start, start, level_width(levels)))(x)

  def up_level(x, filters, stride):
    x = _up_conv(x, filters, stride, upsample)
    return layers.LeakyReLU(negative_slope=0.3)(norm(synchronized=sync_batchnorm)(x))

  for filters, stride in [(level_width(levels - 1), 1)] + [(level_width(level), 2) for level in range(levels - 2, -1, -1)]:
    x = up_level(x, filters, stride)
  if attention:
    x = layers_lib.self_attention(x)
  if image_width:
    x = up_level(x, image_width, 2)
    x = layers.Conv2D(image_shape[2], 3, padding="same", use_bias=False, activation="tanh", dtype="float32")(x)
  else:
    x = _up_conv(x, image_shape[2], 2, upsample, activation="tanh", dtype="float32")
  return keras.Model(inputs, x, name="dcgan_generator")


def _up_conv(x, filters, stride, upsample, **kwargs):
  """A 5x5 convolution that multiplies the map's size by `stride` (1 or 2) as `upsample` says."""
  if upsample == "transpose":
    return layers.Conv2DTranspose(filters, 5, strides=stride, padding="same", use_bias=False, **kwargs)(x)
  if stride > 1:
    x = layers.UpSampling2D(stride)(x)
  return layers.Conv2D(filters, 5, padding="same", use_bias=False, **kwargs)(x)


def dcgan_discriminator(
  image_shape,
  num_classes=0,
  spectral_norm=False,
  stock_layers=False,
  pack=1,
  pack_layout="fold",
  dropout=0.3,
  width=64,
  attention=False,
):
  """The tutorial's discriminator: strided 5x5 convolutions (two at 28x28,
  one more per doubling) of `width` filters (the tutorial's 64), doubled per
  level up to 512, each followed by `dropout` (the tutorial's 0.3; 0: none),
  and one logit. `attention` adds a self-attention block after the first
  convolution."""
  dropout_layer = layers.Dropout if stock_layers else layers_lib.Dropout
  _, levels = dcgan_levels(image_shape)
  images, inputs, label = _inputs(image_shape, "images", num_classes)
  x = layers_lib.packed(images, pack, pack_layout)
  for level in range(levels):
    x = _maybe_sn(layers.Conv2D(min(width * 2**level, _MAX_FILTERS), 5, strides=2, padding="same"), spectral_norm)(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    if dropout:
      x = dropout_layer(dropout)(x)
    if attention and level == 0:
      x = layers_lib.self_attention(x)
  x = layers.Flatten()(x)
  return keras.Model(inputs, layers_lib.unpacked(_logit(x, label, num_classes, spectral_norm), pack), name="dcgan_discriminator")


@dataclasses.dataclass(frozen=True)
class Architecture:
  """A built-in pair, and what runs it fastest on a CPU (`speed.resolve`
  reads these; a user's networks get the defaults)."""

  generator: Callable
  discriminator: Callable
  cpu_xla: bool = False  # XLA sped up the mlp's small dense layers, and slowed the dcgan's convolutions.
  # Steps per compiled call: worth it where dispatch is a large share of a short step.
  cpu_steps_per_execution: int = 1
  cpu_bfloat16: bool = False  # Worth measuring bfloat16 (probe.py); not for the mlp's small dense layers.


ARCHITECTURES = {
  "mlp": Architecture(mlp_generator, mlp_discriminator, cpu_xla=True, cpu_steps_per_execution=8),
  "dcgan": Architecture(dcgan_generator, dcgan_discriminator, cpu_bfloat16=True),
}
CUSTOM = Architecture(None, None)


def architecture(arch) -> Architecture:
  """The built-in architecture `arch`, or the defaults for a user's MODULE:FUNCTION."""
  return CUSTOM if ":" in arch else ARCHITECTURES[arch]


def build_generator(
  arch,
  latent_dim,
  image_shape,
  num_classes=0,
  sync_batchnorm=False,
  stock_layers=False,
  width=None,
  upsample=None,
  attention=None,
  image_width=None,
  code=0,
):
  """`sync_batchnorm` computes BatchNorm statistics over all replicas of a
  tf.distribute strategy. `stock_layers` builds with Keras's own
  BatchNormalization and Dropout instead of this module's faster ones (the
  benchmark's reference). `width`, `upsample`, `attention` and `image_width`
  are a built-in generator's (None: its source's; only the dcgan's has the last three)."""
  if ":" in arch:
    return custom.build(arch, latent_dim, image_shape, num_classes, sync_batchnorm)[0]
  if arch not in ARCHITECTURES:
    raise UserError(f"unknown @arch={arch!r}; choose one of {', '.join(sorted(ARCHITECTURES))}")
  return ARCHITECTURES[arch].generator(
    latent_dim,
    tuple(image_shape),
    num_classes,
    sync_batchnorm,
    stock_layers,
    **({"width": width} if width else {}),
    **({"upsample": upsample} if upsample else {}),
    **({"attention": attention} if attention else {}),
    **({"image_width": image_width} if image_width else {}),
    **({"code": code} if code else {}),
  )


def num_classes_of(generator) -> int:
  """The classes a built-in generator is conditioned on (0: unconditional)."""
  names = {layer.name for layer in generator.layers}
  return int(generator.get_layer("label_embedding").input_dim) if "label_embedding" in names else 0


def build(
  arch,
  latent_dim,
  image_shape,
  num_classes=0,
  sync_batchnorm=False,
  spectral_norm=False,
  stock_layers=False,
  pack=1,
  pack_layout="fold",
  d_dropout=0.3,
  d_width=None,
  g_width=None,
  g_upsample=None,
  self_attention=None,
  g_image_width=None,
  info_code=0,
):
  """Returns (generator, discriminator) for `arch`; conditional on `num_classes` labels if it is not 0.
  The discriminator judges `pack` images at once, laid out as `pack_layout`
  says (PacGAN; 1: each alone; unconditional only, as `Config` checks): it
  takes batches of a multiple of `pack` images and gives each image its
  pack's logit. `d_dropout` is the dcgan discriminator's dropout rate (the
  tutorial's 0.3 unless a recipe says otherwise; the mlp has none).
  `d_width` and `g_width` are a built-in pair's widths, `g_upsample` how
  its generator doubles its maps, `self_attention` whether both attend
  over them and `g_image_width` the generator's filters at the image's
  size (None: its source's). `arch`
  "MODULE:FUNCTION" names the user's networks (custom.py), which take no
  pack and no spectral normalisation (`Config` refuses them)."""
  if ":" in arch:
    return custom.build(arch, latent_dim, image_shape, num_classes, sync_batchnorm)
  generator = build_generator(
    arch,
    latent_dim,
    image_shape,
    num_classes,
    sync_batchnorm,
    stock_layers,
    width=g_width,
    upsample=g_upsample,
    attention=self_attention,
    image_width=g_image_width,
    code=info_code,
  )
  discriminator = ARCHITECTURES[arch].discriminator(
    tuple(image_shape),
    num_classes,
    spectral_norm,
    stock_layers,
    pack=pack,
    pack_layout=pack_layout,
    **({"dropout": d_dropout} if arch in recipes.DROPOUT_ARCHS else {}),
    **({"width": d_width} if d_width else {}),
    **({"attention": self_attention} if self_attention else {}),
  )
  return generator, discriminator


def batch_norms(model) -> list:
  """The BatchNormalization layers of `model`, those of nested models included."""
  return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, layers.BatchNormalization)]
