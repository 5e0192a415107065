"""Everything a run shows or writes besides its checkpoints: sample grids,
sample-quality evaluations (and the best checkpoint by FID), the history CSV,
its plot, TensorBoard logs and the progress line.

The loop calls, in order: on_train_begin(run), then per epoch on_epoch_begin,
on_step_end after each step, on_epoch_end(epoch, logs); finally on_train_end.
`logs` is shared by the callbacks of one epoch, so a callback can leave
something (the sample grid) for the ones after it.
"""

import csv
import io
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from gan_tf import checkpoints, history, images, quality
from gan_tf import data as data_lib
from gan_tf.fileio import atomic_write_bytes, atomic_write_text


class Callback:
  def on_train_begin(self, run):
    pass

  def on_epoch_begin(self, epoch):
    pass

  def on_step_end(self, step, values):
    pass

  def on_epoch_end(self, epoch, logs):
    pass

  def on_train_end(self, logs):
    pass


class SampleGrid(Callback):
  """Every `every` epochs, `samples/epoch_NNNN.png` from the run's fixed
  noise; once, `samples/real.png`: as many of `data`'s images, laid out the
  same way (a row per class if conditional), to judge the samples against."""

  def __init__(self, run_dir, every=1, data=None):
    self.dir = Path(run_dir) / "samples"
    self.every, self.data = every, data

  def on_train_begin(self, run):
    self.gan = run.gan
    self.last_epoch = run.config.epochs
    real = self.dir / "real.png"
    if self.data is not None and not real.exists():
      labels = None if self.gan.sample_labels is None else self.gan.sample_labels.numpy()
      pictures = data_lib.examples(self.data, int(self.gan.sample_noise.shape[0]), labels, run.config.seed)
      images.save_png(real, images.grid(images.from_uint8(pictures), rows=self.gan.grid_rows))

  def on_epoch_end(self, epoch, logs):
    if epoch % self.every and epoch != self.last_epoch:
      return
    picture = images.grid(self.gan.samples().numpy(), rows=self.gan.grid_rows)
    images.save_png(self.dir / f"epoch_{epoch:04d}.png", picture)
    logs["sample_grid"] = picture


EVAL_LOGS = ("fid", "kid", "precision", "recall", "classifier_score", "classes_covered", "label_accuracy")


class Evaluation(Callback):
  """Every `every` epochs (and after the last), the sample-quality metrics of
  `quality.py` into the epoch's logs, so History and TensorBoard record them;
  the checkpoint with the lowest FID so far is kept in `best/`, described by
  `best/best.json`."""

  interruptible = True  # A second Ctrl-C may cut an evaluation short (see loop._train).

  def __init__(self, run_dir, every, num, data, classifier_dir=None):
    self.run_dir = Path(run_dir)
    self.every, self.num, self.data, self.classifier_dir = every, num, data, classifier_dir

  def on_train_begin(self, run):
    self.gan, self.last_epoch, self.seed = run.gan, run.config.epochs, run.config.seed
    self.classifier = quality.load_classifier(self.data, self.classifier_dir)
    self.best = checkpoints.BestCheckpoint(run.gan.checkpoint(), self.run_dir)

  def on_epoch_end(self, epoch, logs):
    if epoch % self.every and epoch != self.last_epoch:
      return
    report = quality.evaluate(
      quality.keras_generate(self.gan.sampler()),
      self.gan.latent_dim,
      self.data,
      self.classifier,
      self.num,
      self.seed,
      self.gan.num_classes,
    )
    logs.update({key: report["generated"][key] for key in EVAL_LOGS if key in report["generated"]})
    self.best.consider(logs["fid"], epoch, int(logs["step"]))
    logs["best_fid"] = self.best.record["fid"]


class History(Callback):
  """`history.csv`, one row per epoch, rewritten whole (never half-written)."""

  def __init__(self, run_dir):
    self.path = Path(run_dir) / "history.csv"
    self.rows = []

  def on_train_begin(self, run):
    if self.path.exists():
      rows, problem = history.read(self.path)
      if problem:
        # Kept for the user, never overwritten; the history starts again from here.
        aside = self.path.with_name("history.csv.damaged")
        self.path.replace(aside)
        print(f"warning: {self.path} is damaged ({problem}); moved aside as {aside.name}", file=sys.stderr)
      # Rows past the restored checkpoint belong to work that is being redone.
      self.rows = [r for r in rows if int(r["epoch"]) <= run.start_epoch]
      self._write()

  def on_epoch_end(self, epoch, logs):
    row = {k: v for k, v in logs.items() if np.isscalar(v)}
    self.rows.append({"epoch": epoch, **row})
    self._write()

  def _write(self):
    fields = list(history.FIELDS)
    for row in self.rows:
      fields += [k for k in row if k not in fields]
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for row in self.rows:
      writer.writerow({k: history.fmt(v) for k, v in row.items()})
    atomic_write_text(self.path, out.getvalue())


class LossPlot(Callback):
  """`loss.png`: both losses per epoch, and the sample-quality metrics when
  there are any, redrawn from `history.csv` after an epoch when
  `min_seconds` have passed since the last drawing (drawing takes a good
  part of a second, much of a short epoch), and at the end."""

  def __init__(self, run_dir, min_seconds=30.0):
    self.run_dir = Path(run_dir)
    self.min_seconds = min_seconds
    self.last = None

  def on_epoch_end(self, epoch, logs):
    if self.last is None or time.monotonic() - self.last >= self.min_seconds or "fid" in logs:
      self._draw()

  def on_train_end(self, logs):
    self._draw()

  def _draw(self):
    path = self.run_dir / "history.csv"
    if not path.exists():
      return
    rows, _ = history.read(path)
    if rows:
      atomic_write_bytes(self.run_dir / "loss.png", history.plot(rows))
    self.last = time.monotonic()


