"""Damaged run directories, readers beside a writer, leftovers and bad
output paths: each gets one line and loses nothing, or is handled."""

import shutil
import struct
import subprocess
import sys
import zlib

import pytest
import tensorflow as tf
from conftest import ROOT, write_idx

import gan_tf
from gan_tf import history, serving
from gan_tf import loop as train
from gan_tf.checkpoints import Checkpoints
from gan_tf.config import Config
from gan_tf.errors import DataError, UserError
from gan_tf.rundir import SAVED_MARK

TINY = dict(arch="mlp", latent_dim=8, batch_size=32, grid=2, progress=False, progress_gif=False)


@pytest.fixture
def run(tmp_path, mnist):
  """A finished 2-epoch run with a checkpoint after each epoch."""
  run_dir = tmp_path / "run"
  train.train(Config(epochs=2, checkpoint_every=1, **TINY), run_dir, dataset=mnist.take(64))
  return run_dir


def test_a_glob_character_in_the_run_directory_is_refused(tmp_path, mnist):
  (tmp_path / "run1").mkdir()
  (tmp_path / "run1" / "ckpt-78.index").write_text("another run's")
  with pytest.raises(UserError, match="glob character"):
    train.train(Config(epochs=1, **TINY), tmp_path / "run[1]", dataset=mnist.take(64))
  assert (tmp_path / "run1" / "ckpt-78.index").exists() and not (tmp_path / "run[1]").exists()


def test_a_reader_never_changes_the_run_directory(run, tmp_path):
  newest = sorted(run.glob("ckpt-*.data-*"))[-1]
  newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # As if a training were still writing it.
  before = sorted(p.name for p in run.iterdir())
  gan_tf.export(run, tmp_path / "export")  # From the older, complete checkpoint.
  assert sorted(p.name for p in run.iterdir()) == before and not list(run.glob("*.corrupt"))
  assert serving.is_saved_model(tmp_path / "export")


def test_a_run_whose_checkpoints_are_gone_is_not_started_over(run, mnist):
  assert (run / SAVED_MARK).exists()
  for path in [*run.glob("ckpt-*"), run / "checkpoint"]:
    path.unlink()
  history = (run / "history.csv").read_text()
  with pytest.raises(UserError, match="saved checkpoints before .* none is there now"):
    train.train(Config(epochs=3, checkpoint_every=1, **TINY), run, dataset=mnist.take(64))
  assert (run / "history.csv").read_text() == history


def test_a_stopped_swap_leaves_an_export(tmp_path, run):
  export_dir = gan_tf.export(run, tmp_path / "export")
  # Killed between the swap's two renames: the old export moved aside, the new one not yet in place.
  tmp = tmp_path / ".export.tmp123"
  tmp.mkdir()
  export_dir.rename(tmp / "old")
  shutil.copytree(tmp / "old", tmp / "model")
  serving._settle(export_dir, tmp)
  assert serving.is_saved_model(export_dir) and not tmp.exists()
  # And the next export clears what a killed one left.
  (tmp_path / ".export.tmp456").mkdir()
  gan_tf.export(run, export_dir)
  assert not list(tmp_path.glob(".export.tmp*"))


@pytest.mark.parametrize(
  "damage",
  [b"garbage,header\n1,2\n", b"epoch,step,d_loss\n1,39,0.5\n2,78,banana\n", bytes(range(256)) * 4, b"\x00" * 100],
  ids=["header", "row", "random", "nul"],
)
def test_a_damaged_history_is_kept_aside_and_training_goes_on(run, mnist, capsys, damage):
  (run / "history.csv").write_bytes(damage)
  train.train(Config(epochs=3, checkpoint_every=1, **TINY), run, dataset=mnist.take(64))
  assert "history.csv is damaged" in capsys.readouterr().err
  assert (run / "history.csv.damaged").read_bytes() == damage
  rows, problem = history.read(run / "history.csv")
  assert problem is None and rows[-1]["epoch"] == "3"


def test_damaged_run_files_get_one_line(run, mnist, capsys):
  for epochs, state in ((3, b""), (4, bytes(range(200)))):  # An empty, then a random-bytes state file.
    (run / "checkpoint").write_bytes(state)
    train.train(Config(epochs=epochs, checkpoint_every=1, **TINY), run, dataset=mnist.take(64))  # Moved aside, resumed.
    assert (run / "checkpoint.corrupt").read_bytes() == state and "checkpoint.corrupt" in capsys.readouterr().err
  (run / "samples" / "epoch_0001.png").write_text("not a png")
  train.train(Config(epochs=5, checkpoint_every=1, **{**TINY, "progress_gif": True}), run, dataset=mnist.take(64))
  assert (run / "samples" / "progress.gif").exists()
  for content in ("null", "[1, 2]"):
    (run / "config.json").write_text(content)
    with pytest.raises(UserError, match="is not a valid run config"):
      train.train(Config(epochs=6, **TINY), run, dataset=mnist.take(64))


