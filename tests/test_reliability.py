"""Faults: signals, hard kills, corrupt checkpoints, two trainings at once, reproducibility."""

import csv
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, write_idx

from gan_tf import loop as train
from gan_tf.config import Config
from gan_tf.errors import UserError
from gan_tf.rundir import RunLock

TRAIN = [sys.executable, str(ROOT / "bin" / "train")]


@pytest.fixture(scope="module")
def digits(tmp_path_factory, mnist):
  d = tmp_path_factory.mktemp("digits")
  write_idx(d / "t10k-images-idx3-ubyte.gz", mnist.images[:1024, ..., 0])
  return d


def flags(digits, run_dir, *extra):
  return [
    f"--dataset=idx:{digits}",
    "--split=test",
    "--arch=dcgan",
    "--batch_size=32",
    "--grid=2",
    "--deterministic",
    "--seed=7",
    "--d_steps=1",
    "--g_steps=1",
    f"--checkpoint_dir={run_dir}",
    "--noprogress",
    *extra,
  ]


def weights(run_dir):
  reader = tf.train.load_checkpoint(str(run_dir))
  names = [n for n in reader.get_variable_to_shape_map() if "save_counter" not in n and n != "_CHECKPOINTABLE_OBJECT_GRAPH"]
  return {n: reader.get_tensor(n) for n in names}


def history(run_dir):
  with open(run_dir / "history.csv", newline="") as f:
    return list(csv.DictReader(f))


def wait_for(path, proc, timeout=300):
  deadline = time.monotonic() + timeout
  while not path.exists():
    assert proc.poll() is None, proc.communicate()
    assert time.monotonic() < deadline
    time.sleep(0.05)


# 64 steps an epoch, so that a signal lands inside one: epoch 2 takes about
# 4 s here and starts about 0.8 s after epoch 1's last file (loss.png).
THREE_EPOCHS = ("--epochs=3", "--batch_size=16")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, digits):
  run_dir = tmp_path_factory.mktemp("straight") / "run"
  subprocess.run(TRAIN + flags(digits, run_dir, *THREE_EPOCHS), check=True, capture_output=True, timeout=600)
  return run_dir


def test_sigterm_mid_epoch_saves_and_resumes_to_identical_weights(tmp_path, digits, uninterrupted):
  run_dir = tmp_path / "run"
  proc = subprocess.Popen(
    TRAIN + flags(digits, run_dir, *THREE_EPOCHS), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
  )
  wait_for(run_dir / "loss.png", proc)
  time.sleep(2.0)  # Into epoch 2.
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=300)
  assert proc.returncode == 128 + signal.SIGTERM, err
  assert "Traceback" not in err and len(err.strip().splitlines()) == 1
  assert "stopped in epoch 2 at step" in err and "saved" in err
  stopped_at = int(err.split("at step ")[1].split()[0])
  assert 64 < stopped_at < 128  # Mid-epoch: the checkpoint is not on an epoch boundary.
  assert (run_dir / f"ckpt-{stopped_at}.index").exists()
  assert [r["epoch"] for r in history(run_dir)] == ["1"]

  resumed = subprocess.run(TRAIN + flags(digits, run_dir, *THREE_EPOCHS), capture_output=True, text=True, timeout=600)
  assert resumed.returncode == 0, resumed.stderr
  assert [r["epoch"] for r in history(run_dir)] == ["1", "2", "3"]
  assert [r["step"] for r in history(run_dir)] == ["64", "128", "192"]
  # The interruption changed nothing: same weights, optimiser state and epoch losses, bit for bit.
  a, b = weights(uninterrupted), weights(run_dir)
  assert a.keys() == b.keys()
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)
  for row_a, row_b in zip(history(uninterrupted), history(run_dir)):
    assert (row_a["d_loss"], row_a["g_loss"], row_a["d_acc"]) == (row_b["d_loss"], row_b["g_loss"], row_b["d_acc"])


def test_deterministic_runs_are_bitwise_identical(tmp_path, mnist):
  config = Config(arch="dcgan", epochs=1, batch_size=32, grid=2, seed=3, deterministic=True, progress=False, d_steps=1, g_steps=1)
  train.train(config, tmp_path / "a", dataset=mnist.take(128))
  train.train(config, tmp_path / "b", dataset=mnist.take(128))
  a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
  assert len(a) > 20
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)
  other = Config(**{**config.__dict__, "seed": 4})
  train.train(other, tmp_path / "c", dataset=mnist.take(128))
  assert any(not np.array_equal(a[n], v) for n, v in weights(tmp_path / "c").items())


