"""Everything a run shows or writes besides checkpoints: sample grids, the
history CSV, TensorBoard logs and the progress line.

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

from gan_tf import images
from gan_tf.fileio import atomic_write_text

HISTORY_FIELDS = ["epoch", "step", "d_loss", "g_loss", "d_acc", "seconds", "images_per_sec"]


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
  """Every `every` epochs, `samples/epoch_NNNN.png` from the run's fixed noise."""

  def __init__(self, run_dir, every=1):
    self.dir = Path(run_dir) / "samples"
    self.every = every

  def on_train_begin(self, run):
    self.gan = run.gan
    self.last_epoch = run.config.epochs

  def on_epoch_end(self, epoch, logs):
    if epoch % self.every and epoch != self.last_epoch:
      return
    picture = images.grid(self.gan.samples().numpy())
    images.save_png(self.dir / f"epoch_{epoch:04d}.png", picture)
    logs["sample_grid"] = picture


class History(Callback):
  """`history.csv`, one row per epoch, rewritten whole (never half-written)."""

  def __init__(self, run_dir):
    self.path = Path(run_dir) / "history.csv"
    self.rows = []

  def on_train_begin(self, run):
    if self.path.exists():
      with open(self.path, newline="") as f:
        # Rows past the restored checkpoint belong to work that is being redone.
        self.rows = [r for r in csv.DictReader(f) if r.get("epoch", "").isdigit()
                     and int(r["epoch"]) <= run.start_epoch]
      self._write()

  def on_epoch_end(self, epoch, logs):
    row = {k: v for k, v in logs.items() if np.isscalar(v)}
    self.rows.append({"epoch": epoch, **row})
    self._write()

  def _write(self):
    fields = list(HISTORY_FIELDS)
    for row in self.rows:
      fields += [k for k in row if k not in fields]
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for row in self.rows:
      writer.writerow({k: _fmt(v) for k, v in row.items()})
    atomic_write_text(self.path, out.getvalue())


def _fmt(value):
  return f"{value:.6g}" if isinstance(value, float) else value


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
    line = (f"epoch {self.epoch}/{self.epochs} {step:>{len(str(self.steps))}}/{self.steps} "
            f"{_bar(step / self.steps)} {rate:6.0f} img/s ETA {_hms(eta)} {_metrics(self.gan.metric_results())}")
    self._print("\r" + line + "\x1b[K" if self.tty else line + "\n")

  def on_epoch_end(self, epoch, logs):
    line = (f"epoch {epoch}/{self.epochs} {self.steps}/{self.steps} {logs['seconds']:.1f}s "
            f"{logs['images_per_sec']:6.0f} img/s {_metrics(logs)}")
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
