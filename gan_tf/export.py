"""The generator as a SavedModel, and loading it back.

The export needs nothing of this package to load: its `serving_default`
signature maps `noise` (float32 `[None, latent_dim]`) to `images` (float32
`[None, H, W, C]` in [-1, 1]).
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from gan_tf.errors import UserError


class _Generator(tf.Module):

  def __init__(self, generator, latent_dim):
    super().__init__(name="generator")
    self.generator = generator
    self.serve = tf.function(
        self._serve, input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name="noise")])

  def _serve(self, noise):
    return {"images": tf.cast(self.generator(noise, training=False), tf.float32)}


def is_saved_model(path) -> bool:
  path = Path(path)
  return (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()


def check_export_dir(export_dir) -> None:
  """Refuses a path that holds something other than a SavedModel, before any work."""
  path = Path(export_dir)
  if path.exists() and not (path.is_dir() and (is_saved_model(path) or not any(path.iterdir()))):
    raise UserError(f"--export_dir={export_dir} exists and is not a SavedModel; choose another path")


def export(generator, latent_dim, export_dir) -> Path:
  """Writes the SavedModel beside `export_dir`, then swaps it in."""
  check_export_dir(export_dir)
  path = Path(export_dir)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp"))
  try:
    module = _Generator(generator, latent_dim)
    tf.saved_model.save(module, str(tmp / "model"), signatures={"serving_default": module.serve})
    if path.exists():
      path.rename(tmp / "old")  # Removed with tmp below.
    (tmp / "model").rename(path)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return path


class Exported:
  """A loaded export: `latent_dim`, `image_shape`, and `__call__(noise) -> images`."""

  def __init__(self, export_dir):
    if not is_saved_model(export_dir):
      raise UserError(f"--model={export_dir} is not a SavedModel directory (see bin/export)")
    self.fn = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    spec = self.fn.structured_input_signature[1]["noise"]
    self.latent_dim = int(spec.shape[-1])
    self.image_shape = tuple(self.fn.structured_outputs["images"].shape[1:])

  def __call__(self, noise):
    noise = np.asarray(noise, np.float32)
    if noise.ndim != 2 or noise.shape[1] != self.latent_dim:
      raise UserError(f"the model takes noise of shape [N, {self.latent_dim}], got {list(noise.shape)}")
    return self.fn(noise=tf.constant(noise))["images"].numpy()
