import numpy as np
import pytest
import tensorflow as tf

from gan_tf.config import Config
from gan_tf.gan import GAN


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_one_step_trains_both_networks(arch):
  gan = GAN(Config(arch=arch, latent_dim=16).resolved(), (28, 28, 1))
  before_g = [v.numpy().copy() for v in gan.generator.trainable_variables]
  before_d = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
  images = tf.random.uniform([8, 28, 28, 1], -1, 1)
  values = gan.train_step(images)
  assert all(np.isfinite(float(v)) for v in values.values())
  assert 0.0 <= float(values["d_acc"]) <= 1.0
  assert all(not np.array_equal(a, v.numpy()) for a, v in zip(before_g, gan.generator.trainable_variables))
  assert all(not np.array_equal(a, v.numpy()) for a, v in zip(before_d, gan.discriminator.trainable_variables))
  assert int(gan.step) == 1
  assert int(gan.g_optimizer.iterations) == int(gan.d_optimizer.iterations) == 1


def test_losses_match_the_tutorials_step():
  """The step's losses are the tutorial's BCE on the same draws."""
  gan = GAN(Config(arch="mlp", latent_dim=16).resolved(), (28, 28, 1))
  images = tf.random.uniform([8, 28, 28, 1], -1, 1)
  noise = tf.random.stateless_normal([8, 16], seed=[0, 0])  # What the first step draws with seed 0.
  bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
  fake_logits = gan.discriminator(gan.generator(noise, training=True), training=True)
  real_logits = gan.discriminator(images, training=True)
  expected_g = float(bce(tf.ones_like(fake_logits), fake_logits))
  expected_d = float(bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits))
  values = gan.train_step(images)
  assert float(values["g_loss"]) == pytest.approx(expected_g, rel=1e-4)
  assert float(values["d_loss"]) == pytest.approx(expected_d, rel=1e-4)


def test_sample_noise_is_fixed_by_seed():
  a = GAN(Config(arch="mlp", latent_dim=16, grid=3, seed=5).resolved(), (28, 28, 1))
  b = GAN(Config(arch="mlp", latent_dim=16, grid=3, seed=5).resolved(), (28, 28, 1))
  assert a.sample_noise.shape == (9, 16)
  np.testing.assert_array_equal(a.sample_noise.numpy(), b.sample_noise.numpy())
  samples = a.samples()
  assert samples.shape == (9, 28, 28, 1) and samples.dtype == tf.float32
