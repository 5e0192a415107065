"""The binaries as a user runs them: subprocesses, exit codes, one-line errors."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, write_idx
from PIL import Image


def run(tool, *args, cwd=None, env=None):
  proc = subprocess.run(
    [sys.executable, str(ROOT / "bin" / tool), *args], capture_output=True, text=True, cwd=cwd, timeout=600, env=env
  )
  return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code, out, err, pattern):
  assert code == 1, (out, err)
  assert "Traceback" not in err and "Traceback" not in out
  lines = err.strip().splitlines()
  assert len(lines) == 1, err
  assert pattern in lines[0], lines[0]


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory, mnist):
  d = tmp_path_factory.mktemp("small")
  write_idx(d / "t10k-images-idx3-ubyte.gz", mnist.images[:256, ..., 0])
  write_idx(d / "t10k-labels-idx1-ubyte.gz", mnist.labels[:256])
  return d


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_mnist):
  work = tmp_path_factory.mktemp("work")
  flagfile = work / "tiny.flags"
  # --shuffle_buffer: older versions wrote it into flags.txt; it is still accepted.
  flagfile.write_text(f"--dataset=idx:{small_mnist}\n--split=test\n--batch_size=64\n--grid=2\n--shuffle_buffer=10000\n")
  code, out, err = run("train", "--arch=mlp", "--epochs=2", f"--flagfile={flagfile}", cwd=work)
  assert code == 0, err
  return work, out, err


def test_train_is_quiet_and_uses_the_default_run_dir(trained):
  work, out, err = trained
  run_dir = work / "checkpoints" / "mlp"
  assert err == ""  # No TensorFlow log noise.
  assert "epoch 2/2 4/4" in out and "trained to epoch 2" in out
  samples = sorted(p.name for p in (run_dir / "samples").iterdir())
  assert samples == ["epoch_0001.png", "epoch_0002.png", "progress.gif", "real.png"]
  with open(run_dir / "history.csv") as f:
    assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2"]
  assert "--grid=2" in (run_dir / "flags.txt").read_text().split()


def test_rerun_resumes_and_exports(trained, small_mnist):
  work, _, _ = trained
  run_dir = work / "checkpoints" / "mlp"
  # Later flags override the flagfile's.
  code, out, err = run(
    "train", f"--flagfile={run_dir / 'flags.txt'}", "--epochs=3", f"--export_dir={work / 'export'}", "--noprogress", cwd=work
  )
  assert code == 0, err
  assert "resuming" not in out and "epoch 3/3" not in out  # --noprogress
  assert "trained to epoch 3 (step 12)" in out
  assert (work / "export" / "saved_model.pb").exists()


def test_export_then_generate(trained, tmp_path):
  work, _, _ = trained
  code, out, err = run("export", f"--checkpoint_dir={work / 'checkpoints' / 'mlp'}", f"--export_dir={tmp_path / 'm'}")
  assert code == 0, err
  code, out, err = run(
    "generate",
    f"--model={tmp_path / 'm'}",
    "--num=64",
    "--seed=1",
    f"--out={tmp_path / 'grid.png'}",
    f"--out_dir={tmp_path / 'each'}",
  )
  assert code == 0, err
  with Image.open(tmp_path / "grid.png") as grid:
    assert grid.size[0] == grid.size[1] >= 8 * 28  # 8x8 tiles.
  files = sorted((tmp_path / "each").iterdir())
  assert len(files) == 64
  with Image.open(files[0]) as one:
    assert one.size == (28, 28)
  # Same seed, same pictures.
  run("generate", f"--model={tmp_path / 'm'}", "--num=64", "--seed=1", f"--out={tmp_path / 'again.png'}")
  assert (tmp_path / "again.png").read_bytes() == (tmp_path / "grid.png").read_bytes()


def test_saved_model_cli_describes_the_export(trained, tmp_path):
  work, _, _ = trained
  run("export", f"--checkpoint_dir={work / 'checkpoints' / 'mlp'}", f"--export_dir={tmp_path / 'm'}")
  cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--all", "--dir", str(tmp_path / "m")]
  out = subprocess.run(cli, capture_output=True, text=True, timeout=300).stdout
  assert "signature_def['serving_default']" in out
  assert "inputs['noise']" in out and "outputs['images']" in out and "(-1, 28, 28, 1)" in out


@pytest.mark.parametrize(
  "args,message",
  [
    (["--dataset=idx:/no/such/dir"], "does not exist"),
    (["--dataset=not_a_tfds_dataset"], "no TFDS dataset is called"),
    (["--epochs=0"], "--epochs must be a positive integer"),
    (["--arch=vae"], "--arch must be one of dcgan, mlp or MODULE:FUNCTION"),
    (["--batch_size=abc"], "flag --batch_size=abc"),
    (["--strategy=multi_worker"], "needs the TF_CONFIG environment variable"),
    (["--batch_size=100000"], "larger than the"),
    (["--arch=dcgan"], "holds a run with --arch=mlp"),
  ],
)
def test_train_bad_input(trained, small_mnist, args, message):
  work, _, _ = trained
  run_dir = work / "checkpoints" / "mlp"
  results = lambda: {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}  # noqa: E731
  before = results()
  code, out, err = run(
    "train", "--arch=mlp", f"--dataset=idx:{small_mnist}", "--split=test", f"--checkpoint_dir={run_dir}", *args, cwd=work
  )
  assert_one_line_error(code, out, err, message)
  assert results() == before


def test_train_bad_idx_file(tmp_path):
  (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 20)
  code, out, err = run("train", f"--dataset=idx:{tmp_path}", "--split=test", cwd=tmp_path)
  assert_one_line_error(code, out, err, "magic number")


def test_generate_bad_model(tmp_path):
  code, out, err = run("generate", f"--model={tmp_path}", f"--out={tmp_path / 'x.png'}")
  assert_one_line_error(code, out, err, "is not a SavedModel")


def test_generate_wrong_noise_shape(trained, tmp_path):
  work, _, _ = trained
  run("export", f"--checkpoint_dir={work / 'checkpoints' / 'mlp'}", f"--export_dir={tmp_path / 'm'}")
  np.save(tmp_path / "noise.npy", np.zeros((4, 7), np.float32))
  code, out, err = run(
    "generate", f"--model={tmp_path / 'm'}", f"--noise={tmp_path / 'noise.npy'}", f"--out={tmp_path / 'x.png'}"
  )
  assert_one_line_error(code, out, err, "takes noise of shape [N, 100], got [4, 7]")
  assert not (tmp_path / "x.png").exists()
  np.save(tmp_path / "noise.npy", np.zeros((4, 100), np.float32))
  code, out, err = run(
    "generate", f"--model={tmp_path / 'm'}", f"--noise={tmp_path / 'noise.npy'}", f"--out={tmp_path / 'x.png'}"
  )
  assert code == 0 and "grid of 4 images" in out


def test_export_refuses_non_saved_model_dir(trained, tmp_path):
  work, _, _ = trained
  (tmp_path / "notes.txt").write_text("mine")
  code, out, err = run("export", f"--checkpoint_dir={work / 'checkpoints' / 'mlp'}", f"--export_dir={tmp_path}")
  assert_one_line_error(code, out, err, "is not a SavedModel")
  assert (tmp_path / "notes.txt").read_text() == "mine"


def test_evaluate_an_export_and_a_run(trained, small_mnist, tmp_path):
  work, _, _ = trained
  run_dir = work / "checkpoints" / "mlp"
  run("export", f"--checkpoint_dir={run_dir}", f"--export_dir={tmp_path / 'm'}")
  common = ["--num=100", f"--classifier_dir={tmp_path / 'classifiers'}"]
  code, out, err = run(
    "evaluate",
    f"--model={tmp_path / 'm'}",
    f"--dataset=idx:{small_mnist}",
    "--split=test",
    f"--json={tmp_path / 'metrics.json'}",
    *common,
  )
  assert code == 0, err
  assert "training the evaluator's classifier" in out and "real vs real" in out and "FID" in out
  report = json.loads((tmp_path / "metrics.json").read_text())
  assert report["num"] == 100 and report["real_vs_real_num"] == 100
  for side in ("generated", "real_vs_real"):
    assert report[side]["fid"] >= 0 and 0 <= report[side]["recall"] <= 1
    assert report[side]["class_gap"] >= -1 and 0 <= report[side]["class_gap_class"] < 10
  assert sum(report["generated"]["real_class_histogram"]) == 100 and "largest class gap" in out
  # A run is measured against its own data by default, from its checkpoint, with the cached classifier.
  code, out, err = run("evaluate", f"--checkpoint_dir={run_dir}", "--sample_from=raw", *common)
  assert code == 0, err
  assert "training the evaluator's classifier" not in out and f"against idx:{small_mnist} (test)" in out


@pytest.mark.parametrize(
  "args,message",
  [
    ([], "either --model"),
    (["--model=a", "--checkpoint_dir=b"], "either --model"),
    (["--checkpoint_dir=RUN", "--best"], "no best checkpoint"),
    (["--model=/no/such/export"], "not a SavedModel"),
  ],
)
def test_evaluate_bad_input(trained, args, message):
  work, _, _ = trained
  args = [a.replace("RUN", str(work / "checkpoints" / "mlp")) for a in args]
  assert_one_line_error(*run("evaluate", *args), message)


def test_compare_trains_evaluates_and_tabulates(small_mnist, tmp_path):
  env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
  out_dir = tmp_path / "cmp"
  code, out, err = run(
    "compare",
    "--archs=mlp",
    "--recipes=gan-tf,original",
    "--epochs=1",
    "--num=64",
    "--eval_every=1",
    "--eval_num=64",
    "--fids=1000000,0",
    f"--dataset=idx:{small_mnist}",
    "--split=test",
    f"--out_dir={out_dir}",
    env=env,
  )
  assert code == 0, err
  table = (out_dir / "table.md").read_text()
  assert table in out
  quality, timing = table.split("\n\n", 2)[0], table.split("\n\n")[2]
  rows = [line for line in quality.splitlines() if line.startswith("| ")]
  assert [r.split("|")[1].strip() for r in rows[1:]] == ["`mlp`, gan-tf", "`mlp`, original", "real vs real (two halves)"]
  # Time to quality: the precision trained in, seconds per epoch, the first epoch under each FID and the minutes to it.
  timed = [line.split("|")[1:-1] for line in timing.splitlines() if line.startswith("| `")]
  assert [cells[0].strip() for cells in timed] == ["`mlp`, gan-tf", "`mlp`, original"]
  for cells in timed:
    assert cells[1].strip() == "float32" and float(cells[2]) > 0
    assert cells[3].strip().startswith("epoch 1, ") and cells[4].strip() == "not reached"
  assert (out_dir / "mlp-gan-tf.png").exists() and (out_dir / "mlp-original" / "metrics.json").exists()
  # Finished runs are only evaluated again.
  code, out, err = run(
    "compare",
    "--archs=mlp",
    "--recipes=original",
    "--epochs=1",
    "--num=64",
    f"--dataset=idx:{small_mnist}",
    "--split=test",
    f"--out_dir={out_dir}",
    env=env,
  )
  assert code == 0, err
  assert len(list((out_dir / "mlp-original" / "samples").glob("epoch_*.png"))) == 1


def test_tf_log_flag_brings_tensorflow_messages_back(trained):
  work, _, _ = trained
  code, out, err = run("export", "--tf_log", f"--checkpoint_dir={work / 'checkpoints' / 'mlp'}", f"--export_dir={work / 'e2'}")
  assert code == 0
  assert err.strip() != ""


def test_every_setting_is_a_flag_with_help():
  from gan_tf.config import Config

  _, out, _ = run("train", "--helpfull")  # absl exits with status 1 after help.
  for name in Config.__dataclass_fields__:
    assert f"--{name}:" in out or f"--[no]{name}:" in out, name


@pytest.fixture(scope="module")
def conditional_export(tmp_path_factory, small_mnist):
  work = tmp_path_factory.mktemp("cond")
  code, out, err = run(
    "train",
    "--arch=mlp",
    "--conditional",
    "--epochs=1",
    f"--dataset=idx:{small_mnist}",
    "--split=test",
    "--batch_size=64",
    "--loss=hinge",
    f"--export_dir={work / 'export'}",
    cwd=work,
  )
  assert code == 0, err
  return work / "export"


def test_generate_a_requested_class(conditional_export, tmp_path):
  code, out, err = run("generate", f"--model={conditional_export}", "--label=7", "--num=9", f"--out={tmp_path / 's.png'}")
  assert code == 0, err
  with Image.open(tmp_path / "s.png") as grid:
    assert grid.size == (3 * (3 * 30 + 2),) * 2  # 3x3 tiles, enlarged 3 times to reach 256 pixels.
  # Without --label: a row per class (--num rounded up to a multiple of 10).
  code, out, err = run("generate", f"--model={conditional_export}", "--num=15", f"--out={tmp_path / 'all.png'}")
  assert code == 0, err
  assert "20 images" in out
  with Image.open(tmp_path / "all.png") as grid:
    assert grid.size == (2 * 30 + 2, 10 * 30 + 2)
  code, out, err = run("generate", f"--model={conditional_export}", "--label=10", f"--out={tmp_path / 'x.png'}")
  assert_one_line_error(code, out, err, "--label must be 0 to 9")
  assert not (tmp_path / "x.png").exists()


def test_interpolation_gif_and_strip(conditional_export, tmp_path):
  code, out, err = run(
    "generate",
    f"--model={conditional_export}",
    "--interpolate",
    "--points=3",
    "--frames=4",
    "--label=2",
    f"--out={tmp_path / 'walk.gif'}",
  )
  assert code == 0, err
  with Image.open(tmp_path / "walk.gif") as gif:
    assert gif.n_frames == 12  # A closed loop through 3 points, 4 frames each.
  code, out, err = run(
    "generate", f"--model={conditional_export}", "--interpolate", "--points=3", "--frames=4", f"--out={tmp_path / 'strip.png'}"
  )
  assert code == 0, err
  with Image.open(tmp_path / "strip.png") as strip:
    assert strip.size == (9 * 30 + 2, 10 * 30 + 2)  # 9 steps along the walk, a row per class.
  code, out, err = run("generate", f"--model={conditional_export}", "--interpolate", f"--out={tmp_path / 'w.jpg'}")
  assert_one_line_error(code, out, err, "--interpolate writes")


def test_evaluate_reports_label_accuracy(conditional_export, small_mnist, tmp_path):
  code, out, err = run(
    "evaluate",
    f"--model={conditional_export}",
    f"--dataset=idx:{small_mnist}",
    "--split=test",
    "--num=100",
    f"--classifier_dir={tmp_path}",
    f"--json={tmp_path / 'm.json'}",
  )
  assert code == 0, err
  assert "label accuracy" in out
  report = json.loads((tmp_path / "m.json").read_text())
  assert 0 <= report["generated"]["label_accuracy"] <= 1 and len(report["generated"]["per_class_accuracy"]) == 10
