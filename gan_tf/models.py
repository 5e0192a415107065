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

import contextlib
import dataclasses
import math
from collections.abc import Callable

import keras
import tensorflow as tf
from keras import layers

from gan_tf import custom
from gan_tf.errors import UserError

EMBEDDING_DIM = 50  # Of the generator's label embedding, as in keras-io's conditional GAN examples.
# dcgan widths: the tutorial's 64, 128, 256 per level, doubled per extra level
# (the DCGAN paper's 64x64 generator starts at 4x4x1024), capped.
_MAX_FILTERS = 512


@contextlib.contextmanager
def dtype_policy(name):
  """Keras reads the policy when a layer is made; set it only for our models."""
  previous = keras.mixed_precision.global_policy()
  keras.mixed_precision.set_global_policy(name)
  try:
    yield
  finally:
    keras.mixed_precision.set_global_policy(previous)


@keras.saving.register_keras_serializable(package="gan_tf")
class BatchNormalization(layers.BatchNormalization):
  """Keras's BatchNormalization, trained with TensorFlow's fused kernel.

  Keras 3 trains it with separate moment and elementwise ops; the fused op
  is one oneDNN or cuDNN kernel forward and one backward, which is faster
  (docs/experiments.md). The variables and the arithmetic are Keras's
  (the biased batch variance normalises and feeds the moving average), so
  weights and checkpoints are interchangeable with the stock layer. Keras's
  own path runs where the fused op does not apply: inference, synchronised
  statistics, masks, renormalisation.
  """

  def call(self, inputs, training=None, mask=None):
    rank = len(inputs.shape)
    if (
      not (training and self.trainable)
      or self.synchronized
      or mask is not None
      or self.renorm
      or rank not in (2, 4)
      or self.axis not in (-1, rank - 1)
      or not (self.center and self.scale)
    ):
      return super().call(inputs, training=training, mask=mask)
    x = tf.cast(inputs, tf.float32)  # As Keras computes it under mixed precision.
    if rank == 2:
      x = x[:, None, None, :]
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
      x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32), epsilon=self.epsilon, is_training=True
    )
    # The op returns the Bessel-corrected variance for the moving average;
    # Keras averages the biased one.
    count = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
    variance = variance * (count - 1.0) / count
    for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
      moving.assign(moving * self.momentum + tf.cast(batch, moving.dtype) * (1.0 - self.momentum))
    if rank == 2:
      y = y[:, 0, 0, :]
    return tf.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="gan_tf")
