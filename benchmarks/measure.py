"""Benchmark pieces: reference loops, timing, FLOP counts, the matmul rate.

bench.py runs each measurement in a process of its own (for its peak
memory) and prints the table; these functions do one measurement each. They
time gan-tf's own step, so they build it from its modules; they change none.
"""

import resource
import time

import keras
import numpy as np
import tensorflow as tf

from gan_tf import data, models, recipes, speed
from gan_tf.config import Config
from gan_tf.gan import GAN


def peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB.


def forward_flops(model) -> int:
  """FLOPs of one image through `model`'s Dense and convolution layers (2 per multiply-add)."""
  macs = 0
  for layer in model.layers:
    if isinstance(layer, keras.layers.Dense):
      macs += int(np.prod(layer.input.shape[1:])) * layer.units
    elif isinstance(layer, keras.layers.Conv2DTranspose):  # Each input pixel meets the whole kernel.
      _, h, w, c = layer.input.shape
      macs += h * w * c * int(np.prod(layer.kernel_size)) * layer.filters
    elif isinstance(layer, keras.layers.Conv2D):
      _, h, w, c = layer.output.shape
      macs += h * w * c * int(np.prod(layer.kernel_size)) * layer.input.shape[-1]
  return 2 * macs


def step_flops_per_image(arch, latent_dim=100) -> dict:
  """One training step per image: the generator forward and backward (weights
  and inputs, about 2x forward): 3 G; the discriminator forward on real and
  fake (2 D), its weight gradients on both (2 D), and its input gradient on
  fake for the generator's loss (1 D): 5 D."""
  g, d = models.build(arch, latent_dim, (28, 28, 1))
  gf, df = forward_flops(g), forward_flops(d)
  return {"g_forward": gf, "d_forward": df, "step": 3 * gf + 5 * df}


def matmul_flops_per_second(n=2048, repeats=20) -> float:
  a = tf.random.normal([n, n])
  b = tf.random.normal([n, n])
  mm = tf.function(lambda x, y: tf.matmul(x, y))
  mm(a, b).numpy()
  start = time.perf_counter()
  for _ in range(repeats):
    out = mm(a, b)
  out.numpy()
  return 2 * n**3 * repeats / (time.perf_counter() - start)


def _time(call, steps, warmup):
  for _ in range(warmup):
    out = call()
  _sync(out)
  start = time.perf_counter()
  for _ in range(steps):
    out = call()
  _sync(out)
  return (time.perf_counter() - start) / steps


def _sync(out):
  tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)


def constant_batch(batch_size):
  return tf.random.uniform([batch_size, 28, 28, 1], -1, 1, seed=1)


def constant_batches(batch_size):
  """An endless iterator of the same (images, labels) batch: the step's input at no cost."""
  return iter(tf.data.Dataset.from_tensors((constant_batch(batch_size), tf.zeros([batch_size], tf.int32))).repeat())


def reference_step_rate(arch, batch_size, steps, warmup=3):
  """Images/s of a step written as the TensorFlow DCGAN tutorial writes it:
  two tapes, the discriminator called separately on real and fake, float32,
  no XLA, one step per call, each batch fed from Python."""
  keras.utils.set_random_seed(0)
  generator, discriminator = models.build(arch, 100, (28, 28, 1), stock_layers=True)
  g_opt, d_opt = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)
  bce = keras.losses.BinaryCrossentropy(from_logits=True)

  @tf.function
  def train_step(images):
    noise = tf.random.normal([batch_size, 100])
    with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
      generated_images = generator(noise, training=True)
      real_output = discriminator(images, training=True)
      fake_output = discriminator(generated_images, training=True)
      gen_loss = bce(tf.ones_like(fake_output), fake_output)
      disc_loss = bce(tf.ones_like(real_output), real_output) + bce(tf.zeros_like(fake_output), fake_output)
    g_grads = gen_tape.gradient(gen_loss, generator.trainable_variables)
    d_grads = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
    g_opt.apply_gradients(zip(g_grads, generator.trainable_variables))
    d_opt.apply_gradients(zip(d_grads, discriminator.trainable_variables))
    return gen_loss, disc_loss

  images = constant_batch(batch_size)
  return batch_size / _time(lambda: train_step(images), steps, warmup)


