import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import losses, models
from gan_tf.errors import UserError

# The articles' layer tables (002) and the TensorFlow DCGAN tutorial.
PARAMS = {"mlp": (1_493_520, 665_089), "dcgan": (2_330_944, 212_865)}


@pytest.mark.parametrize("arch", sorted(PARAMS))
def test_parameter_counts_and_shapes(arch):
  generator, discriminator = models.build(arch, 100, (28, 28, 1))
  assert (generator.count_params(), discriminator.count_params()) == PARAMS[arch]
  images = generator(tf.random.normal([3, 100]), training=False)
  assert images.shape == (3, 28, 28, 1)
  assert float(tf.reduce_max(tf.abs(images))) <= 1.0  # tanh
  assert discriminator(images, training=False).shape == (3, 1)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_outputs_stay_float32_under_mixed_precision(policy):
  keras.mixed_precision.set_global_policy(policy)
  try:
    generator, discriminator = models.build("dcgan", 8, (28, 28, 1))
    images = generator(tf.random.normal([2, 8]))
    assert images.dtype == tf.float32 and discriminator(images).dtype == tf.float32
  finally:
    keras.mixed_precision.set_global_policy("float32")


def test_unknown_arch():
  with pytest.raises(UserError, match="unknown --arch='vae'"):
    models.build("vae", 100, (28, 28, 1))


def test_losses_on_known_logits():
  zero = tf.zeros([4, 1])
  assert losses.generator_loss(zero).shape == (4,)  # Per example.
  np.testing.assert_allclose(losses.generator_loss(zero), [np.log(2)] * 4, rtol=1e-6)
  np.testing.assert_allclose(losses.discriminator_loss(zero, zero), [2 * np.log(2)] * 4, rtol=1e-6)
  confident = tf.fill([4, 1], 20.0)
  # A discriminator sure that everything is real: tiny loss on real, ~20 on fake.
  np.testing.assert_allclose(losses.discriminator_loss(confident, confident), [20.0] * 4, rtol=1e-3)
  np.testing.assert_allclose(losses.generator_loss(confident), [0.0] * 4, atol=1e-6)
  np.testing.assert_allclose(losses.generator_loss(-confident), [20.0] * 4, rtol=1e-3)


def test_discriminator_accuracy():
  real = tf.constant([[1.0], [2.0], [-1.0], [3.0]])   # 3 of 4 called real
  fake = tf.constant([[-1.0], [-2.0], [1.0], [1.0]])  # 2 of 4 called fake
  np.testing.assert_allclose(losses.discriminator_accuracy(real, fake), [1.0, 1.0, 0.0, 0.5])
  assert float(tf.reduce_mean(losses.discriminator_accuracy(real, fake))) == pytest.approx(5 / 8)
