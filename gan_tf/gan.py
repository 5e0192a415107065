"""The GAN: both networks, the EMA, both optimisers, the counters and metrics, and the compiled step over them."""

import keras
import tensorflow as tf

from gan_tf import layers as layers_lib
from gan_tf import models, sampling
from gan_tf import step as step_lib
from gan_tf.errors import UserError

SUM = tf.distribute.ReduceOp.SUM
METRICS = ("d_loss", "g_loss", "d_acc")


class GAN:
  """Owns everything a training step touches, so it is checkpointed as one unit.

  Variables live under `strategy` (the default strategy: one device); a
  batch given to `train_step` is the global batch, split across replicas.
  Speed settings left "auto" act as float32, no XLA, unfused (the
  tutorial's step); `speed.resolve` picks the device's best.
  """

  def __init__(self, config, image_shape, strategy=None, num_classes=0):
    self.config = config
    self.latent_dim = config.latent_dim
    self.num_classes = num_classes if config.conditional else 0
    if config.conditional and num_classes < 2:
      raise UserError("@conditional needs a dataset with class labels (at least 2 classes)")
    self.image_shape = tuple(image_shape)
    self.strategy = strategy or tf.distribute.get_strategy()
    precision = config.precision if config.precision != "auto" else "float32"
    with self.strategy.scope(), layers_lib.dtype_policy(precision):
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
        d_dropout=config.d_dropout,
        d_width=config.d_width,
        g_width=config.g_width,
        g_upsample=config.g_upsample,
        g_image_width=config.g_image_width,
        self_attention=config.self_attention,
        info_code=config.info_code,
      )
      # InfoGAN's Q network, trained with the generator to tell the code back.
      self.code_network = models.code_network(self.image_shape, config.info_code) if config.info_code else None
      # The moving average of the generator's weights (its BatchNorm
      # statistics are not averaged: see `sampler`).
      self.ema_generator = self.build_generator()
      self.ema_generator.set_weights(self.generator.get_weights())
      self.g_optimizer = self._optimizer(config.g_lr, precision)
      self.d_optimizer = self._optimizer(config.d_lr, precision)
      # Optimiser slots exist before a restore, so a checkpoint fills them in
      # instead of relying on deferred restoration.
      self.g_optimizer.build(self.generator_variables)
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
    self._step = step_lib.Step(self, step_lib.StepSettings.of(config), jit_compile=config.jit_compile == "true")
    self._sampler = sampling.Sampler(self)
    self.train_step = tf.function(self._train_step)
    self.train_steps = tf.function(self._train_steps)

  def build_generator(self, stock_layers=False) -> keras.Model:
    """A new generator built as this run's is (the EMA's, the sampler's)."""
    c = self.config
    return models.build_generator(
      c.arch,
      c.latent_dim,
      self.image_shape,
      self.num_classes,
      stock_layers=stock_layers,
      width=c.g_width,
      upsample=c.g_upsample,
      image_width=c.g_image_width,
      attention=c.self_attention,
      code=c.info_code,
    )

  @property
  def generator_variables(self) -> list:
    """What the generator's optimiser trains: the generator's weights, and the Q network's with an InfoGAN code."""
    return self.generator.trainable_variables + (self.code_network.trainable_variables if self.code_network else [])

  def _optimizer(self, lr, precision):
    opt = keras.optimizers.Adam(lr, beta_1=self.config.beta_1, beta_2=self.config.beta_2)
    # float16 needs loss scaling, on each optimiser: its loss is scaled up and
    # its gradients are unscaled before they are applied.
    return keras.optimizers.LossScaleOptimizer(opt) if precision == "mixed_float16" else opt

  def checkpoint(self) -> tf.train.Checkpoint:
    inner = lambda opt: getattr(opt, "inner_optimizer", opt)  # noqa: E731
    coded = {"code_network": self.code_network} if self.code_network else {}
    return tf.train.Checkpoint(
      **coded,
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
    """One step on a (distributed) global batch (and its labels, for a
    conditional GAN): the updates, then the bookkeeping."""
    per_replica = self._step(images, labels)
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

  def generate(self, noise, labels, training=True):
    """The generator's images, float32 whatever the policy (as the built-in networks' last layers are)."""
    return tf.cast(self.generator([noise, labels] if self.num_classes else noise, training=training), tf.float32)

  def discriminate(self, images, labels):
    """One float32 logit per image: [N, 1], as every objective takes it."""
    logits = self.discriminator([images, labels] if self.num_classes else images, training=True)
    return tf.reshape(tf.cast(logits, tf.float32), [-1, 1])

  def code_logits(self, images):
    """The Q network's float32 logits of the code's classes, one row per image."""
    return tf.cast(self.code_network(images, training=True), tf.float32)

  def discriminate_pair(self, real, fake, labels):
    """The logits of real and fake images: one call on both where that computes the same (`fused`)."""
    if not self.fused:
      return self.discriminate(real, labels), self.discriminate(fake, labels)
    return tf.split(self.discriminate(tf.concat([real, fake], 0), tf.concat([labels, labels], 0)), 2)

  def metric_results(self) -> dict:
    """The epoch's running means as Python floats (this waits for the device)."""
    return {name: float(m.result()) for name, m in self.metrics.items()}

  def reset_metrics(self) -> None:
    for m in self.metrics.values():
      m.reset_state()

  def sampler(self, sample_from=None, bn_stats=None) -> keras.Model:
    """The float32, single-device generator to draw from, export and evaluate (see `sampling.Sampler`)."""
    return self._sampler.model(sample_from, bn_stats)

  def samples(self, noise=None, labels=None):
    """Samples for `noise` and, if conditional, `labels` (default: the fixed
    sample noise and its labels), float32 in [-1, 1]."""
    if noise is None:
      noise, labels = self.sample_noise, self.sample_labels
    return self._sampler.draw(noise, labels)
