"""Image sources: TFDS by name, local IDX files, CIFAR batches, a folder of images.

Each is read once into memory as an `ImageSet` of uint8 `[N, H, W, C]`
(MNIST-style datasets are tens of MB): the pipeline's cache.
"""

import dataclasses
import gzip
import zlib
from pathlib import Path

import numpy as np

from gan_tf.errors import DataError
from gan_tf.images import center_square

IDX_PREFIXES = {"train": ("train",), "test": ("t10k",), "train+test": ("train", "t10k")}
_UBYTE = 0x08


@dataclasses.dataclass
class ImageSet:
  """Images as uint8 `[N, H, W, C]` and integer labels `[N]` (-1 where unknown)."""

  images: np.ndarray
  labels: np.ndarray
  name: str
  class_names: list | None = None

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

  @property
  def num_classes(self) -> int:
    """Classes the labels name (0 when the images are unlabelled)."""
    return int(self.labels.max()) + 1 if len(self.labels) and self.labels.min() >= 0 else 0

  def take(self, n: int) -> "ImageSet":
    return ImageSet(self.images[:n], self.labels[:n], f"{self.name}[:{n}]", self.class_names)


LOCAL_HELP = (
  "@dataset=idx:DIR (IDX files such as MNIST's), cifar:DIR (the CIFAR-10/100 batches or their "
  ".tar.gz) or folder:DIR (image files, a sub-folder per class)"
)


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
      f"(magic number {raw[:4].hex() or 'missing'}, expected 000008{ndim:02x})"
    )
  if len(raw) < header:
    raise DataError(f"{path} is truncated: its header is incomplete")
  dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
  expected = header + int(np.prod(dims, dtype=np.int64))
  if len(raw) != expected:
    what = "truncated" if len(raw) < expected else "longer than its header says"
    raise DataError(f"{path} is {what}: {len(raw)} bytes for dimensions {dims}, expected {expected}")
  return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _find(directory: Path, prefix: str, kind: str, ndim: int) -> Path | None:
  for name in (f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte"):
    for candidate in (directory / name, directory / (name + ".gz")):
      if candidate.is_file():
        return candidate
  return None


def load_idx(directory, split: str = "train") -> ImageSet:
  directory = Path(directory)
  if not directory.is_dir():
    raise DataError(f"dataset directory {directory} does not exist; pass @dataset=idx:DIR with the IDX files in DIR")
  if split not in IDX_PREFIXES:
    raise DataError(f"@split={split!r} is not one of {', '.join(IDX_PREFIXES)} for IDX files")
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


# --- CIFAR-10 and CIFAR-100 as distributed by their authors.

CIFAR_SPLITS = {
  "train": ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "train"),
  "test": ("test_batch", "test"),
}


def load_cifar(path, split: str = "train") -> ImageSet:
  """CIFAR-10 or CIFAR-100 from the "python version" (pickled batches) or the
  CIFAR-10 "binary version", extracted into `path` or as the .tar.gz itself."""
  import pickle
  import tarfile

  path = Path(path)
  if split not in ("train", "test", "train+test"):
    raise DataError(f"@split={split!r} is not one of train, test, train+test for CIFAR files")
  wanted = [name for part in split.split("+") for name in CIFAR_SPLITS[part]]
  files = {}  # batch name -> bytes
  try:
    if path.is_file():
      with tarfile.open(path) as archive:
        for member in archive.getmembers():
          name = Path(member.name).name
          if member.isfile() and (name in wanted or name.removesuffix(".bin") in wanted):
            files[name] = archive.extractfile(member).read()
    elif path.is_dir():
      for candidate in sorted(path.rglob("*")):
        if candidate.is_file() and (candidate.name in wanted or candidate.name.removesuffix(".bin") in wanted):
          files[candidate.name] = candidate.read_bytes()
    else:
      raise DataError(f"{path} does not exist; pass @dataset=cifar:PATH with the CIFAR batches (or their .tar.gz)")
  except (OSError, tarfile.TarError, EOFError) as e:
    raise DataError(f"cannot read {path}: {e}") from None
  images, labels = [], []
  for name in wanted:
    for stored in (name, name + ".bin"):
      if stored not in files:
        continue
      raw = files[stored]
      if stored.endswith(".bin"):  # CIFAR-10 binary: a label byte, then 3072 bytes of channel planes.
        if len(raw) % 3073:
          raise DataError(f"{stored} in {path} is not a CIFAR-10 binary batch ({len(raw)} bytes)")
        records = np.frombuffer(raw, np.uint8).reshape(-1, 3073)
        labels.append(records[:, 0].astype(np.int64))
        images.append(records[:, 1:])
      else:
        try:
          batch = pickle.loads(raw, encoding="bytes")
          pixels = np.asarray(batch[b"data"], np.uint8)
          y = batch.get(b"labels", batch.get(b"fine_labels"))
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, AttributeError, ValueError) as e:
          raise DataError(f"{stored} in {path} is not a CIFAR python batch ({e})") from None
        if y is None or pixels.ndim != 2 or pixels.shape[1] != 3072 or len(y) != len(pixels):
          raise DataError(f"{stored} in {path} is not a CIFAR python batch of 32x32x3 images and labels")
        labels.append(np.asarray(y, np.int64))
        images.append(pixels)
  if not images:
    raise DataError(f"no CIFAR batches for split {split!r} in {path} (expected {', '.join(wanted[:2])}, ...)")
  pixels = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  return ImageSet(np.ascontiguousarray(pixels), np.concatenate(labels), f"cifar:{path}/{split}")


