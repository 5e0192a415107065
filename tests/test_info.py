"""The InfoGAN code (`info_code`): read from the noise, learnt back by the Q network, checkpointed and exported."""

import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import layers as layers_lib
from gan_tf import loop as train
from gan_tf import models, restore, rundir
from gan_tf.checkpoints import Checkpoints
from gan_tf.config import Config
from gan_tf.errors import ConfigError, UserError
from gan_tf.gan import GAN

TINY = dict(batch_size=64, grid=3, progress=False, d_steps=1, g_steps=1)


def test_the_code_is_the_one_hot_class_of_the_largest_of_the_first_values():
  noise = tf.constant([[0.1, 2.0, -1.0, 0.5, 7.0, -3.0], [-0.2, -0.9, -0.1, -5.0, 1.5, 0.0]])
  coded = layers_lib.Code(4)(noise)
  np.testing.assert_array_equal(coded, [[0, 1, 0, 0, 7.0, -3.0], [0, 0, 1, 0, 1.5, 0.0]])
  np.testing.assert_array_equal(layers_lib.code_classes(noise, 4), [1, 2])
  # Uniform over the classes: the likeliest of independent normals.
  counts = np.bincount(layers_lib.code_classes(tf.random.stateless_normal([40000, 10], [0, 1]), 10), minlength=10)
  assert counts.min() > 0.09 * 40000 and counts.max() < 0.11 * 40000


@pytest.mark.parametrize("classes,length", [(10, 100), (4, 6), (5, 5)])
def test_the_stock_layers_read_the_same_code(classes, length):
  noise = keras.Input((length,))
  stock = keras.Model(noise, layers_lib.stock_code(noise, classes))
  draws = np.random.default_rng(classes).standard_normal((20000, length)).astype(np.float32)
  draws[0, :classes] = np.linspace(-1e-3, -2e-3, classes)  # Close values: the scale must still tell them apart.
  np.testing.assert_array_equal(stock(draws), layers_lib.Code(classes)(draws))


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_a_coded_generator_reads_only_the_class_from_the_first_values(arch):
  generator, _ = models.build(arch, 8, (28, 28, 1), info_code=4)
  rest = np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32)
  draw = lambda head: generator(np.concatenate([np.float32([head]), rest], 1), training=False)  # noqa: E731
  same_class = draw([0.0, 3.0, 1.0, -1.0]), draw([-2.0, 0.5, 0.4, 0.3])
  np.testing.assert_array_equal(*same_class)
  assert float(tf.reduce_max(tf.abs(same_class[0] - draw([3.0, 0.0, 1.0, -1.0])))) > 1e-4
  assert same_class[0].dtype == tf.float32 and same_class[0].shape == (1, 28, 28, 1)


def test_the_code_network_gives_one_logit_per_class():
  q = models.code_network((28, 28, 1), 10)
  logits = q(tf.zeros([3, 28, 28, 1]))
  assert logits.shape == (3, 10) and logits.dtype == tf.float32


@pytest.fixture(scope="module")
def coded_run(tmp_path_factory, mnist):
  run_dir = tmp_path_factory.mktemp("info") / "run"
  export_dir = run_dir.parent / "export"
  config = Config(arch="dcgan", epochs=2, info_code=4, latent_dim=16, export_dir=str(export_dir), **TINY)
  train.train(config, run_dir, dataset=mnist.take(512))
  return run_dir, export_dir, config


def _q_network(run_dir):
  """The Q network of the run's latest checkpoint, restored as a resume restores
  it, and the weights it had before the restore (a new network's)."""
  gan = GAN(rundir.load_config(run_dir).resolved(), rundir.image_shape(run_dir))
  fresh = [w.copy() for w in gan.code_network.get_weights()]
  Checkpoints(gan.checkpoint(), run_dir, read_only=True).restore()
  return gan.code_network, fresh


def test_the_q_network_is_trained_and_checkpointed(coded_run):
  run_dir, _, _ = coded_run
  q, fresh = _q_network(run_dir)
  assert any(float(np.max(np.abs(a - b))) > 1e-3 for a, b in zip(q.get_weights(), fresh, strict=True))


def test_a_coded_run_resumes_and_refuses_another_code(coded_run, mnist, tmp_path):
  run_dir = tmp_path / "run"  # A copy: the other tests read the run as it was trained.
  shutil.copytree(coded_run[0], run_dir)
  config = coded_run[2]
  before, _ = _q_network(run_dir)
  before = before.get_weights()
  train.train(Config(**{**config.__dict__, "epochs": 3, "export_dir": None}), run_dir, dataset=mnist.take(512))
  after, _ = _q_network(run_dir)
  assert any(float(np.max(np.abs(a - b))) > 1e-4 for a, b in zip(after.get_weights(), before, strict=True))
  with pytest.raises(UserError, match="holds a run with info_code="):
    train.train(Config(**{**config.__dict__, "epochs": 4, "export_dir": None, "info_code": 8}), run_dir, dataset=mnist.take(512))


def test_a_coded_export_takes_plain_noise(coded_run):
  run_dir, export_dir, config = coded_run
  serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
  noise = np.random.default_rng(1).standard_normal((4, config.latent_dim)).astype(np.float32)
  images = serve(noise=tf.constant(noise))["images"]
  assert images.shape == (4, 28, 28, 1) and -1.0 <= float(tf.reduce_min(images)) <= float(tf.reduce_max(images)) <= 1.0
  generator, _ = restore.restore_generator(run_dir)
  np.testing.assert_allclose(images, generator(noise, training=False), atol=1e-5)
  loaded = keras.models.load_model(export_dir / "generator.keras")
  np.testing.assert_allclose(loaded(noise, training=False), images, atol=1e-5)


def test_a_coded_keras_file_loads_without_the_package(coded_run, tmp_path):
  _, export_dir, config = coded_run
  np.save(tmp_path / "noise.npy", np.random.default_rng(1).standard_normal((4, config.latent_dim)).astype(np.float32))
  program = (
    "import sys, numpy as np, keras\n"
    "images = keras.models.load_model(sys.argv[1])(np.load(sys.argv[2]), training=False)\n"
    "assert not any(name.startswith('gan_tf') for name in sys.modules), 'gan_tf was imported'\n"
    "np.save(sys.argv[3], np.asarray(images))\n"
  )
  files = [str(export_dir / "generator.keras"), str(tmp_path / "noise.npy"), str(tmp_path / "images.npy")]
  proc = subprocess.run([sys.executable, "-c", program, *files], capture_output=True, text=True, timeout=300, cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-3000:]
  serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
  np.testing.assert_allclose(np.load(files[2]), serve(noise=tf.constant(np.load(files[1])))["images"], atol=1e-5)


@pytest.mark.parametrize(
  "settings,message",
  [
    (dict(info_code=1), "needs 2 to"),
    (dict(info_code=101), "needs 2 to"),
    (dict(info_code=10, conditional=True), "take their classes from the labels"),
    (dict(info_code=10, arch="resnet_gan:build"), "builds its own"),
  ],
)
def test_codes_that_cannot_work_are_refused(settings, message):
  with pytest.raises(ConfigError, match=message):
    Config(**{"arch": "dcgan", **settings}).resolved()
