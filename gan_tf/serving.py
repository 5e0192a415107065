"""The generator as a SavedModel, and loading it back.

The export needs nothing of this package to load: its `serving_default`
signature maps `noise` (float32 `[None, latent_dim]`) to `images` (float32
`[None, H, W, C]` in [-1, 1]); a conditional generator's also takes `label`
(int32 `[None]`, in [0, num_classes)), and the model's `num_classes`
variable says how many classes it knows.
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from gan_tf.api import Generator
from gan_tf.errors import UserError


class _Generator(tf.Module):
  def __init__(self, generator, latent_dim, num_classes=0):
    super().__init__(name="generator")
    self.generator = generator
    self.num_classes = tf.Variable(num_classes, dtype=tf.int32, trainable=False, name="num_classes")
    noise = tf.TensorSpec([None, latent_dim], tf.float32, name="noise")
    if num_classes:
      self.serve = tf.function(self._serve_conditional, input_signature=[noise, tf.TensorSpec([None], tf.int32, name="label")])
    else:
      self.serve = tf.function(self._serve, input_signature=[noise])

  def _serve(self, noise):
    return {"images": tf.cast(self.generator(noise, training=False), tf.float32)}

  def _serve_conditional(self, noise, label):
    tf.debugging.assert_equal(tf.shape(noise)[0], tf.shape(label)[0], message="noise and label differ in length")
    tf.debugging.assert_less(label, self.num_classes, message="label out of range")
    tf.debugging.assert_non_negative(label, message="label out of range")
    return {"images": tf.cast(self.generator([noise, label], training=False), tf.float32)}


def is_saved_model(path) -> bool:
  path = Path(path)
  return (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()


def check_export_dir(export_dir) -> None:
  """Refuses a path that holds something other than a SavedModel, before any work."""
  path = Path(export_dir)
  if path.exists() and not (path.is_dir() and (is_saved_model(path) or not any(path.iterdir()))):
    raise UserError(f"@export_dir={export_dir} exists and is not a SavedModel; choose another path")


def export(generator, latent_dim, export_dir, num_classes=0) -> Path:
  """Writes the SavedModel beside `export_dir`, then swaps it in; a
  conditional generator (`num_classes` > 0) takes `[noise, labels]`."""
  check_export_dir(export_dir)
  path = Path(export_dir)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp"))
  try:
    module = _Generator(generator, latent_dim, num_classes)
    tf.saved_model.save(module, str(tmp / "model"), signatures={"serving_default": module.serve})
    if path.exists():
      path.rename(tmp / "old")  # Removed with tmp below.
    (tmp / "model").rename(path)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return path


class Exported(Generator):
  """A loaded export: `latent_dim`, `image_shape`, `num_classes` (0:
  unconditional), and `__call__(noise, labels=None) -> images`."""

  def __init__(self, export_dir):
    if not is_saved_model(export_dir):
      raise UserError(f"@model={export_dir} is not a SavedModel directory (see the export command)")
    loaded = tf.saved_model.load(str(export_dir))
    self.fn = loaded.signatures["serving_default"]
    inputs = self.fn.structured_input_signature[1]
    self.latent_dim = int(inputs["noise"].shape[-1])
    self.image_shape = tuple(self.fn.structured_outputs["images"].shape[1:])
    self.num_classes = int(loaded.num_classes.numpy()) if "label" in inputs else 0

  def __call__(self, noise, labels=None):
    noise, labels = check_inputs(noise, labels, self.latent_dim, self.num_classes)
    if labels is None:
      return self.fn(noise=tf.constant(noise))["images"].numpy()
    return self.fn(noise=tf.constant(noise), label=tf.constant(labels))["images"].numpy()


def check_inputs(noise, labels, latent_dim, num_classes):
  """`noise` as float32 [N, latent_dim], and `labels` as int32 [N] for a
  conditional generator (None otherwise); a wrong shape or label is a UserError."""
  noise = np.asarray(noise, np.float32)
  if noise.ndim != 2 or noise.shape[1] != latent_dim:
    raise UserError(f"the model takes noise of shape [N, {latent_dim}], got {list(noise.shape)}")
  if not num_classes:
    if labels is not None:
      raise UserError("this model is not conditional: it takes no labels")
    return noise, None
  if labels is None:
    raise UserError(f"this model is conditional: it needs a label (0 to {num_classes - 1}) per image")
  labels = np.broadcast_to(np.asarray(labels, np.int32), (len(noise),))
  if labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
    raise UserError(f"labels must be 0 to {num_classes - 1} for this model")
  return noise, labels
