"""Image data: sources (TFDS by name, local IDX files) and the tf.data pipeline.

A source is read once into memory as uint8 `[N, H, W, C]` (MNIST-style datasets
are tens of MB), which is the pipeline's cache; each epoch then shuffles it with
a seed derived from (seed, epoch), so the data order of any epoch is the same
whether a run was resumed or not.
"""

import dataclasses
import gzip
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from gan_tf.errors import DataError

IDX_PREFIXES = {"train": ("train",), "test": ("t10k",), "train+test": ("train", "t10k")}
_UBYTE = 0x08


@dataclasses.dataclass
class ImageSet:
  """Images as uint8 `[N, H, W, C]` and integer labels `[N]` (-1 where unknown)."""
  images: np.ndarray
  labels: np.ndarray
  name: str

  def __post_init__(self):
    if self.images.ndim != 4 or self.images.dtype != np.uint8:
      raise DataError(f"{self.name}: expected uint8 images [N, H, W, C], got {self.images.dtype} {self.images.shape}")
    if len(self.labels) != len(self.images):
      raise DataError(f"{self.name}: {len(self.images)} images but {len(self.labels)} labels")

  def __len__(self):
    return len(self.images)

  @property
  def image_shape(self):
    return tuple(self.images.shape[1:])

  def take(self, n: int) -> "ImageSet":
    return ImageSet(self.images[:n], self.labels[:n], f"{self.name}[:{n}]")


def load(dataset: str, split: str = "train", data_dir: Optional[str] = None) -> ImageSet:
  """`idx:DIR` reads IDX files from DIR; any other name is a TFDS dataset."""
  if dataset.startswith("idx:"):
    return load_idx(dataset[len("idx:"):], split)
  return load_tfds(dataset, split, data_dir)


# --- IDX files (the format MNIST, Fashion-MNIST and KMNIST are distributed in).

