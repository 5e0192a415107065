"""Differentiable augmentation of the discriminator's inputs (DiffAugment,
Zhao et al., 2020).

Real and generated images alike are transformed before the discriminator
sees them, and the generator's gradient flows back through the transform, so
the discriminator cannot memorise a small training set while the generator
still learns the untransformed images. The transforms and their strengths
are the paper's ("translation", "cutout", "color"), for images in [-1, 1].

Every random choice comes from `params`, a [batch, NUM_PARAMS] tensor of
uniform draws in [0, 1) that the caller makes from its (seed, step) key, so
a step is the same on any number of replicas and after a resume.
"""

import tensorflow as tf

from gan_tf import settings
from gan_tf.settings import POLICIES  # noqa: F401

NUM_PARAMS = 7  # 2 translation, 2 cutout, 3 colour
TRANSLATION_RATIO = 0.125  # shift by up to 1/8 of the side
CUTOUT_RATIO = 0.5  # a square of half the side


@tf.autograph.experimental.do_not_convert  # Plain Python on strings, also inside the traced step.
def parse(policy: str) -> tuple:
  """The transforms named in a comma-separated `policy` ("" or "none": none)."""
  return settings.augment_policies(policy)


def apply(images, policy: str, params):
  """`images` [B, H, W, C] transformed by `policy`'s transforms, in the
  paper's order (colour, translation, cutout); dtype and shape kept."""
  names = parse(policy)
  u = tf.cast(params, tf.float32)
  if "color" in names:
    images = _color(images, u[:, 4:7])
  if "translation" in names:
    images = _translate(images, u[:, 0:2])
  if "cutout" in names:
    images = _cutout(images, u[:, 2:4])
  return images


def _per_example(values, dtype):
  return tf.cast(tf.reshape(values, [-1, 1, 1, 1]), dtype)


def _color(images, u):
  # Brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]: the paper's
  # ranges on [-1, 1] images. Saturation leaves one-channel images unchanged.
  dtype = images.dtype
  images = images + _per_example(u[:, 0] - 0.5, dtype)
  mean = tf.reduce_mean(images, axis=3, keepdims=True)
  images = (images - mean) * _per_example(u[:, 1] * 2.0, dtype) + mean
  mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
  return (images - mean) * _per_example(u[:, 2] + 0.5, dtype) + mean


def _shift(u, max_shift):
  # An integer in [-max_shift, max_shift] from a uniform draw.
  return tf.cast(tf.floor(u * (2 * max_shift + 1)), tf.int32) - max_shift


def _translate(images, u):
  # Each image moves by a whole number of pixels; what comes in from outside
  # is zero, the middle of [-1, 1], as in the paper.
  height, width = images.shape[1], images.shape[2]
  padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
  rows = tf.range(height)[None] + _shift(u[:, 0:1], int(height * TRANSLATION_RATIO + 0.5)) + 1
  cols = tf.range(width)[None] + _shift(u[:, 1:2], int(width * TRANSLATION_RATIO + 0.5)) + 1
  # Indices past the edge land on the zero padding.
  padded = tf.gather(padded, tf.clip_by_value(rows, 0, height + 1), axis=1, batch_dims=1)
  return tf.gather(padded, tf.clip_by_value(cols, 0, width + 1), axis=2, batch_dims=1)


def _cutout(images, u):
  # A square of half the side, centred anywhere in the image (and so
  # sometimes partly outside it), set to zero.
  height, width = images.shape[1], images.shape[2]
  size_h, size_w = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
  top = tf.cast(tf.floor(u[:, 0:1] * (height + 1 - size_h % 2)), tf.int32) - size_h // 2
  left = tf.cast(tf.floor(u[:, 1:2] * (width + 1 - size_w % 2)), tf.int32) - size_w // 2
  rows, cols = tf.range(height)[None], tf.range(width)[None]
  in_rows = (rows >= top) & (rows < top + size_h)
  in_cols = (cols >= left) & (cols < left + size_w)
  keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
  return images * tf.cast(keep, images.dtype)[..., None]