class ArticlesGAN:
  """The Keras articles' MLP GAN (002) and their loop's iteration: a batch of
  real images, `generator.predict` on noise, `train_on_batch` of the
  discriminator on the real batch and then on the fakes, and of the stacked
  model for the generator, with Adam(2e-4, 0.5). The networks are gan-tf's
  `mlp` pair built with Keras's own layers (the articles' layer tables)."""

  def __init__(self, image_shape=(28, 28, 1), seed=0):
    keras.utils.set_random_seed(seed)
    self.generator, discriminator = models.build("mlp", 100, image_shape, stock_layers=True)
    self.discriminator = keras.Sequential([discriminator, keras.layers.Activation("sigmoid")])
    self.discriminator.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(2e-4, 0.5), metrics=["accuracy"])
    # Keras 2, which the articles used, fixed `trainable` when a model was
    # compiled; Keras 3 reads it when it trains, so it is set before each call
    # (with the articles' code as written, the discriminator never trains).
    self.discriminator.trainable = False
    z = keras.Input((100,))
    self.combined = keras.Model(z, self.discriminator(self.generator(z)))
    self.combined.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(2e-4, 0.5))

  def iteration(self, real, rng):
    """One iteration on the batch `real` ([-1, 1]); (d real [loss, acc], d fake [loss, acc], g loss)."""
    n = len(real)
    valid, fake = np.ones((n, 1)), np.zeros((n, 1))
    generated = self.generator.predict(rng.normal(0, 1, (n, 100)), verbose=0)
    self.discriminator.trainable = True
    d_real = self.discriminator.train_on_batch(real, valid)
    d_fake = self.discriminator.train_on_batch(generated, fake)
    self.discriminator.trainable = False
    return d_real, d_fake, self.combined.train_on_batch(rng.normal(0, 1, (n, 100)), valid)


def articles_mlp_iterations_per_second(iterations, warmup=5, batch_size=32):
  """Iterations/s of the articles' loop (`ArticlesGAN`) at batch 32, on one constant batch."""
  gan, images, rng = ArticlesGAN(), constant_batch(batch_size).numpy(), np.random.default_rng(0)
  return 1.0 / _time(lambda: gan.iteration(images, rng), iterations, warmup)


def reference_work(arch):
  """The settings of the reference's work: one update of each network per
  step from one pass, each image judged alone, the source's objective, and
  the source's discriminator: its dropout (the tutorial's 0.3 for the dcgan;
  the mlp has none) and its width, and the source's generator."""
  source = recipes.RECIPES[arch, "original"]
  same = {name: source[name] for name in ("loss", *recipes.NETWORK_SETTINGS) if name in source}
  return dict(d_steps=1, g_steps=1, pack=1, updates="simultaneous", **same)


def _resolved(arch, batch_size, options):
  """The config of the reference's work changed by `options`, speed settings resolved here, and why."""
  config = Config(arch=arch, batch_size=batch_size, **{**reference_work(arch), **options}).resolved()
  return speed.resolve(config, tf.distribute.get_strategy())


def project_step(arch, batch_size, **options):
  """The project's GAN with `options` (Config fields), speed settings resolved for this device.

  The reference's work (`reference_work`) unless `options` say otherwise.
  (The gan-tf recipe gives the unconditional dcgan three updates of each
  network, a pack of two and no dropout, and the mlp alternating updates,
  for sample quality; that changes the work of a step, not the speed.)
  """
  config, _ = _resolved(arch, batch_size, options)
  keras.utils.set_random_seed(0)
  return GAN(config, (28, 28, 1)), config


