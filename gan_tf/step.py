"""The training step as named updates, each on one replica's part of the batch.

- `discriminator_update`: the discriminator alone, on fresh noise and the
  same real images (the extra updates of `d_steps`, as keras-io's WGAN-GP
  example does, and every discriminator update when updates alternate);
- `generator_update`: the generator alone, against the discriminator as its
  own updates left it (alternating updates, and the extra updates of
  `g_steps`);
- `joint_update`: both networks from one pass, as the TensorFlow DCGAN
  tutorial's step does (simultaneous updates).

`Step` composes them: `d_steps` discriminator updates (one fewer when the
joint update trains the discriminator too), then the generator's or the
joint update, then `g_steps` - 1 more generator updates. Each update is its
own `strategy.run`, so all replicas issue their collectives in the same
order.
"""

import dataclasses

import tensorflow as tf

from gan_tf import augment, draws, losses
from gan_tf import layers as layers_lib


@dataclasses.dataclass(frozen=True)
class StepSettings:
  """The settings the step reads, and nothing else of a run's config."""

  loss: str
  seed: int
  latent_dim: int
  d_steps: int
  g_steps: int
  updates: str
  augment: str
  gp_weight: float
  r1_gamma: float
  top_k: float
  top_k_decay: float
  info_code: int

  @classmethod
  def of(cls, config):
    return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})


class _Part:
  """This replica's part of the global batch, and the step's random draws for it.

  Draws are made for the global batch, keyed by (seed, step, update), and
  sliced: the same on any number of replicas, and after a resume.
  """

  def __init__(self, settings, step, images, labels, update=0):
    self.ctx = tf.distribute.get_replica_context()
    self.local = tf.shape(images)[0]
    self.global_batch = self.local * self.ctx.num_replicas_in_sync
    self.images = images
    self.labels = tf.zeros([self.local], tf.int32) if labels is None else labels  # Unused when unconditional.
    seed = tf.stack([tf.cast(settings.seed, tf.int64), step])
    self.seed = draws.fold_in(seed, update) if update else seed
    self.settings = settings

  def draw(self, make, seed):
    return make(self.global_batch, seed)[self.ctx.replica_id_in_sync_group * self.local :][: self.local]

  def noise(self):
    return self.draw(lambda n, s: draws.normal([n, self.settings.latent_dim], s), self.seed)

  def augmented(self, images, which):
    """`images` transformed (real: which=1, fake: 2): every image the
    discriminator sees, so its penalties and the generator's loss see them
    transformed too (as DiffAugment does)."""
    if not self.settings.augment:
      return images
    params = self.draw(lambda n, s: draws.uniform([n, augment.NUM_PARAMS], s), draws.fold_in(self.seed, which << 21))
    return augment.apply(images, self.settings.augment, params)

  def mean(self, per_example):
    """Over the global batch, so the replicas' gradients add up to the true one."""
    return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)


# Draw keys of the extra generator updates, apart from the discriminator's (1 to d_steps).
_EXTRA_GENERATOR_UPDATES = 1 << 16


