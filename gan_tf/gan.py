"""The GAN: both networks, both optimisers, and the compiled training step."""

import contextlib

import keras
import tensorflow as tf

from gan_tf import augment, draws, losses, models
from gan_tf.errors import UserError

SUM = tf.distribute.ReduceOp.SUM
METRICS = ("d_loss", "g_loss", "d_acc")
# Draws through the sampled weights that make its standing BatchNorm statistics.
STANDING_DRAWS = 512


@contextlib.contextmanager
def _dtype_policy(name):
  """Keras reads the policy when a layer is made; set it only for our models."""
  previous = keras.mixed_precision.global_policy()
  keras.mixed_precision.set_global_policy(name)
  try:
    yield
  finally:
    keras.mixed_precision.set_global_policy(previous)


class GAN:
  """Owns everything a training step touches, so it is checkpointed as one unit.

  Variables live under `strategy` (the default strategy: one device); a
  batch given to `train_step` is the global batch, split across replicas.
  Speed settings left "auto" act as float32, no XLA, unfused (the
  tutorial's step); `distribute.resolve_speed` picks the device's best.
  """

  def __init__(self, config, image_shape, strategy=None, num_classes=0):
    self.config = config
    self.latent_dim = config.latent_dim
    self.num_classes = num_classes if config.conditional else 0
    if config.conditional and num_classes < 2:
      raise UserError("@conditional needs a dataset with class labels (at least 2 classes)")
    self.strategy = strategy or tf.distribute.get_strategy()
    precision = config.precision if config.precision != "auto" else "float32"
    with self.strategy.scope(), _dtype_policy(precision):
      self.generator, self.discriminator = models.build(
        config.arch,
        config.latent_dim,
        image_shape,
        self.num_classes,
        # Replicas see part of the batch; synchronised BatchNorm keeps the
        # statistics those of the global batch, as on one device.
        sync_batchnorm=self.strategy.num_replicas_in_sync > 1,
        spectral_norm=config.spectral_norm,
        pack=config.pack,
        pack_layout=config.pack_layout,
      )
      # The moving average of the generator's weights (its BatchNorm
      # statistics are not averaged: see `sampler`).
      self.ema_generator = models.build_generator(config.arch, config.latent_dim, image_shape, self.num_classes)
      self.ema_generator.set_weights(self.generator.get_weights())
      self.g_optimizer = self._optimizer(config.g_lr, precision)
      self.d_optimizer = self._optimizer(config.d_lr, precision)
      # Optimiser slots exist before a restore, so a checkpoint fills them in
      # instead of relying on deferred restoration.
      self.g_optimizer.build(self.generator.trainable_variables)
      self.d_optimizer.build(self.discriminator.trainable_variables)
      # Fixed noise for the sample grids, so every epoch's grid shows the same
      # draws. A conditional grid has one row per class, the same noise in
      # every row, so a column shows one style across the classes.
      columns, rows = config.grid, self.num_classes or config.grid
      noise = tf.random.stateless_normal(
        [columns if self.num_classes else rows * columns, config.latent_dim], seed=[config.seed, 1]
      )
      self.sample_noise = tf.Variable(
        tf.tile(noise, [rows, 1]) if self.num_classes else noise, trainable=False, name="sample_noise"
      )
      self.sample_labels = tf.repeat(tf.range(rows, dtype=tf.int32), columns) if self.num_classes else None
      self.grid_rows = rows
      self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
      # Steps done in the unfinished epoch, so a run stopped mid-epoch resumes at the next batch.
      self.epoch_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch_step")
      # The first step whose losses were not finite (-1: none); not checkpointed.
      self.nonfinite_step = tf.Variable(-1, dtype=tf.int64, trainable=False, name="nonfinite_step")
      # Running means of the epoch, updated on the device so the step never waits for the host.
      self.metrics = {name: keras.metrics.Mean(name=name) for name in METRICS}
    # One real+fake call of the discriminator computes the same as two calls
    # unless it has batch statistics (BatchNorm would mix real and fake) or
    # state advanced per call (spectral normalisation's power iteration).
    self.fused = config.fused_discriminator == "true" and not config.spectral_norm and not models.batch_norms(self.discriminator)
    self.image_shape = tuple(image_shape)
    self._sampler = None
    self._sampler_key = None  # (step, sample_from, bn_stats) the sampler was last prepared for.
    self._replica_fn = tf.function(self._replica_step, jit_compile=config.jit_compile == "true")
    self.train_step = tf.function(self._train_step)
    self.train_steps = tf.function(self._train_steps)

  def _optimizer(self, lr, precision):
    opt = keras.optimizers.Adam(lr, beta_1=self.config.beta_1, beta_2=self.config.beta_2)
    # float16 needs loss scaling, on each optimiser: its loss is scaled up and
    # its gradients are unscaled before they are applied.
    return keras.optimizers.LossScaleOptimizer(opt) if precision == "mixed_float16" else opt

  def checkpoint(self) -> tf.train.Checkpoint:
    inner = lambda opt: getattr(opt, "inner_optimizer", opt)  # noqa: E731
    return tf.train.Checkpoint(
      generator=self.generator,
      discriminator=self.discriminator,
      ema_generator=self.ema_generator,
      # The optimisers' own state, the same under any precision, so a run
      # can change --precision when it resumes (a float16 loss scale starts over).
      g_optimizer=inner(self.g_optimizer),
      d_optimizer=inner(self.d_optimizer),
      epoch=self.epoch,
      step=self.step,
      epoch_step=self.epoch_step,
      sample_noise=self.sample_noise,
      # Keras tracks neither the dropout seed generators' state nor the
      # metrics' totals for tf.train.Checkpoint; a resumed run needs both to
      # continue exactly where it stopped.
      seed_states=[v.value for v in self.discriminator.variables + self.generator.variables if "seed_generator_state" in v.path],
      metric_states=[v.value for m in self.metrics.values() for v in m.variables],
    )

  def _train_step(self, images, labels=None):
    """One step on a (distributed) global batch (and its labels, for a conditional GAN)."""
    alternating = self.config.updates == "alternating"
    d_values = {}
    # Discriminator-only updates: the extra ones of --d_steps, and with
    # alternating updates all of them; then the step that trains the
    # generator (and, simultaneous, the discriminator with it).
    for k in range(1, self.config.d_steps + int(alternating)):
      d_values = self.strategy.run(self._replica_fn, args=(images, labels, k))
    per_replica = {**d_values, **self.strategy.run(self._replica_fn, args=(images, labels, 0, not alternating))}
    values = {k: self.strategy.reduce(SUM, per_replica[k], axis=None) for k in METRICS}
    self._update_ema()
    self.step.assign_add(1)
    self.epoch_step.assign_add(1)
    finite = tf.math.is_finite(values["d_loss"]) & tf.math.is_finite(values["g_loss"])
    self.nonfinite_step.assign(tf.where(finite | (self.nonfinite_step >= 0), self.nonfinite_step, self.step))
    for name, value in values.items():
      self.metrics[name].update_state(value)
    return values

  def _update_ema(self):
    # Ramped up from 0, as tf.train.ExponentialMovingAverage does with
    # num_updates, so the early random weights fade quickly.
    step = tf.cast(self.step, tf.float32)
    decay = tf.minimum(self.config.ema_decay, (1.0 + step) / (10.0 + step))
    pairs = zip(self.ema_generator.trainable_variables, self.generator.trainable_variables, strict=True)
    for average, weight in pairs:
      average.assign(decay * average + (1.0 - decay) * tf.cast(weight, average.dtype))

  def _train_steps(self, iterator, n):
    """`n` steps in one call, batches from `iterator`: fewer trips through Python."""
    values = {name: tf.constant(0.0) for name in METRICS}
    for _ in tf.range(n):
      images, labels = next(iterator)
      values = self._train_step(images, labels)
    return values

  def _g(self, noise, labels, training):
    # float32 whatever the policy, as the built-in networks' last layers are.
    return tf.cast(self.generator([noise, labels] if self.num_classes else noise, training=training), tf.float32)

  def _d(self, images, labels):
    # One float32 logit per image: [N, 1], as every objective takes it.
    logits = self.discriminator([images, labels] if self.num_classes else images, training=True)
    return tf.reshape(tf.cast(logits, tf.float32), [-1, 1])

  def _replica_step(self, images, labels=None, d_only=0, train_d=True):
    """Both networks' update on this replica's part of the batch, from one
    pass (simultaneous, the tutorial's step); with `d_only` = k > 0, instead
    the k-th discriminator-only update, on fresh noise and the same real
    images (as keras-io's WGAN-GP example does); with `train_d` False, the
    generator's alone, against the discriminator as its own updates left it
    (alternating). Each is its own `strategy.run`, so all replicas issue
    their collectives in the same order. Returns the losses it computed."""
    ctx = tf.distribute.get_replica_context()
    local = tf.shape(images)[0]
    if labels is None:
      labels = tf.zeros([local], tf.int32)  # Unused by an unconditional GAN.
    global_batch = local * ctx.num_replicas_in_sync
    config = self.config
    seed = tf.stack([tf.cast(config.seed, tf.int64), self.step])
    if d_only:
      seed = draws.fold_in(seed, d_only)

    def draw(make, seed):
      # The global batch's draws, keyed by (seed, step), and this replica's
      # slice of them: the same on any number of replicas, and after a resume.
      return make(global_batch, seed)[ctx.replica_id_in_sync_group * local :][:local]

    def mean(per_example):  # Over the global batch, so replica gradients add up to the true one.
      return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

    noise = draw(lambda n, s: draws.normal([n, self.latent_dim], s), seed)
    if config.augment:
      # Every image the discriminator sees is transformed, so its penalties
      # and the generator's loss see them transformed too (as DiffAugment does).
      real_params, fake_params = (
        draw(lambda n, s: draws.uniform([n, augment.NUM_PARAMS], s), draws.fold_in(seed, k << 21)) for k in (1, 2)
      )
      if train_d:
        images = augment.apply(images, config.augment, real_params)
    d_vars = self.discriminator.trainable_variables
    # Both tapes record one generator pass, as the tutorial does.
    train_g = not d_only
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
      fake = self._g(noise, labels, training=True)
      if config.augment:
        fake = augment.apply(fake, config.augment, fake_params)
      if not train_d:
        fake_logits = self._d(fake, labels)
      elif self.fused:
        both = self._d(tf.concat([images, fake], 0), tf.concat([labels, labels], 0))
        real_logits, fake_logits = tf.split(both, 2)
      else:
        real_logits, fake_logits = self._d(images, labels), self._d(fake, labels)
      if train_d:
        per_example = losses.discriminator_loss(real_logits, fake_logits, config.loss)
        critic = lambda x: self._d(x, labels)  # noqa: E731
        if config.gp_weight:
          epsilon = draw(lambda n, s: draws.uniform([n], s), draws.fold_in(seed, 1 << 20))
          per_example += config.gp_weight * losses.gradient_penalty(critic, images, fake, epsilon)
        if config.r1_gamma:
          per_example += 0.5 * config.r1_gamma * losses.r1_penalty(critic, images)
        d_loss = mean(per_example)
        d_scaled = self.d_optimizer.scale_loss(d_loss)
      if train_g:
        g_per_example = losses.generator_loss(fake_logits, config.loss)
        if config.top_k < 1:
          g_loss = self._top_k_loss(g_per_example, fake_logits, local, ctx.num_replicas_in_sync)
        else:
          g_loss = mean(g_per_example)
        g_scaled = self.g_optimizer.scale_loss(g_loss)
    values = {}
    if train_g:
      g_vars = self.generator.trainable_variables
      self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_scaled, g_vars), g_vars))
      values["g_loss"] = g_loss
    if train_d:
      self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_scaled, d_vars), d_vars))
      values["d_loss"] = d_loss
      values["d_acc"] = mean(losses.discriminator_accuracy(real_logits, fake_logits, config.loss))
    return values

  def _top_k_loss(self, per_example, fake_logits, local, replicas):
    """The generator's loss over the k fakes of this replica's part that the
    discriminator rates most real; k/local shrinks from 1 by top_k_decay an epoch to top_k."""
    share = tf.maximum(self.config.top_k, self.config.top_k_decay ** tf.cast(self.epoch, tf.float32))
    k = tf.maximum(1, tf.cast(tf.math.ceil(share * tf.cast(local, tf.float32)), tf.int32))
    _, best = tf.math.top_k(tf.reshape(tf.cast(fake_logits, tf.float32), [-1]), k)
    return tf.reduce_sum(tf.gather(per_example, best)) / tf.cast(k * replicas, tf.float32)

  def metric_results(self) -> dict:
    """The epoch's running means as Python floats (this waits for the device)."""
    return {name: float(m.result()) for name, m in self.metrics.items()}

  def reset_metrics(self) -> None:
    for m in self.metrics.values():
      m.reset_state()

  def sampler(self, sample_from=None, bn_stats=None) -> keras.Model:
    """A float32, single-device generator to draw samples from, export and evaluate.

    Its weights are the EMA's or the raw generator's (`sample_from`, default
    the config's). With `bn_stats="standing"` its BatchNorm statistics are
    those of STANDING_DRAWS fresh draws through these very weights: the moving
    averages of training belong to the raw generator's past weights, which
    no longer match, least of all an average of weights. (Sampling with the
    batch's own statistics does as well, but makes an image depend on the
    rest of its batch.)

    Prepared once per training step and setting: the sample grid, the
    evaluation and the export of one epoch share it.
    """
    sample_from = sample_from or self.config.sample_from
    bn_stats = bn_stats or self.config.bn_stats
    key = (int(self.step.numpy()), sample_from, bn_stats)
    if key == self._sampler_key:
      return self._sampler
    if self._sampler is None:
      with _dtype_policy("float32"):
        # Keras's own layers (the same weights and inference arithmetic), so
        # the exported generator.keras loads without this package.
        self._sampler = models.build_generator(
          self.config.arch, self.latent_dim, self.image_shape, self.num_classes, stock_layers=True
        )
      # Compiled (once per setting): done eagerly, its many small ops cost
      # a small model more than an epoch's share of training.
      self._prepare_sampler = tf.function(self._fill_sampler)
    self._prepare_sampler(sample_from, bn_stats)
    self._sampler_key = key
    return self._sampler

  def _fill_sampler(self, sample_from, bn_stats):
    source = self.ema_generator if sample_from == "ema" else self.generator
    for target, value in zip(self._sampler.weights, source.weights, strict=True):
      target.assign(tf.cast(value, target.dtype))
    norms = models.batch_norms(self._sampler)
    if bn_stats == "moving":
      raw_norms = models.batch_norms(self.generator)
      for norm, raw in zip(norms, raw_norms, strict=True):
        norm.moving_mean.assign(raw.moving_mean)
        norm.moving_variance.assign(raw.moving_variance)
    elif norms:
      noise = tf.random.stateless_normal([STANDING_DRAWS, self.latent_dim], seed=[self.config.seed, 2])
      momenta = [norm.momentum for norm in norms]
      for norm in norms:
        norm.momentum = 0.0  # The moving statistics become this batch's.
      labels = tf.range(STANDING_DRAWS, dtype=tf.int32) % max(self.num_classes, 1)
      self._sampler([noise, labels] if self.num_classes else noise, training=True)
      for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum

  def samples(self, noise=None, labels=None):
    """Samples for `noise` and, if conditional, `labels` (default: the fixed
    sample noise and its labels), float32 in [-1, 1]."""
    if noise is None:
      noise, labels = self.sample_noise, self.sample_labels
    sampler = self.sampler()
    return self._draw(sampler, [noise, labels] if self.num_classes else noise)

  @tf.function
  def _draw(self, sampler, inputs):
    return sampler(inputs, training=False)
