import io
import json
import subprocess
import sys

import numpy as np

from gan_tf import callbacks, images
from gan_tf import loop as train
from gan_tf.config import Config


class FakeTerminal(io.StringIO):
  def isatty(self):
    return True


def progress_output(stream, mnist, tmp_path, **kwargs):
  progress = callbacks.Progress(stream=stream, **kwargs)
  # Two steps per call, so the 8-step epoch has interim updates.
  train.train(
    Config(arch="mlp", epochs=1, batch_size=32, progress=False, steps_per_execution=2),
    tmp_path,
    dataset=mnist.take(256),
    callbacks=[progress],
  )
  return stream.getvalue()


def test_progress_in_a_log_file_is_plain_lines(mnist, tmp_path):
  text = progress_output(io.StringIO(), mnist, tmp_path, log_seconds=0.0)
  assert "\r" not in text and "\x1b" not in text
  lines = text.splitlines()
  # First the speed settings (those left "auto" as chosen on this device) and why the precision, then some
  # interim lines and the epoch's summary.
  assert lines[0] == (
    "float32 (auto: the CPU default for arch=mlp), XLA on, 2 steps per call, two discriminator calls per step, 8 steps per epoch"
  )
  record = json.loads((tmp_path / "config.json").read_text())["resolved_speed"]
  assert (record["precision"], record["precision_reason"]) == ("float32", "auto: the CPU default for arch=mlp")
  assert len(lines) >= 4
  assert "ETA" in lines[1] and "img/s" in lines[1] and "g_loss" in lines[1]
  assert lines[-1].startswith("epoch 1/1 8/8")


def test_progress_on_a_terminal_is_one_updating_line(mnist, tmp_path):
  text = progress_output(FakeTerminal(), mnist, tmp_path)
  settings, progress = text.split("\n", 1)
  assert "steps per call" in settings
  assert progress.count("\n") == 1 and progress.endswith("\n") and progress.startswith("\r")


def test_grid_layout():
  tiles = np.linspace(-1, 1, 10 * 28 * 28).reshape(10, 28, 28, 1)
  picture = images.grid(tiles, pad=2)
  assert picture.dtype == np.uint8
  assert picture.shape == (3 * 30 + 2, 4 * 30 + 2, 1)  # ceil(sqrt(10)) = 4 columns, 3 rows.
  assert picture[2, 2, 0] == 0 and picture[0, 0, 0] == 255  # First pixel is -1 -> black; padding white.
  assert images.grid(tiles, rows=10).shape == (10 * 30 + 2, 32, 1)


def test_export_loads_without_the_package(mnist, tmp_path):
  train.train(
    Config(arch="mlp", epochs=1, batch_size=64, progress=False, export_dir=str(tmp_path / "e")),
    tmp_path / "run",
    dataset=mnist.take(64),
  )
  code = (
    "import sys; sys.modules['gan_tf'] = None\n"  # Any import of the package would fail.
    "import tensorflow as tf\n"
    f"m = tf.saved_model.load({str(tmp_path / 'e')!r})\n"
    "out = m.signatures['serving_default'](noise=tf.zeros([3, 100]))['images']\n"
    "print(out.shape, out.dtype.name)"
  )
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "(3, 28, 28, 1) float32"