class Dropout(layers.Dropout):
  """Keras's Dropout, with a mask drawn from 16 random bits per unit.

  Keras draws a float32 uniform per unit, a visible share of the dcgan
  discriminator's step on CPU; half as many bits cost half as much. The rate is rounded to a multiple of 1/65536
  (0.3 becomes 0.300003). Same seed generator, so a resumed run continues
  its dropout sequence as before.
  """

  def call(self, inputs, training=False):
    if not (training and 0 < self.rate < 1) or self.noise_shape is not None:
      return super().call(inputs, training=training)
    seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), tf.int32)
    # Each 32-bit draw gives two neighbouring units their 16 bits.
    size = tf.size(inputs)
    bits = tf.random.stateless_uniform([(size + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32, alg="philox")
    halves = tf.reshape(tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:size], tf.shape(inputs))
    keep = halves >= tf.constant(round(self.rate * 65536), tf.uint16)
    return tf.where(keep, inputs * tf.cast(1.0 / (1.0 - self.rate), inputs.dtype), tf.zeros_like(inputs))


class _PackSize(layers.Layer):
  """A layer with a pack size `pack`, saved in its config."""

  def __init__(self, pack, **kwargs):
    super().__init__(**kwargs)
    self.pack = pack

  def get_config(self):
    return {**super().get_config(), "pack": self.pack}


@keras.saving.register_keras_serializable(package="gan_tf")
class Pack(_PackSize):
  """PacGAN's input (Lin et al., 2018): each `pack` consecutive images as one
  input of the image's shape with `pack` times the channels, so the
  discriminator judges them together and can tell a generator that draws too
  few kinds of image by the lack of variety within a pack.

  layout "channels" stacks the images along the channels, as PacGAN does.
  "fold" reshapes the pack in memory order: each image fills 1/pack of the
  canvas's rows, its rows laid side by side and neighbouring pixels as
  channels. On MNIST the folded pack scored better than the stacked one and
  than no pack (docs/results.md, "Sample quality of the recipes")."""

  def __init__(self, pack, layout="channels", **kwargs):  # A config saved before layouts stacked.
    super().__init__(pack, **kwargs)
    self.layout = layout

  def get_config(self):
    return {**super().get_config(), "layout": self.layout}

  def call(self, images):
    height, width, channels = images.shape[1:]
    x = images
    if self.layout == "channels":
      x = keras.ops.reshape(x, (-1, self.pack, height, width, channels))
      x = keras.ops.transpose(x, (0, 2, 3, 1, 4))
    return keras.ops.reshape(x, (-1, height, width, self.pack * channels))


@keras.saving.register_keras_serializable(package="gan_tf")
class Unpack(_PackSize):
  """A pack's logit for each of its images, so the losses stay per image
  (their mean over images is PacGAN's mean over packs)."""

  def call(self, logits):
    return keras.ops.repeat(logits, self.pack, axis=0)


def _packed(images, pack, layout):
  return Pack(pack, layout, name="pack")(images) if pack > 1 else images


def _unpacked(logit, pack):
  return Unpack(pack, dtype="float32", name="unpack")(logit) if pack > 1 else logit


def _inputs(shape, name, num_classes):
  x = keras.Input(shape, name=name)
  if not num_classes:
    return x, x, None  # A lone tensor, as callers pass it (a list would make Keras warn at every call).
  label = keras.Input((), dtype="int32", name="label")
  return x, [x, label], label


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


def mlp_generator(latent_dim, image_shape, num_classes=0, sync_batchnorm=False, stock_layers=False):
  """The Keras articles' dense generator (1,493,520 parameters at 28x28x1)."""
  norm = layers.BatchNormalization if stock_layers else BatchNormalization
  noise, inputs, label = _inputs((latent_dim,), "noise", num_classes)
  x = _join_label(noise, label, num_classes)
  for units in (256, 512, 1024):
    x = layers.Dense(units)(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    x = norm(momentum=0.8, synchronized=sync_batchnorm)(x)
  size = image_shape[0] * image_shape[1] * image_shape[2]
  x = layers.Dense(size, activation="tanh", dtype="float32")(x)
  return keras.Model(inputs, layers.Reshape(image_shape, dtype="float32")(x), name="mlp_generator")


def mlp_discriminator(image_shape, num_classes=0, spectral_norm=False, stock_layers=False, pack=1, pack_layout="fold"):
  """The articles' dense discriminator (665,089 parameters at 28x28x1), on logits."""
  images, inputs, label = _inputs(image_shape, "images", num_classes)
  x = layers.Flatten()(_packed(images, pack, pack_layout))
  for units in (512, 512):
    x = _maybe_sn(layers.Dense(units), spectral_norm)(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
  return keras.Model(inputs, _unpacked(_logit(x, label, num_classes, spectral_norm), pack), name="mlp_discriminator")


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


def dcgan_generator(latent_dim, image_shape, num_classes=0, sync_batchnorm=False, stock_layers=False):
  """The TensorFlow DCGAN tutorial's generator, one level deeper per doubling
  of the image size: at 28x28x1 exactly the tutorial's 7x7x256 -> 7x7x128 ->
  14x14x64 -> 28x28x1."""
  norm = layers.BatchNormalization if stock_layers else BatchNormalization
  start, levels = dcgan_levels(image_shape)
  width = lambda level: min(64 * 2**level, _MAX_FILTERS)
  noise, inputs, label = _inputs((latent_dim,), "noise", num_classes)
  x = _join_label(noise, label, num_classes)
  x = layers.Dense(start * start * width(levels), use_bias=False)(x)
  x = norm(synchronized=sync_batchnorm)(x)
  x = layers.LeakyReLU(negative_slope=0.3)(x)
  x = layers.Reshape((start, start, width(levels)))(x)
  for filters, stride in [(width(levels - 1), 1)] + [(width(level), 2) for level in range(levels - 2, -1, -1)]:
    x = layers.Conv2DTranspose(filters, 5, strides=stride, padding="same", use_bias=False)(x)
    x = norm(synchronized=sync_batchnorm)(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
  x = layers.Conv2DTranspose(image_shape[2], 5, strides=2, padding="same", use_bias=False, activation="tanh", dtype="float32")(x)
  return keras.Model(inputs, x, name="dcgan_generator")


def dcgan_discriminator(image_shape, num_classes=0, spectral_norm=False, stock_layers=False, pack=1, pack_layout="fold"):
  """The tutorial's discriminator: strided 5x5 convolutions (two at 28x28,
  one more per doubling) and one logit."""
  dropout = layers.Dropout if stock_layers else Dropout
  _, levels = dcgan_levels(image_shape)
  images, inputs, label = _inputs(image_shape, "images", num_classes)
  x = _packed(images, pack, pack_layout)
  for level in range(levels):
    x = _maybe_sn(layers.Conv2D(min(64 * 2**level, _MAX_FILTERS), 5, strides=2, padding="same"), spectral_norm)(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = dropout(0.3)(x)
  x = layers.Flatten()(x)
  return keras.Model(inputs, _unpacked(_logit(x, label, num_classes, spectral_norm), pack), name="dcgan_discriminator")


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


def build_generator(arch, latent_dim, image_shape, num_classes=0, sync_batchnorm=False, stock_layers=False):
  """`sync_batchnorm` computes BatchNorm statistics over all replicas of a
  tf.distribute strategy. `stock_layers` builds with Keras's own
  BatchNormalization and Dropout instead of this module's faster ones (the
  benchmark's reference)."""
  if ":" in arch:
    return custom.build(arch, latent_dim, image_shape, num_classes, sync_batchnorm)[0]
  if arch not in ARCHITECTURES:
    raise UserError(f"unknown @arch={arch!r}; choose one of {', '.join(sorted(ARCHITECTURES))}")
  return ARCHITECTURES[arch].generator(latent_dim, tuple(image_shape), num_classes, sync_batchnorm, stock_layers)


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
):
  """Returns (generator, discriminator) for `arch`; conditional on `num_classes` labels if it is not 0.
  The discriminator judges `pack` images at once, laid out as `pack_layout`
  says (PacGAN; 1: each alone; unconditional only, as `Config` checks): it
  takes batches of a multiple of `pack` images and gives each image its
  pack's logit. `arch` "MODULE:FUNCTION" names the user's networks (custom.py),
  which take no pack and no spectral normalisation (`Config` refuses them)."""
  if ":" in arch:
    return custom.build(arch, latent_dim, image_shape, num_classes, sync_batchnorm)
  generator = build_generator(arch, latent_dim, image_shape, num_classes, sync_batchnorm, stock_layers)
  discriminator = ARCHITECTURES[arch].discriminator(
    tuple(image_shape), num_classes, spectral_norm, stock_layers, pack=pack, pack_layout=pack_layout
  )
  return generator, discriminator


def batch_norms(model) -> list:
  """The BatchNormalization layers of `model`, those of nested models included."""
  return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, layers.BatchNormalization)]