def test_kill_9_at_random_moments_never_breaks_the_run(tmp_path, digits):
  run_dir = tmp_path / "run"
  args = TRAIN + [
    f"--dataset=idx:{digits}",
    "--split=test",
    "--arch=mlp",
    "--batch_size=32",
    "--grid=2",
    f"--checkpoint_dir={run_dir}",
    "--checkpoint_every=1",
    "--checkpoint_every_minutes=0.002",
    "--noprogress",
    "--epochs=12",
  ]
  rng = random.Random(0)
  for _ in range(4):
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(rng.uniform(4.0, 8.0))
    proc.kill()
    proc.wait()
    # Whatever was on disk when it died is whole: every history row parses.
    if (run_dir / "history.csv").exists():
      for row in history(run_dir):
        float(row["d_loss"]), float(row["g_loss"])
  final = subprocess.run(args, capture_output=True, text=True, timeout=600)
  assert final.returncode == 0, final.stderr
  rows = history(run_dir)
  assert [int(r["epoch"]) for r in rows] == list(range(1, 13))  # None missing, none twice.
  assert [int(r["step"]) for r in rows] == [32 * e for e in range(1, 13)]
  assert not list(run_dir.rglob("*.tmp"))


def test_corrupt_latest_checkpoint_falls_back_to_an_older_one(tmp_path, mnist, capsys):
  config = Config(arch="mlp", epochs=2, batch_size=64, grid=2, checkpoint_every=1, progress=False)
  train.train(config, tmp_path, dataset=mnist.take(256))
  data_file = tmp_path / "ckpt-8.data-00000-of-00001"
  data_file.write_bytes(data_file.read_bytes()[:1000])  # Truncated.
  capsys.readouterr()
  logs = train.train(Config(**{**config.__dict__, "epochs": 3}), tmp_path, dataset=mnist.take(256))
  err = capsys.readouterr().err
  assert "ckpt-8" in err and "cannot be read" in err
  assert logs["step"] == 12  # Resumed from ckpt-4 (epoch 1), then epochs 2 and 3 of 4 steps.
  assert [r["epoch"] for r in history(tmp_path)] == ["1", "2", "3"]
  assert (tmp_path / "ckpt-8.data-00000-of-00001.corrupt").exists()  # Moved aside, not deleted.


def test_no_readable_checkpoint_never_starts_over(tmp_path, mnist):
  config = Config(arch="mlp", epochs=1, batch_size=64, grid=2, progress=False)
  train.train(config, tmp_path, dataset=mnist.take(128))
  for f in tmp_path.glob("ckpt-*.data-*"):
    f.write_bytes(b"garbage")
  with pytest.raises(UserError, match="can be restored"):
    train.train(Config(**{**config.__dict__, "epochs": 2}), tmp_path, dataset=mnist.take(128))
  assert [r["epoch"] for r in history(tmp_path)] == ["1"]


def test_checkpoint_of_another_model_is_refused_and_left_alone(tmp_path, mnist):
  train.train(Config(arch="mlp", epochs=1, batch_size=64, grid=2, progress=False), tmp_path, dataset=mnist.take(128))
  (tmp_path / "config.json").unlink()  # Without the run's config, only the checkpoint itself can tell.
  files = sorted(p.name for p in tmp_path.iterdir())
  config = Config(arch="dcgan", epochs=2, batch_size=64, grid=2, progress=False, d_steps=1, g_steps=1)
  with pytest.raises(UserError, match="does not match this model"):
    train.train(config, tmp_path, dataset=mnist.take(128))
  assert sorted(p.name for p in tmp_path.iterdir()) == files


def test_second_training_on_a_directory_in_use_is_refused(tmp_path, mnist):
  config = Config(arch="mlp", epochs=1, batch_size=64, grid=2, progress=False)
  with RunLock(tmp_path.joinpath("run").mkdir() or tmp_path / "run"):
    with pytest.raises(UserError, match="in use by a running training"):
      train.train(config, tmp_path / "run", dataset=mnist.take(128))
  train.train(config, tmp_path / "run", dataset=mnist.take(128))  # Free again once the holder is gone.


def test_two_bin_train_on_one_directory(tmp_path, digits):
  run_dir = tmp_path / "run"
  first = subprocess.Popen(
    TRAIN + flags(digits, run_dir, "--epochs=50"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
  )
  wait_for(run_dir / "samples" / "epoch_0001.png", first)
  second = subprocess.run(TRAIN + flags(digits, run_dir, "--epochs=50"), capture_output=True, text=True, timeout=300)
  assert second.returncode == 1
  assert "in use by a running training (pid" in second.stderr and "Traceback" not in second.stderr
  first.send_signal(signal.SIGINT)  # Ctrl-C: the first stops cleanly, with a checkpoint.
  _, err = first.communicate(timeout=300)
  assert first.returncode == 128 + signal.SIGINT and "saved" in err
  assert [r["epoch"] for r in history(run_dir)][0] == "1"


def test_unwritable_checkpoint_dir(tmp_path):
  (tmp_path / "file").write_text("x")
  with pytest.raises(UserError, match="cannot write to run_dir="):
    train.train(Config(epochs=1), tmp_path / "file" / "run")
