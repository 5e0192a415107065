"""Random draws of the training step that are the same with and without XLA.

`tf.random.stateless_normal` and `stateless_uniform` give other numbers under
`jit_compile=True` than TensorFlow's own kernels, even with the algorithm
named (measured on TF 2.21: normals up to 6.1 apart for one seed; TensorFlow
issue #121243). The raw bits and `stateless_fold_in` agree, so floats are
made here from the bits: a run's draws then depend on (seed, step) alone, not
on --jit_compile.
"""

import tensorflow as tf

ALG = "philox"


def fold_in(seed, data):
  """A new seed from `seed` and an integer, for independent draws in one step."""
  return tf.random.experimental.stateless_fold_in(seed, data, alg=ALG)


def uniform(shape, seed):
  """Floats in the open interval (0, 1), 24 random bits each."""
  bits = tf.random.stateless_uniform(shape, seed, minval=None, maxval=None, dtype=tf.uint32, alg=ALG)
  return (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) * 2.0**-24


def normal(shape, seed):
  """Standard normal floats, by the inverse CDF of `uniform` (|x| < 5.4)."""
  return tf.math.ndtri(uniform(shape, seed))
