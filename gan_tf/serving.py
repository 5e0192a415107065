"""The generator as a SavedModel (and a .keras file, and TFLite), and loading them back.

The export needs nothing of this package to load, in Python or in
TensorFlow's other clients (`saved_model_cli run`, TensorFlow Serving, the
C++ API), because it is written by Keras's own `ExportArchive`. Its
`serving_default` signature maps `noise` (float32 `[None, latent_dim]`) to
`images` (float32 `[None, H, W, C]` in [-1, 1]); a conditional generator's
also takes `label` (int32 `[None]`, in [0, num_classes)). The `classes`
signature gives `num_classes` (0: unconditional), as does the export's
`num_classes` variable. Beside it, `generator.keras` holds the Keras model.
"""

import shutil
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gan_tf.api import Generator
from gan_tf.errors import UserError
from gan_tf.fileio import atomic_write_bytes

KERAS_FILE = "generator.keras"


def _archive(generator, latent_dim, num_classes):
  # The endpoints track the variables they use; tracking the model as well
  # would write every weight twice.
  archive = keras.export.ExportArchive()
  count = tf.Variable(num_classes, dtype=tf.int32, trainable=False, name="num_classes")
  noise = tf.TensorSpec([None, latent_dim], tf.float32, name="noise")
  if num_classes:

    def serve(noise, label):
      tf.debugging.assert_equal(tf.shape(noise)[0], tf.shape(label)[0], message="noise and label differ in length")
      tf.debugging.assert_less(label, count, message="label out of range")
      tf.debugging.assert_non_negative(label, message="label out of range")
      return {"images": tf.cast(generator([noise, label], training=False), tf.float32)}

    archive.add_endpoint("serving_default", serve, input_signature=[noise, tf.TensorSpec([None], tf.int32, name="label")])
  else:
    archive.add_endpoint(
      "serving_default",
      lambda noise: {"images": tf.cast(generator(noise, training=False), tf.float32)},
      input_signature=[noise],
    )
  archive.add_endpoint("classes", lambda: {"num_classes": tf.identity(count)}, input_signature=[])
  # `loaded.num_classes` the variable itself, as earlier exports had it.
  # ExportArchive keeps a variable collection on this object; where it has
  # none, the collection (a list of one) stands in.
  trackable = getattr(archive, "_tf_trackable", None)
  if trackable is not None:
    trackable.num_classes = count
  else:
    archive.add_variable_collection("num_classes", [count])
  return archive


def is_saved_model(path) -> bool:
  path = Path(path)
  return (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()


def check_export_dir(export_dir) -> None:
  """Refuses a path that holds something other than a SavedModel, before any work."""
  path = Path(export_dir)
  if path.exists() and not (path.is_dir() and (is_saved_model(path) or not any(path.iterdir()))):
    raise UserError(f"@export_dir={export_dir} exists and is not a SavedModel; choose another path")


def export(generator, latent_dim, export_dir, num_classes=0, tflite=None) -> Path:
  """Writes the SavedModel (and `generator.keras`) beside `export_dir`, then
  swaps it in; a conditional generator (`num_classes` > 0) takes
  `[noise, labels]`. With `tflite`, also writes a TFLite model there."""
  check_export_dir(export_dir)
  path = Path(export_dir)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(f".{path.name}.tmp*"):  # What a killed export left.
      _settle(path, leftover)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp"))
  except OSError as e:
    raise UserError(f"cannot write @export_dir={export_dir}: {e.strerror}") from None
  try:
    try:
      _archive(generator, latent_dim, num_classes).write_out(str(tmp / "model"), verbose=False)
    except (OSError, tf.errors.OpError) as e:
      reason = getattr(e, "strerror", None) or getattr(e, "message", None) or str(e)
      raise UserError(f"cannot write @export_dir={export_dir}: {reason.strip().splitlines()[0]}") from None
    try:
      generator.save(tmp / "model" / KERAS_FILE)
    except Exception as e:  # A user's layer Keras cannot serialise: the SavedModel is the export.
      print(f"note: no {KERAS_FILE} in {export_dir}: Keras cannot save this generator ({type(e).__name__}: {e})", file=sys.stderr)
    if tflite:
      write_tflite(tmp / "model", tflite)
    if path.exists():
      path.rename(tmp / "old")  # Removed with tmp below.
    (tmp / "model").rename(path)
  finally:
    _settle(path, tmp)
  return path


def _settle(path: Path, tmp: Path) -> None:
  """Removes an export's temporary directory, first putting an export back
  at `path` if it was stopped between its two renames (when "old" exists the
  new model was complete): an export directory is never left missing."""
  if not path.exists() and (tmp / "old").exists():
    (tmp / "model" if is_saved_model(tmp / "model") else tmp / "old").rename(path)
  shutil.rmtree(tmp, ignore_errors=True)


def write_tflite(saved_model_dir, tflite_path) -> Path:
  """Converts an export to a TFLite model with the same two signatures."""
  converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=["serving_default", "classes"])
  atomic_write_bytes(tflite_path, converter.convert())
  return Path(tflite_path)


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
    if "label" not in inputs:
      self.num_classes = 0
    elif "classes" in loaded.signatures:
      self.num_classes = int(loaded.signatures["classes"]()["num_classes"])
    else:  # Exports written before the classes signature kept a num_classes variable.
      self.num_classes = int(loaded.num_classes.numpy())

  def __call__(self, noise, labels=None):
    noise, labels = check_inputs(noise, labels, self.latent_dim, self.num_classes)
    if labels is None:
      return self.fn(noise=tf.constant(noise))["images"].numpy()
    return self.fn(noise=tf.constant(noise), label=tf.constant(labels))["images"].numpy()


class TFLiteGenerator(Generator):
  """A TFLite model written by `export(tflite=...)`, with the same interface."""

  def __init__(self, path):
    try:
      self.interpreter = tf.lite.Interpreter(model_path=str(path))
      signatures = self.interpreter.get_signature_list()
    except (ValueError, RuntimeError) as e:
      raise UserError(f"@model={path} is not a TFLite model written by the export command ({e})") from None
    if "serving_default" not in signatures:
      raise UserError(f"@model={path} has no serving_default signature; write it with export --tflite")
    self.serve = self.interpreter.get_signature_runner("serving_default")
    details = self.serve.get_input_details()
    self.latent_dim = int(details["noise"]["shape_signature"][-1])
    self.image_shape = tuple(int(d) for d in self.serve.get_output_details()["images"]["shape_signature"][1:])
    self.num_classes = 0
    if "label" in details:
      self.num_classes = int(self.interpreter.get_signature_runner("classes")()["num_classes"])

  def __call__(self, noise, labels=None):
    noise, labels = check_inputs(noise, labels, self.latent_dim, self.num_classes)
    if labels is None:
      return self.serve(noise=noise)["images"]
    return self.serve(noise=noise, label=labels)["images"]


def load(path) -> Generator:
  """An export directory, or a TFLite file."""
  if str(path).endswith(".tflite") and Path(path).is_file():
    return TFLiteGenerator(path)
  return Exported(path)


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
