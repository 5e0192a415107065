import gzip

import numpy as np
import pytest
from conftest import write_idx
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_tf import data
from gan_tf.errors import DataError


def test_idx_test_split(mnist, mnist_dir):
  assert mnist.images.dtype == np.uint8
  assert mnist.images.shape[1:] == (28, 28, 1)
  assert len(mnist) == len(mnist.labels) >= 1000
  assert set(np.unique(mnist.labels)) <= set(range(10))
  if mnist_dir.name == "mnist" and len(mnist) == 10000:  # The real split.
    assert mnist.labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_idx_train_plus_test_and_uncompressed(tmp_path):
  write_idx(tmp_path / "train-images-idx3-ubyte", np.full((5, 28, 28), 7))
  write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(5))
  write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.full((3, 28, 28), 9))
  both = data.load("idx:" + str(tmp_path), "train+test")
  assert both.images.shape == (8, 28, 28, 1)
  assert both.images[0, 0, 0, 0] == 7 and both.images[-1, 0, 0, 0] == 9
  assert both.labels.tolist() == [0, 1, 2, 3, 4, -1, -1, -1]  # Test labels missing: unknown.


def test_pipeline_batches(mnist):
  subset = mnist.take(600)
  pipeline = data.Pipeline(subset, batch_size=128, shuffle_buffer=60000, seed=3)
  batches = list(pipeline.epoch(1))
  assert len(batches) == pipeline.steps_per_epoch == 4  # 600 // 128: full batches only.
  for images, labels in batches:
    assert images.shape == (128, 28, 28, 1) and images.dtype.name == "float32"
    assert labels.shape == (128,)
    assert float(images.numpy().min()) >= -1.0 and float(images.numpy().max()) <= 1.0
  flat = np.concatenate([b[0].numpy() for b in batches])
  assert flat.min() == -1.0 and flat.max() == 1.0  # Black and white pixels reach both ends.


def test_pipeline_order_is_seeded_per_epoch(mnist):
  subset = mnist.take(512)
  first = lambda p, e: next(iter(p.epoch(e)))[1].numpy()  # noqa: E731
  a = data.Pipeline(subset, 64, 512, seed=1)
  b = data.Pipeline(subset, 64, 512, seed=1)
  np.testing.assert_array_equal(first(a, 2), first(b, 2))  # A resumed run sees epoch 2 as a fresh one did.
  assert not np.array_equal(first(a, 1), first(a, 2))
  assert not np.array_equal(first(a, 1), first(data.Pipeline(subset, 64, 512, seed=2), 1))


def test_batch_larger_than_dataset(mnist):
  with pytest.raises(DataError, match="larger than the 100 images"):
    data.Pipeline(mnist.take(100), batch_size=256, shuffle_buffer=10, seed=0)


def test_missing_directory(tmp_path):
  with pytest.raises(DataError, match="does not exist"):
    data.load("idx:" + str(tmp_path / "nope"), "train")


def test_missing_split_file(tmp_path):
  with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
    data.load("idx:" + str(tmp_path), "train")


def test_bad_split_name(tmp_path):
  with pytest.raises(DataError, match="not one of"):
    data.load("idx:" + str(tmp_path), "validation")


def test_wrong_magic(tmp_path):
  write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28)), magic_dims=2)
  with pytest.raises(DataError, match="magic number"):
    data.load_idx(tmp_path, "train")


def test_truncated_raw_and_gzip(tmp_path):
  path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28)))
  path.write_bytes(path.read_bytes()[:-100])
  with pytest.raises(DataError, match="truncated"):
    data.load_idx(tmp_path, "train")
  path.unlink()
  gz = write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 28)))
  gz.write_bytes(gz.read_bytes()[:-20])
  with pytest.raises(DataError, match="truncated"):
    data.load_idx(tmp_path, "train")


def test_label_count_mismatch(tmp_path):
  write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 28)))
  write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3))
  with pytest.raises(DataError, match="4 images but .* 3 labels"):
    data.load_idx(tmp_path, "train")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_fuzzed_idx_bytes_raise_only_data_error(tmp_path_factory, raw, compress):
  path = tmp_path_factory.mktemp("fuzz") / ("x.gz" if compress else "x")
  path.write_bytes(gzip.compress(raw) if compress else raw)
  try:
    array = data.read_idx(path, 3)
  except DataError:
    return
  assert array.ndim == 3 and array.dtype == np.uint8


def test_unknown_tfds_name():
  with pytest.raises(DataError, match="no TFDS dataset is called"):
    data.load("surely_not_a_tfds_dataset", "train")


def test_tfds_offline_points_to_idx(tmp_path, monkeypatch):
  monkeypatch.setattr(data, "_online", lambda: False)
  with pytest.raises(DataError, match="--dataset=idx:DIR"):
    data.load("mnist", "train", data_dir=str(tmp_path))


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist"])
def test_tfds_source(name, tmp_path):
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=40):
    images = data.load(name, "train", data_dir=str(tmp_path))
  assert images.images.shape == (40, 28, 28, 1) and images.images.dtype == np.uint8
  assert len(images.labels) == 40


def test_tfds_rejects_other_image_shapes(tmp_path):
  with pytest.raises(DataError, match="only 28x28x1"):
    data.load("cifar10", "train", data_dir=str(tmp_path))