def test_a_lock_that_is_a_directory_is_one_line(tmp_path, mnist):
  (tmp_path / "run" / ".lock").mkdir(parents=True)
  with pytest.raises(UserError, match="lock file"):
    train.train(Config(epochs=1, **TINY), tmp_path / "run", dataset=mnist.take(64))


def test_a_full_disk_leaves_no_temporary_checkpoint(tmp_path):
  step = tf.Variable(0)
  checkpoints = Checkpoints(tf.train.Checkpoint(step=step), tmp_path, 1)

  def full(**kwargs):
    (tmp_path / "ckpt-7_temp").mkdir()
    raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

  checkpoints.manager.save = full
  with pytest.raises(UserError, match="cannot save a checkpoint .* No space left on device; the older checkpoints are intact"):
    checkpoints.save(7)
  assert not (tmp_path / "ckpt-7_temp").exists()


def test_leftovers_of_a_killed_run_are_removed(run, mnist):
  (run / "ckpt-9_temp").mkdir()
  (run / "ckpt-9_temp" / "part").write_bytes(b"x" * 100)
  for name in (".config.json.abc.tmp", "samples/.epoch_0002.png.abc.tmp", "checkpoint.tmp123"):
    (run / name).write_text("half")
  train.train(Config(epochs=3, checkpoint_every=1, **TINY), run, dataset=mnist.take(64))
  assert not list(run.glob("*_temp")) and not list(run.rglob("*.tmp")) and not list(run.glob("checkpoint.tmp*"))


def test_checks_that_need_no_training_come_first(tmp_path, mnist):
  with pytest.raises(UserError, match="export_dir=.* is the run directory"):
    train.train(Config(epochs=1, export_dir=str(tmp_path / "run"), **TINY), tmp_path / "run", dataset=mnist.take(64))
  # A first run that fails leaves no run directory behind.
  with pytest.raises(DataError):
    train.train(Config(epochs=1, dataset=f"idx:{tmp_path / 'nowhere'}", **TINY), tmp_path / "new")
  assert not (tmp_path / "new").exists()


def _png_header(width, height):
  chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
  return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


def test_an_image_too_large_to_read_safely_is_one_line(tmp_path):
  (tmp_path / "photos").mkdir()
  (tmp_path / "photos" / "huge.png").write_bytes(_png_header(20000, 20000))
  with pytest.raises(DataError, match="too large to read safely"):
    gan_tf.train(Config(epochs=1, dataset=f"folder:{tmp_path / 'photos'}", **TINY), tmp_path / "run")


def _command(*args, cwd):
  proc = subprocess.run([sys.executable, "-m", "gan_tf", *args], capture_output=True, text=True, cwd=cwd, timeout=300)
  return proc.returncode, proc.stderr


@pytest.mark.parametrize(
  "args, message",
  [
    (["generate", "--model=m", "--out=FILE/x.png"], "FILE is a file, not a directory"),
    (["generate", "--model=m", "--out=adir"], "--out=adir is a directory"),
    (["generate", "--model=m", "--out_dir=FILE"], "--out_dir=FILE is a file"),
    (["generate", "--model=m", "--out=g.png", "--seed=-1"], "--seed must be an integer from 0 to 4294967295"),
    (["export", "--checkpoint_dir=r", "--export_dir=FILE/sub"], "FILE is a file, not a directory"),
    (["evaluate", "--model=m", "--json=FILE/m.json"], "FILE is a file, not a directory"),
    (["evaluate", "--model=m", "--classifier_dir=FILE/c"], "FILE is a file, not a directory"),
  ],
)
def test_bad_output_paths_are_refused_before_any_work(tmp_path, args, message):
  (tmp_path / "FILE").write_text("keep me")
  (tmp_path / "adir").mkdir()
  code, err = _command(*args, cwd=tmp_path)
  assert code == 1 and len(err.strip().splitlines()) == 1 and message in err, err
  assert (tmp_path / "FILE").read_text() == "keep me"


