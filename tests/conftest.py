import atexit
import gzip
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Tests run in two processes (setup.cfg), and the binaries they start in
# more: on a GPU each would otherwise reserve nearly all of its memory.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
# The suite's own cache, for this process and the commands it starts: tests
# never read or write the user's, and timing never picks a test's precision.
CACHE_HOME = tempfile.mkdtemp(prefix="gan_tf_test_cache_")
atexit.register(shutil.rmtree, CACHE_HOME, ignore_errors=True)
os.environ["XDG_CACHE_HOME"] = CACHE_HOME


def pytest_sessionstart(session):
  """This CPU's bfloat16 probe settled on float32, as on a CPU without fast
  bfloat16: the dcgan trains in float32 wherever a test leaves the precision
  "auto" (test_probe and test_speed choose otherwise where they test it)."""
  from gan_tf import probe

  settled = probe.Reading(
    speedup=1.0, spread=0.0, rounds=probe.ROUNDS, measured="2026-01-01T00:00:00+00:00", readings=probe.SETTLE_READINGS
  )
  probe.write_cache(settled)
  assert probe.choose(measure=_never).precision == "float32"


def _never():
  raise AssertionError("the suite's probe cache is missing")


ROOT = Path(__file__).resolve().parents[1]
# The real MNIST test split (10,000 digits, IDX files) beside the checkout.
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


def write_idx(path, array, magic_dims=None):
  """Writes `array` (uint8) as an IDX file, gzipped if the name ends in .gz."""
  array = np.asarray(array, np.uint8)
  ndim = array.ndim if magic_dims is None else magic_dims
  raw = bytes([0, 0, 0x08, ndim]) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()
  path = Path(path)
  path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
  return path


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory):
  """The real MNIST test split if it is beside the checkout, else 2,048
  synthetic digit-like images (tests slice up to 2,000 of them)."""
  if (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
    return SHARED_MNIST
  d = tmp_path_factory.mktemp("mnist")
  rng = np.random.default_rng(0)
  images = np.zeros((2048, 28, 28), np.uint8)
  labels = rng.integers(0, 10, 2048)
  for i, y in enumerate(labels):  # A bar whose position is the label: structure a GAN can learn.
    images[i, 4:24, 2 + 2 * y : 5 + 2 * y] = 255
  write_idx(d / "t10k-images-idx3-ubyte.gz", images)
  write_idx(d / "t10k-labels-idx1-ubyte.gz", labels)
  return d


@pytest.fixture(scope="session")
def mnist(mnist_dir):
  from gan_tf import data

  return data.load_idx(mnist_dir, "test")
