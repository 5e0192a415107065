import numpy as np
import pytest
import tensorflow as tf

from gan_tf import augment, draws
from gan_tf.config import Config
from gan_tf.errors import UserError
from gan_tf.gan import GAN


def _dot(batch=1, at=(14, 14)):
  images = np.full((batch, 28, 28, 1), -1.0, np.float32)
  images[:, at[0], at[1]] = 1.0
  return tf.constant(images)


def _params(*rows):
  return tf.constant([list(r) + [0.5] * (augment.NUM_PARAMS - len(r)) for r in rows], tf.float32)


def test_policy_names_are_checked():
  assert augment.parse("") == () and augment.parse("none") == ()
  assert augment.parse("translation, cutout") == ("translation", "cutout")
  with pytest.raises(ValueError, match="flip"):
    augment.parse("translation,flip")
  with pytest.raises(UserError, match="augment must be empty or comma-separated"):
    Config(augment="flip").resolved()


def test_translation_moves_each_image_by_up_to_an_eighth_of_its_side():
  # u = 0.5: no shift; the extremes shift by 4 pixels (28 / 8) either way.
  moved = augment.apply(_dot(3), "translation", _params([0.5, 0.5], [0.0, 0.999], [0.999, 0.5])).numpy()
  assert [tuple(np.argwhere(m[..., 0] == 1.0)[0]) for m in moved] == [(14, 14), (18, 10), (10, 14)]
  # What comes in from outside the image is zero, the middle of [-1, 1].
  assert np.all(moved[1, :4] == 0.0) and np.all(moved[1, :, -4:] == 0.0)
  assert np.all(moved[1, 4:, :-4] != 0.0)


def test_cutout_zeroes_a_square_of_half_the_side():
  images = tf.ones([2, 28, 28, 1])
  cut = augment.apply(images, "cutout", _params([0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.0, 0.0])).numpy()[..., 0]
  rows, cols = np.nonzero(cut[0] == 0)
  assert len(rows) == 14 * 14 and (rows.min(), rows.max(), cols.min(), cols.max()) == (7, 20, 7, 20)
  # Centred at the corner, only its inner quarter falls inside the image.
  assert np.count_nonzero(cut[1] == 0) == 7 * 7 and np.all(cut[1, :7, :7] == 0)


def test_color_at_the_middle_of_its_ranges_is_the_identity():
  images = tf.random.uniform([2, 28, 28, 3], -1, 1, seed=1)
  same = augment.apply(images, "color", _params([0.5] * 7, [0.5] * 7))
  np.testing.assert_allclose(same.numpy(), images.numpy(), atol=1e-6)
  brighter = augment.apply(images[:1], "color", _params([0.5] * 4 + [1.0, 0.5, 0.5])).numpy()
  np.testing.assert_allclose(brighter - images.numpy()[:1], 0.5, atol=1e-5)


def test_every_policy_keeps_shape_and_dtype_and_passes_gradients():
  images = tf.Variable(tf.random.uniform([4, 28, 28, 1], -1, 1))
  params = tf.random.stateless_uniform([4, augment.NUM_PARAMS], seed=[0, 1])
  with tf.GradientTape() as tape:
    out = augment.apply(images, "color,translation,cutout", params)
    loss = tf.reduce_sum(out**2)
  assert out.shape == images.shape
  grad = tape.gradient(loss, images).numpy()
  assert np.all(np.isfinite(grad)) and np.count_nonzero(grad) > 0.3 * grad.size
  assert augment.apply(tf.cast(images, tf.bfloat16), "translation,cutout,color", params).dtype == tf.bfloat16


def test_the_step_shows_the_discriminator_augmented_images():
  """--augment: the step's losses are BCE on real and generated images
  transformed with the draws keyed by (seed, step)."""
  gan = GAN(Config(arch="mlp", latent_dim=16, updates="simultaneous", augment="translation,cutout").resolved(), (28, 28, 1))
  images = tf.random.uniform([8, 28, 28, 1], -1, 1, seed=2)
  seed = tf.constant([0, 0], tf.int64)
  noise = draws.normal([8, 16], seed)
  real_params, fake_params = (draws.uniform([8, augment.NUM_PARAMS], draws.fold_in(seed, k << 21)) for k in (1, 2))
  fake = augment.apply(gan.generator(noise, training=True), "translation,cutout", fake_params)
  real = augment.apply(images, "translation,cutout", real_params)
  bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
  fake_logits, real_logits = gan.discriminator(fake, training=True), gan.discriminator(real, training=True)
  expected_d = float(bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits))
  plain_logits = gan.discriminator(images, training=True)
  plain_d = float(bce(tf.ones_like(plain_logits), plain_logits) + bce(tf.zeros_like(fake_logits), fake_logits))
  assert not np.isclose(expected_d, plain_d, rtol=1e-4)  # The transform changes what D sees.
  values = gan.train_step(images)
  assert float(values["d_loss"]) == pytest.approx(expected_d, rel=1e-4)
  assert float(values["g_loss"]) == pytest.approx(float(bce(tf.ones_like(fake_logits), fake_logits)), rel=1e-4)
