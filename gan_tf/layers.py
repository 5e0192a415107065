"""Layers of the built-in networks: Keras's BatchNormalization and Dropout,
trained faster with the same variables; PacGAN's packs; SAGAN's
self-attention block; InfoGAN's code, and the same from stock
layers; the dtype policy a model is built under.
"""

import contextlib

import keras
import tensorflow as tf
from keras import layers


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
  than no pack (docs/recipes.md)."""

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


def packed(images, pack, layout):
  return Pack(pack, layout, name="pack")(images) if pack > 1 else images


def unpacked(logit, pack):
  return Unpack(pack, dtype="float32", name="unpack")(logit) if pack > 1 else logit


def self_attention(x):
  """SAGAN's self-attention block (Zhang et al., 2019), of stock Keras layers
  so that an export loads without this package: every position attends to
  all others (keys and values max-pooled 2x2, as BigGAN's), and the result
  is added through a 1x1 convolution that starts at zero, so the block
  starts as the identity and training decides how much of it to use."""
  height, width, channels = x.shape[1:]

  def projected(filters, pool):
    y = layers.Conv2D(filters, 1, use_bias=False)(x)
    y = layers.MaxPooling2D(2)(y) if pool else y
    return layers.Reshape((y.shape[1] * y.shape[2], filters))(y)

  query, key, value = projected(channels // 8, False), projected(channels // 8, True), projected(channels // 2, True)
  attention = layers.Softmax()(layers.Dot(axes=2)([query, key]))
  attended = layers.Reshape((height, width, channels // 2))(layers.Dot(axes=(2, 1))([attention, value]))
  return layers.Add()([x, layers.Conv2D(channels, 1, use_bias=False, kernel_initializer="zeros")(attended)])


@keras.saving.register_keras_serializable(package="gan_tf")
class Code(layers.Layer):
  """InfoGAN's categorical code, read from the noise: its first `classes`
  values become the one-hot class of the largest, so the code is uniform
  over the classes (the likeliest of independent normals) and an export
  still takes plain noise."""

  def __init__(self, classes, **kwargs):
    super().__init__(**kwargs)
    self.classes = classes

  def get_config(self):
    return {**super().get_config(), "classes": self.classes}

  def call(self, noise):
    code = keras.ops.one_hot(code_classes(noise, self.classes), self.classes, dtype=noise.dtype)
    return keras.ops.concatenate([code, noise[:, self.classes :]], axis=-1)


def code_classes(noise, classes):
  """The class `Code` reads from each row of `noise`."""
  return keras.ops.argmax(noise[:, :classes], axis=-1)


# Differences between a value and the largest of the code's values are 0 or,
# in float32, at least about 1e-7 of the largest; scaled by this they pass
# any cap, so the indicator below is exactly 0 or 1.
_TIE_SCALE = 1e30


def stock_code(noise, classes):
  """`Code(classes)(noise)` from Keras's own layers, for the float32 sampler,
  so an exported generator.keras loads without this package: the one-hot
  of the largest of the first `classes` values is 1 where a value equals
  their maximum (ties, which float32 normal noise does not draw, would mark
  each tied class), then the rest of the noise."""
  length = noise.shape[-1]
  column = layers.Reshape((length, 1))(noise)
  head = layers.Cropping1D((0, length - classes))(column)
  largest = layers.GlobalMaxPooling1D(keepdims=True)(head)
  below = layers.Subtract()([head, largest])  # 0 at the largest, negative elsewhere.
  one_hot = layers.ReLU(max_value=1.0)(layers.Rescaling(_TIE_SCALE, offset=1.0)(below))
  one_hot = layers.Reshape((classes,))(one_hot)
  if classes == length:
    return one_hot
  rest = layers.Reshape((length - classes,))(layers.Cropping1D((classes, 0))(column))
  return layers.Concatenate()([one_hot, rest])
