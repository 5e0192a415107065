import numpy as np
import pytest
import tensorflow as tf

from gan_tf import draws


def test_extreme_bits_give_finite_symmetric_normals():
  # With 24 bits the largest uniform rounded to 1.0 and its normal was
  # infinite: a run stopped on NaN losses at the step that drew it.
  bits = tf.constant([0, 1 << 8, 0xFFFFFFFF - (1 << 8), 0xFFFFFFFF], tf.uint32)
  u = draws.open_unit(bits).numpy()
  assert np.all((u > 0) & (u < 1))
  np.testing.assert_array_equal(u + u[::-1], np.ones(4, np.float32))
  z = tf.math.ndtri(u).numpy()
  assert np.all(np.isfinite(z)) and -5.3 < z[0] < -5.2
  np.testing.assert_allclose(z, -z[::-1], atol=1e-5)


def test_draws_are_standard_and_keyed_by_the_seed():
  z = draws.normal([200_000], [0, 7]).numpy()
  assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
  assert abs(np.mean(np.abs(z) > 1.96) - 0.05) < 0.003  # The tails too, not just the moments.
  np.testing.assert_array_equal(z, draws.normal([200_000], [0, 7]).numpy())
  assert not np.array_equal(z[:10], draws.normal([10], [0, 8]).numpy())
  u = draws.uniform([200_000], draws.fold_in([0, 7], 3)).numpy()
  assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005


@pytest.mark.parametrize("make", [draws.normal, draws.uniform])
def test_the_same_under_xla(make):
  seed = tf.constant([3, 12345], tf.int64)
  eager = make([1000, 100], seed)
  compiled = tf.function(lambda s: make([1000, 100], s), jit_compile=True)(seed)
  np.testing.assert_allclose(compiled.numpy(), eager.numpy(), atol=1e-4)  # ndtri's own rounding differs slightly.
