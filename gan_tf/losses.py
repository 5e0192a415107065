"""GAN losses on discriminator logits."""

import tensorflow as tf


def _bce(logits, value):
  return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
      labels=tf.fill(tf.shape(logits), tf.cast(value, logits.dtype)), logits=logits))


def generator_loss(fake_logits):
  """Non-saturating: -log D(G(z)), the generator's loss of the tutorial and the articles."""
  return _bce(fake_logits, 1.0)


def discriminator_loss(real_logits, fake_logits):
  """Binary cross-entropy on real (label 1) plus fake (label 0), as in the tutorial."""
  return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


def discriminator_accuracy(real_logits, fake_logits):
  """The articles' d_acc: the share of real and fake images the discriminator calls right."""
  correct = tf.concat([tf.cast(real_logits > 0, tf.float32), tf.cast(fake_logits < 0, tf.float32)], 0)
  return tf.reduce_mean(correct)