class ProgressGif(Callback):
  """At the end, `samples/progress.gif`: every epoch's sample grid in order,
  as the TensorFlow tutorial's animation (read from the PNGs, so a resumed
  run's animation starts at its first epoch)."""

  def __init__(self, run_dir, seconds_per_frame=0.2):
    self.dir = Path(run_dir) / "samples"
    self.seconds_per_frame = seconds_per_frame

  def on_train_end(self, logs):
    frames = []
    for path in sorted(self.dir.glob("epoch_*.png")):
      try:
        frames.append(images.read_png(path))
      except (OSError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError.
        print(f"warning: {path} is not a readable PNG ({type(e).__name__}); the animation skips it", file=sys.stderr)
    # Grids of one run share a size; a frame of another size (a damaged or foreign file) is left out too.
    frames = [f for f in frames if f.shape == frames[-1].shape]
    if frames:
      images.save_gif(self.dir / "progress.gif", frames, self.seconds_per_frame, last_frame_seconds=2.0)


class TensorBoard(Callback):
  """Scalars and the sample grid under `logs/`, stepped by the global step."""

  def __init__(self, run_dir):
    self.writer = tf.summary.create_file_writer(str(Path(run_dir) / "logs"))

  def on_epoch_end(self, epoch, logs):
    step = int(logs["step"])
    with self.writer.as_default(step=step):
      for key, value in logs.items():
        if np.isscalar(value) and key not in ("epoch", "step"):
          tf.summary.scalar(key, value)
      tf.summary.scalar("epoch", epoch)
      if "sample_grid" in logs:
        tf.summary.image("samples", logs["sample_grid"][None])
    self.writer.flush()

  def on_train_end(self, logs):
    self.writer.close()


class Progress(Callback):
  """One line per epoch: updated in place on a terminal, printed every
  `log_seconds` (and at the epoch's end) when the output is a file or pipe."""

  def __init__(self, stream=None, log_seconds=30.0):
    self.stream = stream or sys.stdout
    self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
    self.interval = 0.5 if self.tty else log_seconds

  def on_train_begin(self, run):
    self.gan, self.steps, self.batch = run.gan, run.steps_per_epoch, run.batch_size
    self.epochs = run.config.epochs
    if run.start_epoch < self.epochs:
      s = run.gan.config  # The speed settings in effect: "auto" resolved for this device.
      self._print(
        f"{s.precision} ({run.precision_reason}), XLA {'on' if s.jit_compile == 'true' else 'off'}, "
        f"{s.steps_per_execution} step{'s' * (s.steps_per_execution > 1)} per call, "
        f"{'one discriminator call' if s.fused_discriminator == 'true' else 'two discriminator calls'} "
        f"per step, {run.steps_per_epoch} steps per epoch\n"
      )
    if run.start_epoch:
      self._print(f"resuming {run.run_dir} at epoch {run.start_epoch + 1} (step {int(run.gan.step.numpy())})\n")

  def on_epoch_begin(self, epoch):
    self.epoch, self.start, self.last = epoch, time.perf_counter(), time.perf_counter()
    self.first_step = None

  def on_step_end(self, step, values):
    now = time.perf_counter()
    if self.first_step is None:
      self.first_step = step - 1  # A resumed epoch starts part-way.
    if now - self.last < self.interval or step == self.steps:
      return
    self.last = now
    rate = (step - self.first_step) * self.batch / (now - self.start)
    eta = (self.steps - step) * self.batch / rate
    line = (
      f"epoch {self.epoch}/{self.epochs} {step:>{len(str(self.steps))}}/{self.steps} "
      f"{_bar(step / self.steps)} {rate:6.0f} img/s ETA {_hms(eta)} {_metrics(self.gan.metric_results())}"
    )
    self._print("\r" + line + "\x1b[K" if self.tty else line + "\n")

  def on_epoch_end(self, epoch, logs):
    line = (
      f"epoch {epoch}/{self.epochs} {self.steps}/{self.steps} {logs['seconds']:.1f}s "
      f"{logs['images_per_sec']:6.0f} img/s {_metrics(logs)}"
    )
    if "fid" in logs:
      line += f" fid {logs['fid']:.2f} (best {logs['best_fid']:.2f})"
    self._print(("\r" + line + "\x1b[K" if self.tty else line) + "\n")

  def _print(self, text):
    self.stream.write(text)
    self.stream.flush()


def _bar(fraction, width=20):
  done = int(fraction * width)
  return "[" + "=" * done + ">" * (done < width) + " " * (width - done - 1) + "]"


def _hms(seconds):
  m, s = divmod(int(seconds), 60)
  h, m = divmod(m, 60)
  return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _metrics(values):
  return " ".join(f"{k} {values[k]:.4f}" for k in ("d_loss", "g_loss", "d_acc"))


def defaults(config, run_dir, data) -> list:
  """The callbacks every run has, as its settings ask."""
  cbs = [SampleGrid(run_dir, config.sample_every, data)]
  if config.eval_every:
    cbs.append(Evaluation(run_dir, config.eval_every, config.eval_num, data))
  cbs += [History(run_dir), LossPlot(run_dir), TensorBoard(run_dir)]
  if config.progress_gif:
    cbs.append(ProgressGif(run_dir))
  if config.progress:
    cbs.append(Progress())
  return cbs