def read_idx(path, ndim: int) -> np.ndarray:
  """Reads one IDX file of unsigned bytes with `ndim` dimensions."""
  path = Path(path)
  try:
    if path.suffix == ".gz":
      with gzip.open(path, "rb") as f:
        raw = f.read()
    else:
      raw = path.read_bytes()
  except (OSError, EOFError, zlib.error) as e:
    raise DataError(f"cannot read {path}: {e} (is the file truncated or not gzip?)") from None
  header = 4 + 4 * ndim
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE or raw[3] != ndim:
    raise DataError(
        f"{path} is not an IDX file of {ndim}-d unsigned bytes "
        f"(magic number {raw[:4].hex() or 'missing'}, expected 000008{ndim:02x})")
  if len(raw) < header:
    raise DataError(f"{path} is truncated: its header is incomplete")
  dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
  expected = header + int(np.prod(dims, dtype=np.int64))
  if len(raw) != expected:
    what = "truncated" if len(raw) < expected else "longer than its header says"
    raise DataError(f"{path} is {what}: {len(raw)} bytes for dimensions {dims}, expected {expected}")
  return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _find(directory: Path, prefix: str, kind: str, ndim: int) -> Optional[Path]:
  for name in (f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte"):
    for candidate in (directory / name, directory / (name + ".gz")):
      if candidate.is_file():
        return candidate
  return None


def load_idx(directory, split: str = "train") -> ImageSet:
  directory = Path(directory)
  if not directory.is_dir():
    raise DataError(f"dataset directory {directory} does not exist; pass --dataset=idx:DIR with the IDX files in DIR")
  if split not in IDX_PREFIXES:
    raise DataError(f"--split={split!r} is not one of {', '.join(IDX_PREFIXES)} for IDX files")
  images, labels = [], []
  for prefix in IDX_PREFIXES[split]:
    image_path = _find(directory, prefix, "images", 3)
    if image_path is None:
      raise DataError(f"no {prefix}-images-idx3-ubyte[.gz] in {directory} (split {split!r} needs it)")
    x = read_idx(image_path, 3)
    label_path = _find(directory, prefix, "labels", 1)
    if label_path is None:
      y = np.full(len(x), -1, np.int64)
    else:
      y = read_idx(label_path, 1).astype(np.int64)
      if len(y) != len(x):
        raise DataError(f"{image_path} holds {len(x)} images but {label_path} holds {len(y)} labels")
    images.append(x[..., None])
    labels.append(y)
  return ImageSet(np.concatenate(images), np.concatenate(labels), f"idx:{directory}/{split}")


# --- TFDS.

def load_tfds(name: str, split: str = "train", data_dir: Optional[str] = None) -> ImageSet:
  import tensorflow_datasets as tfds  # Slow to import; only TFDS users pay for it.

  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise DataError(f"no TFDS dataset is called {name!r}; see https://www.tensorflow.org/datasets/catalog, "
                    f"or pass --dataset=idx:DIR for local IDX files") from None
  features = builder.info.features
  image = features["image"] if "image" in features.keys() else None
  if image is None:
    raise DataError(f"TFDS dataset {name!r} has no 'image' feature")
  if tuple(image.shape) != (28, 28, 1):
    raise DataError(f"TFDS dataset {name!r} has {tuple(image.shape)} images; only 28x28x1 datasets are supported")

  def read():
    try:
      batches = list(tfds.as_numpy(builder.as_dataset(split=split).batch(10000)))
    except (ValueError, KeyError) as e:
      raise DataError(f"TFDS dataset {name!r} has no split {split!r} ({e})") from None
    if not batches:
      raise DataError(f"TFDS dataset {name!r} split {split!r} is empty")
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}

  try:
    arrays = read()
  except AssertionError:  # TFDS's way of saying the dataset is not prepared yet.
    if not _online():
      raise DataError(
          f"TFDS dataset {name!r} is not in {builder.data_dir} and there is no network to download it; "
          f"pass --dataset=idx:DIR with the dataset's IDX files (train-images-idx3-ubyte.gz, ...) in DIR") from None
    try:
      builder.download_and_prepare()
    except Exception as e:  # Download errors come from many libraries; all mean the same to the user.
      raise DataError(
          f"could not download TFDS dataset {name!r} into {builder.data_dir} ({type(e).__name__}: {e}); "
          f"without network access, pass --dataset=idx:DIR with the dataset's IDX files in DIR") from None
    arrays = read()
  labels = arrays.get("label", np.full(len(arrays["image"]), -1))
  return ImageSet(np.asarray(arrays["image"], np.uint8), np.asarray(labels, np.int64), f"{name}/{split}")


def _online(host="storage.googleapis.com", timeout=5.0) -> bool:
  """TFDS retries a failed download for minutes; a quick look at the host it
  downloads from first tells an offline machine in seconds."""
  import socket
  try:
    socket.create_connection((host, 443), timeout=timeout).close()
    return True
  except OSError:
    return False


# --- The pipeline.

class Pipeline:
  """Shuffled, full batches of float32 images in [-1, 1] and int32 labels."""

  def __init__(self, data: ImageSet, batch_size: int, shuffle_buffer: int, seed: int):
    import tensorflow as tf

    if batch_size > len(data):
      raise DataError(f"--batch_size={batch_size} is larger than the {len(data)} images of {data.name}; "
                      f"lower --batch_size")
    self._tf = tf
    self.batch_size = batch_size
    self.steps_per_epoch = len(data) // batch_size
    self._buffer = min(shuffle_buffer, len(data))
    self._seed = seed
    self._base = tf.data.Dataset.from_tensor_slices((data.images, data.labels.astype(np.int32))).cache()

  def epoch(self, epoch: int):
    """The batches of epoch `epoch` (1-based)."""
    tf = self._tf
    seed = int(np.random.SeedSequence([self._seed, epoch]).generate_state(1)[0])
    return (self._base
            .shuffle(self._buffer, seed=seed, reshuffle_each_iteration=False)
            .batch(self.batch_size, drop_remainder=True, num_parallel_calls=tf.data.AUTOTUNE,
                   deterministic=True)
            .map(_normalise, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def _normalise(images, labels):
  import tensorflow as tf
  return tf.cast(images, tf.float32) / 127.5 - 1.0, labels
