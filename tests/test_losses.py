"""Each objective's value on known logits, and the discriminator penalties."""

import math

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import losses
from gan_tf.config import Config
from gan_tf.gan import GAN

LOG2 = math.log(2.0)


def values(x):
  return np.asarray(x, np.float64).tolist()


@pytest.mark.parametrize(
  "loss,real,fake,d_expected,g_expected",
  [
    # At logits 0, D(x) = 1/2 everywhere.
    ("nonsaturating", [0.0], [0.0], [2 * LOG2], [LOG2]),
    ("minimax", [0.0], [0.0], [2 * LOG2], [-LOG2]),
    # A confident, right discriminator: -log(1 - sigmoid(-20)) ~ 0 for the minimax generator, ~20 for the other.
    ("nonsaturating", [20.0], [-20.0], [0.0], [20.0]),
    ("minimax", [20.0], [-20.0], [0.0], [0.0]),
    ("least_squares", [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.5, 0.0]),
    ("hinge", [2.0, 0.0, 0.5], [-2.0, 0.0, 0.5], [0.0, 2.0, 2.0], [2.0, 0.0, -0.5]),
    ("wasserstein_gp", [3.0, -1.0], [1.0, 2.0], [-2.0, 3.0], [-1.0, -2.0]),
  ],
)
def test_objective_values(loss, real, fake, d_expected, g_expected):
  real, fake = tf.constant(real)[:, None], tf.constant(fake)[:, None]
  assert values(losses.discriminator_loss(real, fake, loss)) == pytest.approx(d_expected, abs=1e-6)
  assert values(losses.generator_loss(fake, loss)) == pytest.approx(g_expected, abs=1e-6)


def test_discriminator_accuracy_thresholds():
  real, fake = tf.constant([0.4, 0.6]), tf.constant([0.4, -0.1])
  assert values(losses.discriminator_accuracy(real, fake, "nonsaturating")) == [0.5, 1.0]
  assert values(losses.discriminator_accuracy(real, fake, "least_squares")) == [0.5, 1.0]
  # A critic: right where the real image outscores its fake partner.
  assert values(losses.discriminator_accuracy(real, fake, "wasserstein_gp")) == [0.0, 1.0]


def linear_critic(weights):
  return lambda x: tf.reduce_sum(x * weights, axis=[1, 2, 3])


def test_gradient_penalty_of_a_linear_critic():
  # The gradient is w everywhere, so the penalty is (||w|| - 1)^2 whatever the interpolation.
  real = tf.random.normal([4, 3, 3, 1])
  fake = tf.random.normal([4, 3, 3, 1])
  w = tf.fill([1, 3, 3, 1], 2.0 / 3.0)  # ||w|| = 2.
  penalty = losses.gradient_penalty(linear_critic(w), real, fake, tf.random.uniform([4]))
  assert values(penalty) == pytest.approx([1.0] * 4, rel=1e-5)


def test_gradient_penalty_interpolates_per_example():
  # D(x) = ||x||^2 / 2 has gradient x, so the penalty shows where x^ lies.
  real = tf.fill([3, 2, 2, 1], 1.0)  # ||real|| = 2 per example.
  fake = tf.zeros([3, 2, 2, 1])
  critic = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])
  penalty = losses.gradient_penalty(critic, real, fake, tf.constant([1.0, 0.5, 0.0]))
  # x^ = e * real: norms 2, 1, 0.
  assert values(penalty) == pytest.approx([1.0, 0.0, 1.0], abs=1e-5)


def test_gradient_penalty_has_no_nan_at_zero_gradient():
  w = tf.Variable(tf.zeros([1, 2, 2, 1]))
  real, fake = tf.random.normal([2, 2, 2, 1]), tf.random.normal([2, 2, 2, 1])
  with tf.GradientTape() as tape:
    penalty = tf.reduce_mean(losses.gradient_penalty(linear_critic(w), real, fake, tf.constant([0.3, 0.7])))
  grad = tape.gradient(penalty, w)
  assert float(penalty) == pytest.approx(1.0, abs=1e-5)
  assert np.all(np.isfinite(grad.numpy()))


def test_r1_penalty_is_the_squared_gradient_norm():
  w = tf.fill([1, 2, 2, 1], 1.5)
  assert values(losses.r1_penalty(linear_critic(w), tf.random.normal([3, 2, 2, 1]))) == pytest.approx([9.0] * 3)


@pytest.mark.parametrize(
  "loss,extra",
  [
    ("nonsaturating", {}),
    ("minimax", {}),
    ("least_squares", {}),
    ("hinge", {"r1_gamma": 1.0}),
    ("wasserstein_gp", {"d_steps": 3}),
  ],
)
def test_every_objective_trains(loss, extra):
  config = Config(arch="mlp", latent_dim=8, grid=2, loss=loss, **extra).resolved()
  assert config.gp_weight == (10.0 if loss == "wasserstein_gp" else 0.0)
  tf.keras.utils.set_random_seed(0)
  gan = GAN(config, (28, 28, 1))
  before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
  images = tf.random.uniform([16, 28, 28, 1], -1, 1)
  for _ in range(2):
    out = gan.train_step(images)
  assert all(np.isfinite(float(v)) for v in out.values())
  assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, gan.discriminator.trainable_weights))
  # --d_steps: that many discriminator updates per generator update.
  assert int(gan.d_optimizer.iterations) == 2 * config.d_steps and int(gan.g_optimizer.iterations) == 2


def test_spectral_norm_keeps_the_discriminator_1_lipschitz_per_layer():
  config = Config(arch="dcgan", latent_dim=16, grid=2, spectral_norm=True, loss="hinge").resolved()
  tf.keras.utils.set_random_seed(0)
  gan = GAN(config, (28, 28, 1))
  images = tf.random.uniform([8, 28, 28, 1], -1, 1)
  for _ in range(30):  # The power iteration converges over calls.
    gan.discriminator(images, training=True)
  wrapped = [layer for layer in gan.discriminator.layers if isinstance(layer, tf.keras.layers.SpectralNormalization)]
  assert len(wrapped) == 3  # Both convolutions and the logit.
  for layer in wrapped:
    kernel = layer.kernel.numpy().reshape(-1, layer.kernel.shape[-1])
    assert np.linalg.svd(kernel, compute_uv=False)[0] == pytest.approx(1.0, abs=0.05)
  out = gan.train_step(images)
  assert np.isfinite(float(out["d_loss"]))