def precision_of(arch, batch_size, **options):
  """The precision `project_step` runs in with `options`, and why (how "auto" decided)."""
  config, reason = _resolved(arch, batch_size, options)
  return config.precision, reason


def project_rate(arch, batch_size, steps, warmup=3, **options):
  """Images/s (or iterations/s) of the project's step on a constant batch."""
  gan, config = project_step(arch, batch_size, **options)
  k = config.steps_per_execution
  iterator = constant_batches(batch_size)
  n = tf.constant(k)
  calls = max(1, steps // k)
  seconds_per_call = _time(lambda: gan.train_steps(iterator, n), calls, max(1, warmup // k + 1))
  return batch_size * k / seconds_per_call


def pipeline_ratio(arch, batch_size, steps, mnist_dir, rounds=15):
  """The real-data step rate over the constant-batch rate: one compiled step,
  fed `steps` steps at a time from each source in turn, `rounds` times; the
  median of the rounds' ratios. Interleaving in one process cancels what two
  separate measurements on a shared machine would not (their speeds drift
  by more than the few percent this measures)."""
  gan, config = project_step(arch, batch_size)
  k = config.steps_per_execution
  constant = constant_batches(batch_size)
  real = iter(data.Pipeline(data.load_idx(mnist_dir, "test"), batch_size, seed=0).batches())
  n, calls = tf.constant(k), max(1, steps // k)

  def seconds(iterator):
    return _time(lambda: gan.train_steps(iterator, n), calls, 1)

  ratios = [seconds(constant) / seconds(real) for _ in range(rounds)]
  return float(np.median(ratios))


def steps_per_call_ratio(arch, batch_size, steps, k=8, rounds=15):
  """The step rate with `k` steps per compiled call over that with one: the
  same compiled function (the number of steps is a tensor argument), fed
  the same constant batch, `steps` steps each way in turn, `rounds` times.
  Returns the median of the rounds' ratios, and their lowest and highest:
  the gain is a few percent, and separate processes drift by more."""
  gan, _ = project_step(arch, batch_size, steps_per_execution=k)
  iterator = constant_batches(batch_size)
  one, many = tf.constant(1), tf.constant(k)
  calls = max(1, steps // k)
  _time(lambda: gan.train_steps(iterator, many), 1, 2)
  ratios = []
  for _ in range(rounds):
    single = _time(lambda: gan.train_steps(iterator, one), calls * k, 1)
    grouped = _time(lambda: gan.train_steps(iterator, many), calls, 1) / k
    ratios.append(single / grouped)
  return float(np.median(ratios)), float(min(ratios)), float(max(ratios))


def losses_after(arch, steps, mnist_dir, batch_size=16, **options):
  """d_loss and g_loss after `steps` steps on real data, for the correctness check.

  At the sources' learning rates (--recipe=original): this checks the
  options' arithmetic, and the gan-tf recipe's larger steps amplify any
  rounding difference into diverging trajectories within 20 steps.
  """
  gan, _ = project_step(arch, batch_size, recipe="original", **options)
  pipeline = data.Pipeline(data.load_idx(mnist_dir, "test"), batch_size, seed=0)
  iterator = iter(pipeline.epoch(1))
  values = gan.train_steps(iterator, tf.constant(steps))
  return {k: float(values[k]) for k in ("d_loss", "g_loss")}


def epoch_overhead(arch, mnist_dir, tmp_dir, epochs, batch_size=256):
  """`epochs` whole epochs of `train()` on the 10,000 digits with the
  default settings (input, progress line, sample PNG, history, loss plot,
  TensorBoard, checkpoints) against the pure compute of as many steps on a constant batch.

  After each epoch a callback times the same number of steps of a second,
  already compiled GAN on a constant batch, so every epoch has its compute
  measured beside it: this machine drifts by more between minutes than the
  few percent measured. An epoch runs from its start to the next one's,
  less that measurement, so the checkpoints saved between epochs count.
  One more epoch runs first (it compiles). Sums, so that a rare cost (a
  loss-plot redraw, a checkpoint) weighs what it weighs in a run. Returns
  (epoch seconds, compute seconds, checkpoints saved in the window, and the
  seconds each callback and the checkpoint saves took in the window).
  """
  import gan_tf
  from gan_tf import callbacks

  digits = data.load_idx(mnist_dir, "test")
  config = Config(arch=arch, epochs=epochs + 2, batch_size=batch_size, progress=False)
  steps = len(digits) // batch_size
  resolved = config.resolved()
  gan, compute_config = project_step(arch, batch_size, **{name: getattr(resolved, name) for name in reference_work(arch)})
  k = compute_config.steps_per_execution
  iterator, n = constant_batches(batch_size), tf.constant(k)

  def compute_seconds(warmup=1):  # Of `steps` steps, however many a call runs.
    return _time(lambda: gan.train_steps(iterator, n), max(1, steps // k), warmup) / k * steps

  compute_seconds(warmup=3)  # Compiled before training starts.
  measured = {"epoch": 0.0, "compute": 0.0}
  stamps = {}

  class Interleave(callbacks.Callback):  # Runs after the default callbacks.
    def on_epoch_begin(self, epoch):
      now = time.perf_counter()
      if 3 <= epoch <= epochs + 2:  # Closes epoch - 1, one of epochs 2 .. epochs + 1.
        measured["epoch"] += now - stamps["begin"] - stamps["pause"]
      stamps["begin"] = now

    def on_epoch_end(self, epoch, logs):
      # The epoch pauses for the whole measurement, its warm-up step (the
      # other GAN's first step after the switch) included.
      start = time.perf_counter()
      compute = compute_seconds() if 2 <= epoch <= epochs + 1 else 0.0
      stamps["pause"] = time.perf_counter() - start
      measured["compute"] += compute

  class Terminal:  # The progress line as a terminal gets it: redrawn every 0.5 s.
    def write(self, text):
      pass

    def flush(self):
      pass

    def isatty(self):
      return True

  # Where the time outside the steps goes: each default callback's share of
  # the window (its epoch-end and step-end calls). Checkpoint saves fall in
  # "the rest".
  parts = {}
  in_window = lambda: 2 <= stamps.get("epoch", 0) <= epochs + 1  # noqa: E731

  class Timed(callbacks.Callback):
    """A default callback, its calls timed."""

    def __init__(self, inner):
      self.inner, self.name = inner, type(inner).__name__
      self.interruptible = getattr(inner, "interruptible", False)

    def _timed(self, method, *args):
      start = time.perf_counter()
      try:
        return getattr(self.inner, method)(*args)
      finally:
        if in_window() and method in ("on_epoch_end", "on_step_end"):
          parts[self.name] = parts.get(self.name, 0.0) + time.perf_counter() - start

    def on_train_begin(self, run):
      self._timed("on_train_begin", run)

    def on_epoch_begin(self, epoch):
      self._timed("on_epoch_begin", epoch)

    def on_step_end(self, step, values):
      self._timed("on_step_end", step, values)

    def on_epoch_end(self, epoch, logs):
      self._timed("on_epoch_end", epoch, logs)

    def on_train_end(self, logs):
      self._timed("on_train_end", logs)

  class Epoch(callbacks.Callback):  # Which epoch the timed calls belong to.
    def on_epoch_begin(self, epoch):
      stamps["epoch"] = epoch

  # progress=False and a Progress of its own: the line is drawn, to nowhere.
  timed = [Timed(cb) for cb in callbacks.defaults(config, tmp_dir, digits) + [callbacks.Progress(Terminal())]]
  gan_tf.train(config, tmp_dir, dataset=digits, callbacks=[Epoch(), *timed, Interleave()], default_callbacks=False)
  saves = (epochs + 1) // config.checkpoint_every - 1 // config.checkpoint_every
  return measured["epoch"], measured["compute"], saves, parts
