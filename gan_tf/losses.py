"""GAN losses on discriminator logits, per example.

Per-example values let the step average over the global batch, which is what
a loss means when the batch is split across replicas.
"""

import tensorflow as tf


def _bce(logits, label):
  logits = tf.reshape(logits, [-1])
  return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), label), logits=logits)


def generator_loss(fake_logits):
  """Non-saturating: -log D(G(z)), the generator's loss of the tutorial and the articles."""
  return _bce(fake_logits, 1.0)


def discriminator_loss(real_logits, fake_logits):
  """Binary cross-entropy on real (label 1) plus fake (label 0), as in the tutorial."""
  return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


def discriminator_accuracy(real_logits, fake_logits):
  """The articles' d_acc: the share of the real and the fake image the discriminator calls right."""
  real_right = tf.cast(tf.reshape(real_logits, [-1]) > 0, tf.float32)
  fake_right = tf.cast(tf.reshape(fake_logits, [-1]) < 0, tf.float32)
  return (real_right + fake_right) / 2