def test_the_run_flagfile_continues_the_run_from_anywhere(tmp_path, mnist):
  write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", mnist.images[:64, ..., 0])
  (tmp_path / "a").mkdir()
  (tmp_path / "b").mkdir()
  first = [
    sys.executable,
    str(ROOT / "bin" / "train"),
    "--arch=mlp",
    f"--dataset=idx:{tmp_path}",
    "--split=test",
    "--batch_size=32",
    "--latent_dim=8",
    "--grid=2",
    "--epochs=1",
    "--noprogress",
    "--noprogress_gif",
  ]
  assert subprocess.run(first, cwd=tmp_path / "a", capture_output=True, timeout=300).returncode == 0
  flagfile = tmp_path / "a" / "checkpoints" / "mlp" / "flags.txt"
  proc = subprocess.run(
    [sys.executable, str(ROOT / "bin" / "train"), f"--flagfile={flagfile}", "--epochs=2"],
    cwd=tmp_path / "b",
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr
  assert "trained to epoch 2 (step 4)" in proc.stdout and not (tmp_path / "b" / "checkpoints").exists()


SIGNALS = r"""
import os, signal, sys
import gan_tf
from gan_tf import callbacks, data, serving
from gan_tf.errors import Interrupted

mode, run_dir, digits = sys.argv[1], sys.argv[2], sys.argv[3]


class TwoSignals(callbacks.Callback):
  def on_epoch_end(self, epoch, logs):
    if epoch == 1:  # Two SIGTERMs at once, in the end-of-epoch outputs.
      os.kill(os.getpid(), signal.SIGTERM)
      os.kill(os.getpid(), signal.SIGTERM)


export = serving.export


def signalled_export(*args, **kwargs):
  os.kill(os.getpid(), signal.SIGTERM)  # During the final export.
  return export(*args, **kwargs)


serving.export = signalled_export
config = gan_tf.Config(arch="mlp", latent_dim=8, batch_size=32, grid=2, epochs=2, checkpoint_every=5, progress=False,
                       progress_gif=False, export_dir=os.path.join(run_dir, "..", "export") if mode == "export" else None)
try:
  gan_tf.train(config, run_dir, dataset=data.load_idx(digits, "test").take(64),
               callbacks=[TwoSignals()] if mode == "twice" else [])
except Interrupted as e:
  print(e)
  sys.exit(128 + e.signum)
"""


@pytest.mark.parametrize("mode", ["twice", "export"])
def test_signals_at_the_end_cost_no_finished_work(tmp_path, mnist, mode):
  write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", mnist.images[:64, ..., 0])
  proc = subprocess.run(
    [sys.executable, "-c", SIGNALS, mode, str(tmp_path / "run"), str(tmp_path)], capture_output=True, text=True, timeout=300
  )
  assert proc.returncode == 143, proc.stderr[-2000:]
  reader = tf.train.load_checkpoint(str(tmp_path / "run"))
  if mode == "twice":  # Epoch 1's outputs and checkpoint, though the second signal came during them.
    assert "stopped after epoch 1" in proc.stdout
    assert reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE") == 1
  else:  # Training had finished; the export is whole, and the exit says it was stopped.
    assert "stopped after the export" in proc.stdout and serving.is_saved_model(tmp_path / "export")
    assert reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE") == 2


def test_a_full_disk_while_writing_the_run_config_is_one_line(tmp_path, mnist, monkeypatch):
  from gan_tf import rundir

  def full(path, text):
    raise OSError(28, "No space left on device", str(path))

  monkeypatch.setattr(rundir, "atomic_write_text", full)
  with pytest.raises(UserError, match="cannot write .*config.json: No space left on device"):
    train.train(Config(epochs=1, **TINY), tmp_path / "run", dataset=mnist.take(64))


@pytest.fixture
def read_only(tmp_path):
  """A read-only bind mount of a directory (this needs root, as CI and this machine have)."""
  source, mount = tmp_path / "source", tmp_path / "ro"
  source.mkdir()
  mount.mkdir()
  if subprocess.run(["mount", "--bind", source, mount], capture_output=True).returncode:
    pytest.skip("mounting needs root: a read-only file system cannot be made here")
  try:
    subprocess.run(["mount", "-o", "remount,bind,ro", mount], check=True)
    yield source, mount
  finally:
    subprocess.run(["umount", mount], check=True)


def test_read_only_locations(read_only, mnist, tmp_path):
  source, mount = read_only
  train.train(Config(epochs=2, checkpoint_every=1, **TINY), source / "run", dataset=mnist.take(64))
  newest = sorted((source / "run").glob("ckpt-*.data-*"))[-1]
  newest.write_bytes(b"corrupt")
  # Export from a read-only run whose newest checkpoint is corrupt: the older one, nothing written there.
  gan_tf.export(mount / "run", tmp_path / "export")
  assert serving.is_saved_model(tmp_path / "export") and not list((source / "run").glob("*.corrupt"))
  with pytest.raises(UserError, match="cannot write export_dir=.*Read-only file system"):
    gan_tf.export(mount / "run", mount / "export")
  code, err = _command("generate", f"--model={tmp_path / 'export'}", f"--out={mount / 'g.png'}", cwd=tmp_path)
  assert code == 1 and len(err.strip().splitlines()) == 1 and "ro cannot be written" in err, err
  code, err = _command("generate", f"--model={tmp_path / 'export'}", "--out=/proc/g.png", cwd=tmp_path)
  assert code == 1 and len(err.strip().splitlines()) == 1 and "/proc" in err, err
