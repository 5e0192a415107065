"""A ResNet GAN of the SNGAN kind (Miyato et al., 2018), the standard
architecture of the CIFAR-10 GAN literature, as your own networks for gan-tf.

    gan-tf train --arch=resnet_gan:build --dataset=cifar10 --loss=hinge --beta_1=0 --d_steps=5

run from this folder (or with it on PYTHONPATH). At 32x32 the generator goes
4x4 -> 8 -> 16 -> 32 through three upsampling residual blocks; the
discriminator, spectrally normalised throughout, comes down through two
downsampling blocks and two plain ones to a sum-pooled logit. A conditional
pair (num_classes > 0) joins a label embedding to the noise and adds a
projection term to the logit.
"""

import math

import keras
from keras import layers


def build(latent_dim, image_shape, num_classes=0, g_width=256, d_width=128):
  """gan-tf calls this as build(latent_dim=..., image_shape=(H, W, C), num_classes=...)."""
  return generator(latent_dim, image_shape, num_classes, g_width), discriminator(image_shape, num_classes, d_width)


def generator(latent_dim, image_shape, num_classes=0, width=256):
  height, _, channels = image_shape
  ups = int(math.log2(height // 4))
  if 4 * 2**ups != height or image_shape[0] != image_shape[1]:
    raise ValueError(f"draws square images of 4 times a power of two pixels (32, 64, ...), not {image_shape}")
  noise = keras.Input((latent_dim,), name="noise")
  inputs, x = noise, noise
  if num_classes:
    label = keras.Input((), dtype="int32", name="label")
    inputs = [noise, label]
    x = layers.Concatenate()([noise, layers.Embedding(num_classes, 64)(label)])
  x = layers.Reshape((4, 4, width))(layers.Dense(4 * 4 * width)(x))
  for _ in range(ups):
    x = _block_up(x, width)
  x = layers.ReLU()(layers.BatchNormalization()(x))
  images = layers.Conv2D(channels, 3, padding="same", activation="tanh", dtype="float32")(x)
  return keras.Model(inputs, images, name="resnet_generator")


def _block_up(x, width):
  shortcut = layers.Conv2D(width, 1)(layers.UpSampling2D()(x))
  x = layers.UpSampling2D()(layers.ReLU()(layers.BatchNormalization()(x)))
  x = layers.Conv2D(width, 3, padding="same")(x)
  x = layers.Conv2D(width, 3, padding="same")(layers.ReLU()(layers.BatchNormalization()(x)))
  return layers.Add()([x, shortcut])


def _sn(layer):
  return layers.SpectralNormalization(layer)


def discriminator(image_shape, num_classes=0, width=128):
  images = keras.Input(image_shape, name="images")
  inputs = images
  # The first block: no activation before its first convolution (SNGAN's "optimized" block).
  x = _sn(layers.Conv2D(width, 3, padding="same"))(images)
  x = _sn(layers.Conv2D(width, 3, padding="same"))(layers.ReLU()(x))
  x = layers.AveragePooling2D(2)(x)
  x = layers.Add()([x, _sn(layers.Conv2D(width, 1))(layers.AveragePooling2D(2)(images))])
  for down in (True, False, False):
    x = _block_down(x, width, down)
  features = keras.ops.sum(layers.ReLU()(x), axis=(1, 2))  # Global sum pooling, as SNGAN.
  logit = _sn(layers.Dense(1, dtype="float32"))(features)
  if num_classes:
    label = keras.Input((), dtype="int32", name="label")
    inputs = [images, label]
    embedded = layers.Embedding(num_classes, width)(label)
    projection = keras.ops.sum(keras.ops.cast(embedded, features.dtype) * features, axis=-1, keepdims=True)
    logit = layers.Add(dtype="float32")([logit, projection])
  return keras.Model(inputs, logit, name="resnet_discriminator")


def _block_down(x, width, down):
  shortcut = x
  x = _sn(layers.Conv2D(width, 3, padding="same"))(layers.ReLU()(x))
  x = _sn(layers.Conv2D(width, 3, padding="same"))(layers.ReLU()(x))
  if down:
    x = layers.AveragePooling2D(2)(x)
    shortcut = layers.AveragePooling2D(2)(_sn(layers.Conv2D(width, 1))(shortcut))
  return layers.Add()([x, shortcut])


def small(latent_dim, image_shape, num_classes=0):
  """The same networks, 32 channels wide: a quick try on a CPU (--arch=resnet_gan:small)."""
  return build(latent_dim, image_shape, num_classes, g_width=32, d_width=32)
