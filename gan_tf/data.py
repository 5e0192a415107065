"""Image data: a dataset by name, made the size the run asks for, and the tf.data pipeline.

The sources themselves (TFDS, IDX files, CIFAR batches, a folder of images)
are sources.py's.

Each epoch shuffles the images in memory with a seed derived from (seed,
epoch), so the data order of any epoch is the same whether a run was
resumed or not.
"""

import numpy as np

from gan_tf.errors import DataError
from gan_tf.images import center_square, from_uint8
from gan_tf.sources import ImageSet, load_cifar, load_folder, load_idx, load_tfds


def load(dataset: str, split: str = "train", data_dir: str | None = None, image_size: int = 0, channels: int = 0) -> ImageSet:
  """`idx:DIR`, `cifar:PATH` and `folder:DIR` read local files; any other
  name is a TFDS dataset. `image_size` and `channels` (0: as stored) convert
  the images (see `convert`)."""
  if dataset.startswith("idx:"):
    data = load_idx(dataset[len("idx:") :], split)
  elif dataset.startswith("cifar:"):
    data = load_cifar(dataset[len("cifar:") :], split)
  elif dataset.startswith("folder:"):
    return load_folder(dataset[len("folder:") :], split, image_size, channels)
  else:
    data = load_tfds(dataset, split, data_dir, image_size)
  return convert(data, image_size, channels)


def convert(data: ImageSet, image_size: int = 0, channels: int = 0) -> ImageSet:
  """Square `image_size` x `image_size` images (the central square, resized
  with antialiasing) with `channels` channels (grey <-> RGB); 0 keeps each."""
  images = data.images
  if channels and images.shape[-1] != channels:
    if images.shape[-1] == 1:
      images = np.repeat(images, channels, axis=-1)
    else:  # ITU-R 601 luma, as Pillow's convert("L") and tf.image.rgb_to_grayscale.
      luma = images[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
      images = np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
  if image_size and images.shape[1:3] != (image_size, image_size):
    # In parts: bounded memory for large sets.
    out = [center_square(images[start : start + 2048], image_size).numpy() for start in range(0, len(images), 2048)]
    images = np.concatenate(out) if out else np.zeros((0, image_size, image_size, images.shape[-1]), np.uint8)
  if images is data.images:
    return data
  return ImageSet(images, data.labels, data.name, data.class_names)


def examples(data: ImageSet, count: int, labels=None, seed: int = 0) -> np.ndarray:
  """`count` real images (uint8) at random, or with `labels`, one of each
  label's class per entry: a grid of real images laid out as the samples are.
  Without repeats where the data allows."""
  rng = np.random.default_rng(seed)
  if labels is None:
    return data.images[rng.choice(len(data), count, replace=count > len(data))]
  labels = np.asarray(labels)
  picks = np.zeros(len(labels), np.int64)
  for label in np.unique(labels):
    wanted = np.flatnonzero(labels == label)
    pool = np.flatnonzero(data.labels == label)
    pool = pool if len(pool) else np.arange(len(data))
    picks[wanted] = rng.choice(pool, len(wanted), replace=len(wanted) > len(pool))
  return data.images[picks]


class Pipeline:
  """Shuffled, full batches of float32 images in [-1, 1] and int32 labels."""

  def __init__(self, data: ImageSet, batch_size: int, seed: int):
    import tensorflow as tf

    if batch_size > len(data):
      raise DataError(f"@batch_size={batch_size} is larger than the {len(data)} images of {data.name}; lower @batch_size")
    self._tf = tf
    self.batch_size = batch_size
    self.steps_per_epoch = len(data) // batch_size
    self._size = len(data)
    self._seed = seed
    self._images = tf.constant(data.images)
    self._labels = tf.constant(data.labels.astype(np.int32))

  def batches(self, first_epoch: int = 1, skip: int = 0):
    """The batches of every epoch from `first_epoch` (1-based) on, without
    the first `skip` (steps already done before a resume).

    One dataset for the rest of the run, so the next epoch's first batches
    are ready when an epoch ends. Each epoch's order depends only on the
    seed and the epoch's number.
    """
    tf = self._tf
    options = tf.data.Options()
    # tf.data's autotuning thread waits up to a minute between rounds, and
    # destroying an iterator waits for it: runs ended (and stopped on
    # Ctrl-C) up to a minute late. A batch is one gather, far faster than
    # any step, so fixed settings lose nothing.
    options.autotune.enabled = False
    return (
      tf.data.Dataset.range(first_epoch, 1 << 62)
      .flat_map(self._epoch_batches)
      .skip(skip)
      .map(_normalise, num_parallel_calls=2, deterministic=True)
      .prefetch(2)
      .with_options(options)
    )

  def epoch(self, epoch: int):
    """The batches of epoch `epoch` alone."""
    return self.batches(epoch).take(self.steps_per_epoch)

  def _epoch_batches(self, epoch):
    # The images are in memory, so each epoch is a complete shuffle: a
    # permutation, each batch one gather, where a shuffle buffer would first
    # copy the whole dataset into itself element by element.
    tf = self._tf
    order = tf.random.experimental.stateless_shuffle(
      tf.range(self._size), seed=tf.stack([tf.constant(self._seed, tf.int64), epoch])
    )
    order = tf.reshape(order[: self.steps_per_epoch * self.batch_size], [self.steps_per_epoch, self.batch_size])
    return tf.data.Dataset.from_tensor_slices(order).map(lambda i: (tf.gather(self._images, i), tf.gather(self._labels, i)))


def _normalise(images, labels):

  return from_uint8(images), labels
