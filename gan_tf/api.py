"""The Python API that `gan_tf` exports: train, load_generator, export, evaluate.

TensorFlow is imported when one of these is called, not before.
"""

from pathlib import Path

import numpy as np

from gan_tf.config import Config
from gan_tf.errors import ConfigError, UserError


def train(config: Config, run_dir, dataset=None, callbacks=None, default_callbacks=True) -> dict:
  """Trains to `config.epochs` epochs in all, continuing the run in `run_dir`
  if there is one (as the `train` command does), and returns the last
  epoch's logs (empty if the run was already that far).

  `dataset` (a `gan_tf.data.ImageSet`) replaces the one the config names;
  `callbacks` are `gan_tf.callbacks.Callback`s run after the default ones
  (`gan_tf.callbacks.defaults`), or instead of them with `default_callbacks=False`.
  A stop on SIGINT or SIGTERM saves a checkpoint and raises
  `gan_tf.errors.Interrupted`.
  """
  if not isinstance(config, Config):
    raise TypeError(f"train() takes a gan_tf.Config, not {type(config).__name__}")
  from gan_tf import loop

  return loop.train(config, run_dir, dataset=dataset, callbacks=callbacks, default_callbacks=default_callbacks)


class Generator:
  """A trained generator: `generator(noise, labels=None)` maps float32 noise
  `[N, latent_dim]` (and, if conditional, int labels `[N]`) to float32 images
  `[N, H, W, C]` in [-1, 1]; `sample(n, seed, labels)` draws its own noise."""

  latent_dim: int
  image_shape: tuple
  num_classes: int  # 0: unconditional.

  def __call__(self, noise, labels=None) -> np.ndarray:
    raise NotImplementedError

  def sample(self, n: int, seed: int = 0, labels=None) -> np.ndarray:
    """`n` images from noise drawn with `seed`; a conditional generator
    without `labels` draws the classes in turn."""
    noise = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
    if self.num_classes and labels is None:
      labels = np.arange(n, dtype=np.int32) % self.num_classes
    return self(noise, labels)


class _RunGenerator(Generator):
  """The sampling generator of a run directory's checkpoint."""

  def __init__(self, run_dir, best=False, sample_from=None, bn_stats=None):
    from gan_tf import restore, rundir

    self.keras_model, self.config = restore.restore_generator(run_dir, sample_from, bn_stats, best=best)
    self.latent_dim = self.config.latent_dim
    self.image_shape = tuple(rundir.image_shape(run_dir))
    self.num_classes = rundir.num_classes(run_dir) if self.config.conditional else 0

  def __call__(self, noise, labels=None):
    from gan_tf import serving

    noise, labels = serving.check_inputs(noise, labels, self.latent_dim, self.num_classes)
    inputs = noise if labels is None else [noise, labels]
    return np.asarray(self.keras_model(inputs, training=False), np.float32)


def load_generator(path, best=False, sample_from=None, bn_stats=None) -> Generator:
  """The generator in `path`: an export (a SavedModel from `export`, or its TFLite file) or a run
  directory (its latest checkpoint, or its best by FID with `best`;
  `sample_from` and `bn_stats` override the run's settings)."""
  from gan_tf import serving

  if serving.is_saved_model(path) or str(path).endswith(".tflite"):
    if best or sample_from or bn_stats:
      raise UserError("@best, @sample_from and @bn_stats apply to a run directory, not to an export")
    return serving.load(path)
  return _RunGenerator(path, best, sample_from, bn_stats)


def export(run_dir, export_dir, best=False, sample_from=None, bn_stats=None, tflite=None) -> Path:
  """Exports the generator of the run in `run_dir` as a SavedModel in
  `export_dir` (replacing the export there), with the Keras model beside it
  in `generator.keras`, and returns its path. `tflite`: also a TFLite model
  at this path."""
  from gan_tf import serving

  serving.check_export_dir(export_dir)
  generator = _RunGenerator(run_dir, best, sample_from, bn_stats)
  return serving.export(generator.keras_model, generator.latent_dim, export_dir, generator.num_classes, tflite=tflite)


def evaluate(
  path,
  dataset=None,
  split=None,
  data_dir=None,
  num=10000,
  seed=0,
  classifier_dir=None,
  best=False,
  sample_from=None,
  bn_stats=None,
) -> dict:
  """Sample quality of the generator in `path` (an export or a run
  directory): FID, KID, precision, recall, classifier score and class
  coverage of `num` generated against `num` real images, beside the same
  for two halves of the real data (the floor). A run is measured against
  the data it was trained on unless `dataset` or `split` say otherwise; an
  export needs `dataset`. The dataset's classifier is trained once and cached
  in `classifier_dir` (default: $XDG_CACHE_HOME/gan_tf/classifiers)."""
  if not isinstance(num, int) or num < 8:
    raise ConfigError("num", f"@num must be at least 8 (the nearest-neighbour metrics need it), got {num!r}")
  from gan_tf import data as data_lib
  from gan_tf import quality

  generator = load_generator(path, best, sample_from, bn_stats)
  if isinstance(generator, _RunGenerator):
    # The data the run was trained on, unless the caller names other data.
    dataset = dataset or generator.config.dataset
    split = split or generator.config.split
    data_dir = data_dir or generator.config.data_dir
  elif dataset is None:
    raise ConfigError("dataset", "an export does not record its data; pass @dataset (and @split)")
  shape = generator.image_shape
  data = data_lib.load(dataset, split or "train", data_dir, image_size=shape[0], channels=shape[2])
  classifier = quality.load_classifier(data, classifier_dir)
  report = quality.evaluate(generator, generator.latent_dim, data, classifier, num, seed, generator.num_classes)
  report.update(model=str(path) + (" (best)" if best else ""), dataset=dataset, split=split or "train")
  return report