class Step:
  """One training step on a (distributed) global batch: the named updates, composed.

  `gan` owns the networks (`generate`, `discriminate`, `discriminate_pair`),
  the optimisers, and the step and epoch counters the draws and top-k read.
  """

  def __init__(self, gan, settings: StepSettings, jit_compile=False):
    self.gan = gan
    self.settings = settings
    compiled = lambda update: tf.function(update, jit_compile=jit_compile)  # noqa: E731
    self._updates = {
      "discriminator": compiled(self.discriminator_update),
      "generator": compiled(self.generator_update),
      "joint": compiled(self.joint_update),
    }

  def __call__(self, images, labels=None) -> dict:
    """Per-replica values of the losses the updates computed."""
    run = lambda name, *args: self.gan.strategy.run(self._updates[name], args=(images, labels, *args))  # noqa: E731
    alternating = self.settings.updates == "alternating"
    values = {}
    for k in range(1, self.settings.d_steps + int(alternating)):
      values = run("discriminator", k)
    values = {**values, **(run("generator", 0) if alternating else run("joint"))}
    for k in range(1, self.settings.g_steps):
      values = {**values, **run("generator", k)}
    return values

  def _part(self, images, labels, update=0):
    return _Part(self.settings, self.gan.step, images, labels, update)

  def discriminator_update(self, images, labels, k):
    """The k-th (k >= 1) discriminator-only update of the step."""
    part = self._part(images, labels, k)
    real = part.augmented(part.images, 1)
    with tf.GradientTape() as tape:
      fake = part.augmented(self.gan.generate(part.noise(), part.labels), 2)
      real_logits, fake_logits = self.gan.discriminate_pair(real, fake, part.labels)
      d_loss = self._discriminator_loss(part, real, fake, real_logits, fake_logits)
    self._apply(self.gan.d_optimizer, tape, d_loss, self.gan.discriminator.trainable_variables)
    return self._discriminator_values(part, d_loss, real_logits, fake_logits)

  def generator_update(self, images, labels, k=0):
    """The generator alone, against the discriminator as it is; k >= 1: the
    step's k-th extra update (`g_steps`), on noise of its own."""
    part = self._part(images, labels, _EXTRA_GENERATOR_UPDATES + k if k else 0)
    with tf.GradientTape() as tape:
      noise = part.noise()
      drawn = self.gan.generate(noise, part.labels)
      fake = part.augmented(drawn, 2)
      g_loss = self._generator_loss(part, self.gan.discriminate(fake, part.labels)) + self._code_loss(part, noise, drawn)
    self._apply(self.gan.g_optimizer, tape, g_loss, self.gan.generator_variables)
    return {"g_loss": g_loss}

  def joint_update(self, images, labels):
    """Both networks from one generator pass, each tape recording it (the tutorial's step)."""
    part = self._part(images, labels)
    real = part.augmented(part.images, 1)
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
      noise = part.noise()
      drawn = self.gan.generate(noise, part.labels)
      fake = part.augmented(drawn, 2)
      real_logits, fake_logits = self.gan.discriminate_pair(real, fake, part.labels)
      d_loss = self._discriminator_loss(part, real, fake, real_logits, fake_logits)
      g_loss = self._generator_loss(part, fake_logits) + self._code_loss(part, noise, drawn)
    self._apply(self.gan.g_optimizer, g_tape, g_loss, self.gan.generator_variables)
    self._apply(self.gan.d_optimizer, d_tape, d_loss, self.gan.discriminator.trainable_variables)
    return {"g_loss": g_loss, **self._discriminator_values(part, d_loss, real_logits, fake_logits)}

  def _discriminator_loss(self, part, real, fake, real_logits, fake_logits):
    s = self.settings
    per_example = losses.discriminator_loss(real_logits, fake_logits, s.loss)
    critic = lambda x: self.gan.discriminate(x, part.labels)  # noqa: E731
    if s.gp_weight:
      epsilon = part.draw(lambda n, seed: draws.uniform([n], seed), draws.fold_in(part.seed, 1 << 20))
      per_example += s.gp_weight * losses.gradient_penalty(critic, real, fake, epsilon)
    if s.r1_gamma:
      per_example += 0.5 * s.r1_gamma * losses.r1_penalty(critic, real)
    return part.mean(per_example)

  def _discriminator_values(self, part, d_loss, real_logits, fake_logits):
    return {"d_loss": d_loss, "d_acc": part.mean(losses.discriminator_accuracy(real_logits, fake_logits, self.settings.loss))}

  def _generator_loss(self, part, fake_logits):
    per_example = losses.generator_loss(fake_logits, self.settings.loss)
    if self.settings.top_k < 1:
      return self._top_k_loss(part, per_example, fake_logits)
    return part.mean(per_example)

  def _code_loss(self, part, noise, drawn):
    """InfoGAN's term (λ = 1, as for its categorical codes): the Q network's
    cross-entropy on the class each draw's code holds, which the generator and
    the Q network both lower (a bound on the code's mutual information with the image)."""
    if not self.settings.info_code:
      return 0.0
    classes = layers_lib.code_classes(noise, self.settings.info_code)
    return part.mean(tf.nn.sparse_softmax_cross_entropy_with_logits(classes, self.gan.code_logits(drawn)))

  def _top_k_loss(self, part, per_example, fake_logits):
    """The mean over the k fakes of this replica's part that the
    discriminator rates most real; k/local shrinks from 1 by top_k_decay an
    epoch to top_k."""
    s = self.settings
    share = tf.maximum(s.top_k, s.top_k_decay ** tf.cast(self.gan.epoch, tf.float32))
    k = tf.maximum(1, tf.cast(tf.math.ceil(share * tf.cast(part.local, tf.float32)), tf.int32))
    _, best = tf.math.top_k(tf.reshape(tf.cast(fake_logits, tf.float32), [-1]), k)
    return tf.reduce_sum(tf.gather(per_example, best)) / tf.cast(k * part.ctx.num_replicas_in_sync, tf.float32)

  @staticmethod
  def _apply(optimizer, tape, loss, variables):
    with tape:  # Recorded too: loss scaling (float16) scales the loss, and unscales the gradients.
      scaled = optimizer.scale_loss(loss)
    optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
