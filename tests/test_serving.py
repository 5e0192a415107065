"""The export in TensorFlow's own clients: saved_model_cli (the session-based
loader TensorFlow Serving and the C++ API use), the TFLite interpreter, and
Keras without this package."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import gan_tf
from gan_tf import serving

SAVED_MODEL_CLI = Path(sys.executable).parent / "saved_model_cli"
LATENT = 8


@pytest.fixture(scope="module", params=[False, True], ids=["unconditional", "conditional"])
def exported(request, tmp_path_factory, mnist):
  tmp = tmp_path_factory.mktemp("serving")
  config = gan_tf.Config(
    arch="mlp", latent_dim=LATENT, batch_size=32, epochs=1, grid=2, conditional=request.param, progress=False, progress_gif=False
  )
  gan_tf.train(config, tmp / "run", dataset=mnist.take(64))
  # TensorFlow Serving's layout: a numbered version directory under the model's.
  export_dir = gan_tf.export(tmp / "run", tmp / "models" / "mlp" / "1", tflite=tmp / "mlp.tflite")
  noise = np.random.default_rng(0).standard_normal((5, LATENT)).astype(np.float32)
  labels = np.array([0, 3, 7, 9, 1], np.int32) if request.param else None
  return tmp, export_dir, noise, labels


def test_saved_model_cli_runs_the_export(exported):
  tmp, export_dir, noise, labels = exported
  np.save(tmp / "noise.npy", noise)
  inputs = f"noise={tmp / 'noise.npy'}"
  if labels is not None:
    np.save(tmp / "label.npy", labels)
    inputs += f";label={tmp / 'label.npy'}"
  out = tmp / "cli"
  proc = subprocess.run(
    [
      SAVED_MODEL_CLI,
      "run",
      "--dir",
      export_dir,
      "--tag_set",
      "serve",
      "--signature_def",
      "serving_default",
      "--inputs",
      inputs,
      "--outdir",
      out,
      "--overwrite",
    ],
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  expected = serving.Exported(export_dir)(noise, labels)
  images = np.load(out / "images.npy")
  assert images.shape == (5, 28, 28, 1)
  assert np.abs(images - expected).max() < 1e-4
  assert np.abs(expected).max() <= 1 and expected.std() > 0  # Real images, not a constant.


def test_tflite_holds_the_weights_and_draws_the_same(exported):
  tmp, export_dir, noise, labels = exported
  weights = sum(f.stat().st_size for f in (export_dir / "variables").iterdir())
  assert (tmp / "mlp.tflite").stat().st_size >= 0.9 * weights  # The weights reached it.
  lite = serving.load(tmp / "mlp.tflite")
  python = gan_tf.load_generator(export_dir)
  assert (lite.latent_dim, lite.image_shape, lite.num_classes) == (python.latent_dim, python.image_shape, python.num_classes)
  assert np.abs(lite(noise, labels) - python(noise, labels)).max() < 1e-3


def test_generate_draws_from_tflite(exported, tmp_path):
  tmp, _, _, labels = exported
  proc = subprocess.run(
    [sys.executable, "-m", "gan_tf", "generate", f"--model={tmp / 'mlp.tflite'}", "--num=20", f"--out_dir={tmp_path}"],
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr
  assert len(list(tmp_path.glob("*.png"))) == 20


KERAS_WITHOUT_PACKAGE = """
import sys
import numpy as np, keras
model = keras.models.load_model(sys.argv[1])
inputs = np.zeros((2, int(sys.argv[2])), np.float32)
out = model([inputs, np.array([1, 2], np.int32)] if len(model.inputs) == 2 else inputs, training=False)
assert not any(name.startswith("gan_tf") for name in sys.modules), "gan_tf was imported"
print(tuple(out.shape))
"""


def test_keras_file_loads_without_the_package(exported, tmp_path):
  _, export_dir, _, _ = exported
  proc = subprocess.run(
    [sys.executable, "-c", KERAS_WITHOUT_PACKAGE, str(export_dir / serving.KERAS_FILE), str(LATENT)],
    capture_output=True,
    text=True,
    timeout=300,
    cwd=tmp_path,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip() == "(2, 28, 28, 1)"


def test_export_reports_its_classes(exported):
  _, export_dir, _, labels = exported
  loaded = tf.saved_model.load(str(export_dir))
  assert int(loaded.signatures["classes"]()["num_classes"]) == (10 if labels is not None else 0)
  assert int(loaded.num_classes.numpy()) == (10 if labels is not None else 0)  # As earlier exports had it.
