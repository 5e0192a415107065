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
  """Floats in the open interval (0, 1), symmetric about 1/2."""
  return open_unit(tf.random.stateless_uniform(shape, seed, minval=None, maxval=None, dtype=tf.uint32, alg=ALG))


def open_unit(bits):
  """uint32 bits -> (k + 1/2) / 2^23 for their top 23 bits k: exact in
  float32, so never 0 or 1 (with 24 bits the largest value rounds to 1.0,
  and its normal is infinite)."""
  return (tf.cast(tf.bitwise.right_shift(bits, 9), tf.float32) + 0.5) * 2.0**-23


def normal(shape, seed):
  """Standard normal floats, by the inverse CDF of `uniform` (|x| <= 5.3)."""
  return tf.math.ndtri(uniform(shape, seed))
