"""GAN objectives on discriminator outputs, per example.

Per-example values let the step average over the global batch, which is what
a loss means when the batch is split across replicas. Outputs are logits for
the cross-entropy objectives and unbounded scores for the others.

  nonsaturating   D: -log D(x) - log(1 - D(G(z)))    G: -log D(G(z))   (the tutorial's)
  minimax         D: as nonsaturating                G: log(1 - D(G(z)))   (Goodfellow et al.'s game)
  least_squares   D: ((D(x) - 1)^2 + D(G(z))^2) / 2  G: (D(G(z)) - 1)^2 / 2   (LSGAN, 0-1 coding)
  hinge           D: relu(1 - D(x)) + relu(1 + D(G(z)))   G: -D(G(z))
  wasserstein_gp  D: D(G(z)) - D(x) (+ the gradient penalty)   G: -D(G(z))
"""

import tensorflow as tf


def _flat(x):
  return tf.reshape(tf.cast(x, tf.float32), [-1])


def discriminator_loss(real, fake, loss="nonsaturating"):
  real, fake = _flat(real), _flat(fake)
  if loss in ("nonsaturating", "minimax"):
    # softplus(-x) = -log sigmoid(x); softplus(x) = -log(1 - sigmoid(x)).
    return tf.nn.softplus(-real) + tf.nn.softplus(fake)
  if loss == "least_squares":
    return 0.5 * (tf.square(real - 1.0) + tf.square(fake))
  if loss == "hinge":
    return tf.nn.relu(1.0 - real) + tf.nn.relu(1.0 + fake)
  if loss == "wasserstein_gp":
    return fake - real
  raise ValueError(f"unknown loss {loss!r}")


def generator_loss(fake, loss="nonsaturating"):
  fake = _flat(fake)
  if loss == "nonsaturating":
    return tf.nn.softplus(-fake)
  if loss == "minimax":
    return -tf.nn.softplus(fake)
  if loss == "least_squares":
    return 0.5 * tf.square(fake - 1.0)
  if loss in ("hinge", "wasserstein_gp"):
    return -fake
  raise ValueError(f"unknown loss {loss!r}")


def discriminator_accuracy(real, fake, loss="nonsaturating"):
  """The articles' d_acc: the share of real and fake images the discriminator
  calls right. Logits are right on the correct side of 0, least-squares
  outputs of 0.5; a Wasserstein critic has no threshold (only differences
  matter), so there it is the share of pairs where the real image scores higher."""
  real, fake = _flat(real), _flat(fake)
  if loss == "wasserstein_gp":
    return tf.cast(real > fake, tf.float32)
  threshold = 0.5 if loss == "least_squares" else 0.0
  return (tf.cast(real > threshold, tf.float32) + tf.cast(fake < threshold, tf.float32)) / 2


def _input_gradients(critic, images):
  with tf.GradientTape() as tape:
    tape.watch(images)
    # Examples are independent in the discriminator (no batch statistics), so
    # the gradient of the sum holds each example's own gradient.
    scores = tf.reduce_sum(tf.cast(critic(images), tf.float32))
  return tf.cast(tape.gradient(scores, images), tf.float32)


def gradient_penalty(critic, real, fake, epsilon):
  """WGAN-GP's (||grad D(x^)|| - 1)^2 per example, at x^ = e x + (1 - e) G(z)
  with e ~ U[0, 1] per example (`epsilon`, shape [N]). The norm has a small
  floor inside its square root: the derivative of sqrt at 0 is infinite, so a
  zero gradient would otherwise make the penalty's own gradient NaN."""
  fake = tf.stop_gradient(fake)  # The penalty trains the discriminator only.
  epsilon = tf.reshape(tf.cast(epsilon, real.dtype), [-1] + [1] * (len(real.shape) - 1))
  mixed = epsilon * real + (1.0 - epsilon) * fake
  grads = _input_gradients(critic, mixed)
  norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=list(range(1, len(grads.shape)))) + 1e-12)
  return tf.square(norms - 1.0)


def r1_penalty(critic, real):
  """||grad D(x)||^2 on real images per example (Mescheder et al., 2018); the
  step weights it by r1_gamma / 2."""
  grads = _input_gradients(critic, real)
  return tf.reduce_sum(tf.square(grads), axis=list(range(1, len(grads.shape))))
