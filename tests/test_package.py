"""The package as a user installs it: a wheel in a fresh environment, run outside the checkout."""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest
from conftest import ROOT, write_idx


def _run(cmd, cwd, **kw):
  proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=900, **kw)
  assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-3000:])
  return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
  """A venv holding the built wheel; TensorFlow and the other dependencies
  come from this test environment (a .pth line), so nothing is downloaded."""
  tmp = tmp_path_factory.mktemp("package")
  source = tmp / "source"  # A copy, so the build leaves the checkout as it was.
  source.mkdir()
  for name in ("pyproject.toml", "README.md", "LICENSE"):
    shutil.copy(ROOT / name, source / name)
  shutil.copytree(ROOT / "gan_tf", source / "gan_tf", ignore=shutil.ignore_patterns("__pycache__"))
  _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "dist", source], cwd=tmp)
  (wheel,) = (tmp / "dist").glob("gan_tf-*.whl")
  venv = tmp / "venv"
  _run([sys.executable, "-m", "venv", venv], cwd=tmp)
  python = venv / "bin" / "python"
  site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).stdout.strip()
  (tmp / site / "test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
  _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], cwd=tmp)
  return tmp, venv, wheel


def test_wheel_holds_the_package_and_its_licence(installed):
  _, _, wheel = installed
  names = zipfile.ZipFile(wheel).namelist()
  assert "gan_tf/cli/train.py" in names and "gan_tf/__main__.py" in names
  assert any(n.endswith("entry_points.txt") for n in names) and any(n.endswith("LICENSE") for n in names)


def test_installed_commands_train_export_and_generate_outside_the_checkout(installed, mnist):
  tmp, venv, _ = installed
  work = tmp / "work"
  work.mkdir()
  write_idx(work / "t10k-images-idx3-ubyte.gz", mnist.images[:128, ..., 0])
  write_idx(work / "t10k-labels-idx1-ubyte.gz", mnist.labels[:128])
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  gan_tf = venv / "bin" / "gan-tf"
  where = _run([venv / "bin" / "python", "-c", "import gan_tf; print(gan_tf.__file__)"], cwd=work, env=env).stdout
  assert where.startswith(str(venv)), where  # The wheel's copy, not the checkout's.
  out = _run([gan_tf, "--help"], cwd=work, env=env).stdout
  assert all(f"  {c} " in out for c in ("train", "export", "generate", "evaluate", "probe"))
  train = _run(
    [
      gan_tf,
      "train",
      "--arch=mlp",
      "--dataset=idx:.",
      "--split=test",
      "--epochs=1",
      "--batch_size=32",
      "--grid=2",
      "--export_dir=exports/mlp",
    ],
    cwd=work,
    env=env,
  )
  assert train.stderr == "" and "trained to epoch 1 (step 4)" in train.stdout
  assert (work / "checkpoints" / "mlp" / "samples" / "epoch_0001.png").exists()
  _run([gan_tf, "generate", "--model=exports/mlp", "--num=4", "--out=grid.png"], cwd=work, env=env)
  assert (work / "grid.png").stat().st_size > 0
  out = _run([venv / "bin" / "python", "-m", "gan_tf", "evaluate", "--help"], cwd=work, env=env).stdout
  assert "--checkpoint_dir" in out and "--model" in out