# --- A folder of image files.

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def load_folder(directory, split: str = "train", image_size: int = 0, channels: int = 0) -> ImageSet:
  """Every image file under `directory`. Files in sub-folders are labelled by
  the sub-folder (sorted names: the first is class 0), as Keras's
  image_dataset_from_directory does; files directly in `directory` are
  unlabelled. Images are converted to `channels` (0: RGB if any image has
  colour, else grey) and to `image_size` (0: their own size, which they must
  then share)."""
  from PIL import Image, UnidentifiedImageError

  directory = Path(directory)
  if not directory.is_dir():
    raise DataError(f"{directory} is not a directory; pass @dataset=folder:DIR with image files in DIR")
  if split != "train":
    raise DataError(f"a folder of images has one split, 'train'; pass @split=train, not {split!r}")
  paths = sorted(
    p
    for p in directory.rglob("*")
    if p.suffix.lower() in IMAGE_SUFFIXES
    and p.is_file()
    and not any(part.startswith(".") for part in p.relative_to(directory).parts)
  )
  if not paths:
    raise DataError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {directory}")
  classes = sorted({p.relative_to(directory).parts[0] for p in paths if len(p.relative_to(directory).parts) > 1})
  loose = [p for p in paths if len(p.relative_to(directory).parts) == 1]
  if classes and loose:
    raise DataError(
      f"{directory} holds images both in sub-folders (classes) and beside them ({loose[0].name}); "
      f"move them into sub-folders or use a folder without any"
    )
  pictures = []
  for path in paths:
    try:
      with Image.open(path) as image:
        image.load()
        pictures.append(image.copy())
    except Image.DecompressionBombError as e:
      raise DataError(f"{path} is too large to read safely ({e}); remove it or shrink it") from None
    except (OSError, UnidentifiedImageError, ValueError) as e:
      raise DataError(f"cannot read {path} as an image: {e}") from None
  if not channels:
    channels = 3 if any(p.mode not in ("1", "L", "LA", "I", "I;16", "F") for p in pictures) else 1
  sizes = {p.size for p in pictures}
  if not image_size and len(sizes) > 1:
    raise DataError(
      f"the images in {directory} have {len(sizes)} different sizes; pass @image_size=N "
      f"(e.g. 32 or 64) to crop and resize them to N x N"
    )
  converted = []
  for picture in pictures:
    array = np.asarray(picture.convert("RGB" if channels == 3 else "L"), np.uint8)
    array = array[..., None] if array.ndim == 2 else array
    converted.append(center_square(array, image_size).numpy() if image_size else array)
  labels = np.array([classes.index(p.relative_to(directory).parts[0]) if classes else -1 for p in paths], np.int64)
  return ImageSet(np.stack(converted), labels, f"folder:{directory}", classes or None)


# --- TFDS.


def load_tfds(name: str, split: str = "train", data_dir: str | None = None, image_size: int = 0) -> ImageSet:
  """Any TFDS dataset with an `image` feature of 1 or 3 channels; images of
  varying size need `image_size`, to which they are cropped and resized as
  they are read."""
  import tensorflow_datasets as tfds  # Slow to import; only TFDS users pay for it.

  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise DataError(
      f"no TFDS dataset is called {name!r}; see https://www.tensorflow.org/datasets/catalog, or pass {LOCAL_HELP}"
    ) from None
  features = builder.info.features
  image = features["image"] if "image" in features.keys() else None
  if image is None:
    raise DataError(f"TFDS dataset {name!r} has no 'image' feature")
  shape = tuple(image.shape)
  if len(shape) != 3 or shape[-1] not in (1, 3):
    raise DataError(f"TFDS dataset {name!r} has {shape} images; only images with 1 or 3 channels are supported")
  if None in shape[:2] and not image_size:
    raise DataError(
      f"TFDS dataset {name!r} has images of varying size; pass @image_size=N (e.g. 64) to crop and resize them to N x N"
    )

  def read():
    import tensorflow as tf

    def square(example):
      picture = example["image"]
      if None in shape[:2]:  # Central square, resized as it is read: only fixed-size images are held.
        picture = center_square(picture, image_size)
      return {"image": picture, "label": example.get("label", tf.constant(-1, tf.int64))}

    try:
      dataset = builder.as_dataset(split=split).map(square, num_parallel_calls=tf.data.AUTOTUNE)
      batches = list(tfds.as_numpy(dataset.batch(10000)))
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
        f"TFDS dataset {name!r} is not in {builder.data_dir} and there is no network to download it; pass {LOCAL_HELP}"
      ) from None
    try:
      builder.download_and_prepare()
    except Exception as e:  # Download errors come from many libraries; all mean the same to the user.
      raise DataError(
        f"could not download TFDS dataset {name!r} into {builder.data_dir} ({type(e).__name__}: {e}); "
        f"without network access, pass {LOCAL_HELP}"
      ) from None
    arrays = read()
  label = features["label"] if "label" in features.keys() else None
  names = list(label.names) if label is not None and hasattr(label, "names") else None
  return ImageSet(np.asarray(arrays["image"], np.uint8), np.asarray(arrays["label"], np.int64), f"{name}/{split}", names)


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
