"""The generator samples are drawn from: float32, on one device, apart from training.

Its weights are the EMA's or the raw generator's (`sample_from`). With
`bn_stats="standing"` its BatchNorm statistics are those of STANDING_DRAWS
fresh draws through these very weights: the moving averages of training
belong to the raw generator's past weights, which no longer match, least of
all an average of weights. (Sampling with the batch's own statistics does as
well, but makes an image depend on the rest of its batch.)

The draws go through in batches of STANDING_BATCH, so memory does not grow
with their number, and each BatchNorm's statistics over all of them are
combined from the batches' (BigGAN's standing statistics). A few hundred
draws leave every channel's mean off by a few percent of its spread, which
a well-trained generator shows as worse digits.
"""

import keras
import tensorflow as tf

from gan_tf import layers as layers_lib
from gan_tf import models

# Draws through the sampled weights that make its standing BatchNorm
# statistics, and how many go through at once.
STANDING_DRAWS = 4096
STANDING_BATCH = 512


class Sampler:
  """Prepared once per training step and setting: the sample grid, the
  evaluation and the export of one epoch share it."""

  def __init__(self, gan):
    self.gan = gan
    self._model = None
    self._key = None  # (step, sample_from, bn_stats) the model was last prepared for.

  def model(self, sample_from=None, bn_stats=None) -> keras.Model:
    """The sampling generator (None takes the run's settings). A conditional one takes `[noise, labels]`."""
    gan = self.gan
    sample_from = sample_from or gan.config.sample_from
    bn_stats = bn_stats or gan.config.bn_stats
    key = (int(gan.step.numpy()), sample_from, bn_stats)
    if key == self._key:
      return self._model
    if self._model is None:
      with layers_lib.dtype_policy("float32"):
        # Keras's own layers (the same weights and inference arithmetic), so
        # the exported generator.keras loads without this package.
        self._model = gan.build_generator(stock_layers=True)
      # Compiled (once per setting): done eagerly, its many small ops cost
      # a small model more than an epoch's share of training.
      self._prepare = tf.function(self._fill)
    self._prepare(sample_from, bn_stats)
    self._key = key
    return self._model

  def _fill(self, sample_from, bn_stats):
    gan = self.gan
    source = gan.ema_generator if sample_from == "ema" else gan.generator
    for target, value in zip(self._model.weights, source.weights, strict=True):
      target.assign(tf.cast(value, target.dtype))
    norms = models.batch_norms(self._model)
    if bn_stats == "moving":
      for norm, raw in zip(norms, models.batch_norms(gan.generator), strict=True):
        norm.moving_mean.assign(raw.moving_mean)
        norm.moving_variance.assign(raw.moving_variance)
    elif norms:
      self._standing_statistics(norms)

  def _standing_statistics(self, norms):
    gan = self.gan
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
      norm.momentum = 0.0  # The moving statistics become each batch's.
    labels = tf.range(STANDING_BATCH, dtype=tf.int32) % max(gan.num_classes, 1)
    means = [tf.zeros_like(norm.moving_mean) for norm in norms]
    squares = [tf.zeros_like(norm.moving_variance) for norm in norms]
    batches = STANDING_DRAWS // STANDING_BATCH
    for i in tf.range(batches, dtype=tf.int64):
      seed = tf.stack([tf.constant(gan.config.seed, tf.int64), 2 + i])
      noise = tf.random.stateless_normal([STANDING_BATCH, gan.latent_dim], seed=seed)
      self._model([noise, labels] if gan.num_classes else noise, training=True)
      means = [total + norm.moving_mean for total, norm in zip(means, norms, strict=True)]
      squares = [total + norm.moving_variance + tf.square(norm.moving_mean) for total, norm in zip(squares, norms, strict=True)]
    # Equal batches: the mean of the means, and the variance of all draws
    # (the mean of E[x^2] less the square of the mean).
    for norm, total, total_square, momentum in zip(norms, means, squares, momenta, strict=True):
      mean = total / batches
      norm.moving_mean.assign(mean)
      norm.moving_variance.assign(tf.maximum(total_square / batches - tf.square(mean), 0.0))
      norm.momentum = momentum

  def draw(self, noise, labels=None):
    model = self.model()
    return self._draw(model, [noise, labels] if self.gan.num_classes else noise)

  @tf.function
  def _draw(self, model, inputs):
    return model(inputs, training=False)
