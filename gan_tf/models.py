"""Generator and discriminator builders, one pair per architecture.

Discriminators return logits; the losses apply the sigmoid. Final layers are
float32 so outputs stay float32 under a mixed-precision policy.
"""

import keras
from keras import layers

from gan_tf.errors import UserError


def mlp_generator(latent_dim, image_shape, sync_batchnorm=False):
  """The Keras articles' dense generator (1,493,520 parameters at 28x28x1)."""
  x = inputs = keras.Input((latent_dim,), name="noise")
  for units in (256, 512, 1024):
    x = layers.Dense(units)(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    x = layers.BatchNormalization(momentum=0.8, synchronized=sync_batchnorm)(x)
  size = image_shape[0] * image_shape[1] * image_shape[2]
  x = layers.Dense(size, activation="tanh", dtype="float32")(x)
  return keras.Model(inputs, layers.Reshape(image_shape, dtype="float32")(x), name="mlp_generator")


def mlp_discriminator(image_shape):
  """The articles' dense discriminator (665,089 parameters at 28x28x1), on logits."""
  x = inputs = keras.Input(image_shape, name="images")
  x = layers.Flatten()(x)
  for units in (512, 512):
    x = layers.Dense(units)(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
  return keras.Model(inputs, layers.Dense(1, dtype="float32")(x), name="mlp_discriminator")


def dcgan_generator(latent_dim, image_shape, sync_batchnorm=False):
  """The TensorFlow DCGAN tutorial's generator: 7x7x256 -> 7x7x128 -> 14x14x64 -> 28x28x1."""
  if image_shape[:2] != (28, 28):
    raise UserError(f"--arch=dcgan draws 28x28 images, not {image_shape[0]}x{image_shape[1]}")
  x = inputs = keras.Input((latent_dim,), name="noise")
  x = layers.Dense(7 * 7 * 256, use_bias=False)(x)
  x = layers.BatchNormalization(synchronized=sync_batchnorm)(x)
  x = layers.LeakyReLU(negative_slope=0.3)(x)
  x = layers.Reshape((7, 7, 256))(x)
  for filters, stride in ((128, 1), (64, 2)):
    x = layers.Conv2DTranspose(filters, 5, strides=stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(synchronized=sync_batchnorm)(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
  x = layers.Conv2DTranspose(image_shape[2], 5, strides=2, padding="same", use_bias=False,
                             activation="tanh", dtype="float32")(x)
  return keras.Model(inputs, x, name="dcgan_generator")


def dcgan_discriminator(image_shape):
  """The tutorial's discriminator: two strided 5x5 convolutions and one logit."""
  x = inputs = keras.Input(image_shape, name="images")
  for filters in (64, 128):
    x = layers.Conv2D(filters, 5, strides=2, padding="same")(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Dropout(0.3)(x)
  x = layers.Flatten()(x)
  return keras.Model(inputs, layers.Dense(1, dtype="float32")(x), name="dcgan_discriminator")


ARCHITECTURES = {
    "mlp": (mlp_generator, mlp_discriminator),
    "dcgan": (dcgan_generator, dcgan_discriminator),
}


def build(arch, latent_dim, image_shape, sync_batchnorm=False):
  """Returns (generator, discriminator) for `arch`; `sync_batchnorm` computes
  BatchNorm statistics over all replicas of a tf.distribute strategy."""
  if arch not in ARCHITECTURES:
    raise UserError(f"unknown --arch={arch!r}; choose one of {', '.join(sorted(ARCHITECTURES))}")
  make_generator, make_discriminator = ARCHITECTURES[arch]
  image_shape = tuple(image_shape)
  return make_generator(latent_dim, image_shape, sync_batchnorm), make_discriminator(image_shape)
