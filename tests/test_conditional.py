"""Conditional generation, larger and colour images, and the GIF writers."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from gan_tf import data, images, latent, models
from gan_tf import loop as train
from gan_tf import quality as evaluate
from gan_tf import serving as export
from gan_tf.config import Config
from gan_tf.errors import UserError
from gan_tf.gan import GAN

TINY = dict(latent_dim=8, batch_size=64, grid=3, progress=False)


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_conditional_networks_use_the_label(arch):
  tf.keras.utils.set_random_seed(0)
  generator, discriminator = models.build(arch, 8, (28, 28, 1), num_classes=10)
  assert [tuple(i.shape) for i in generator.inputs] == [(None, 8), (None,)]
  noise = tf.random.normal([2, 8])
  sevens = generator([noise, tf.constant([7, 7])], training=False)
  twos = generator([noise, tf.constant([2, 2])], training=False)
  assert sevens.shape == (2, 28, 28, 1) and not np.allclose(sevens, twos)
  logits = discriminator([sevens, tf.constant([7, 2])], training=False)
  assert logits.shape == (2, 1) and logits.dtype == tf.float32
  # The projection term: the same image scores differently under another label.
  again = discriminator([sevens, tf.constant([3, 2])], training=False)
  assert not np.isclose(logits[0, 0], again[0, 0]) and np.isclose(logits[1, 0], again[1, 0])
  assert models.num_classes_of(generator) == 10
  assert models.num_classes_of(models.build(arch, 8, (28, 28, 1))[0]) == 0


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
@pytest.mark.parametrize("shape", [(32, 32, 3), (64, 64, 3), (32, 32, 1)])
def test_larger_and_colour_images(arch, shape):
  gan = GAN(Config(arch=arch, latent_dim=16, grid=2).resolved(), shape)  # Room for the dcgan recipe's code.
  out = gan.train_step(tf.random.uniform((4,) + shape, -1, 1))
  assert np.isfinite(float(out["g_loss"]))
  assert gan.samples().shape == (4,) + shape


def test_dcgan_depth_follows_the_image_size():
  assert models.dcgan_levels((28, 28, 1)) == (7, 2)  # The tutorial's.
  assert models.dcgan_levels((32, 32, 3)) == (4, 3)
  assert models.dcgan_levels((64, 64, 3)) == (4, 4)
  count = lambda size: sum(
    isinstance(layer, tf.keras.layers.Conv2D) for layer in models.build("dcgan", 8, (size, size, 3))[1].layers
  )
  assert (count(28), count(32), count(64)) == (2, 3, 4)
  with pytest.raises(UserError, match="28, 32 or 64"):
    models.build("dcgan", 8, (30, 30, 1))


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory, mnist):
  root = tmp_path_factory.mktemp("cond")
  config = Config(arch="mlp", conditional=True, epochs=2, export_dir=str(root / "export"), **TINY)
  train.train(config, root / "run", dataset=mnist.take(512))
  return root


def test_conditional_training_grid_has_a_row_per_class(conditional_run):
  with Image.open(conditional_run / "run" / "samples" / "epoch_0002.png") as grid:
    # 10 rows and 3 columns of 28-pixel tiles with 2-pixel gaps.
    assert grid.size == (3 * 30 + 2, 10 * 30 + 2)
  with Image.open(conditional_run / "run" / "samples" / "real.png") as real:
    assert real.size == grid.size  # Real digits laid out as the samples: a row per class.
  with Image.open(conditional_run / "run" / "samples" / "progress.gif") as gif:
    assert gif.n_frames == 2


def test_conditional_export_takes_a_label(conditional_run):
  loaded = tf.saved_model.load(str(conditional_run / "export"))
  spec = loaded.signatures["serving_default"].structured_input_signature[1]
  assert spec["label"].dtype == tf.int32 and spec["label"].shape.as_list() == [None]
  assert spec["noise"].shape.as_list() == [None, 8]
  model = export.Exported(conditional_run / "export")
  assert model.num_classes == 10
  noise = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
  drawn = model(noise, [1, 1, 9, 9])
  assert drawn.shape == (4, 28, 28, 1) and drawn.min() >= -1 and drawn.max() <= 1
  assert not np.allclose(drawn[0], model(noise[:1], [9])[0])
  with pytest.raises(UserError, match="needs a label"):
    model(noise)
  with pytest.raises(UserError, match="0 to 9"):
    model(noise, 10)


def test_conditional_needs_labels(tmp_path, mnist):
  unlabelled = data.ImageSet(mnist.images[:256], np.full(256, -1), "unlabelled")
  with pytest.raises(UserError, match="conditional needs class labels"):
    train.train(Config(arch="mlp", conditional=True, epochs=1, **TINY), tmp_path / "run", dataset=unlabelled)


class OneHotClassifier:
  """Says class k for an image whose mean pixel is k/10 - 1 (stands in for a trained CNN)."""

  num_classes = 10

  def embed(self, batch):
    k = np.clip(np.rint((np.asarray(batch).mean(axis=(1, 2, 3)) + 1) * 10), 0, 9).astype(int)
    return None, np.eye(10)[k]


def test_label_accuracy_per_class():
  labels = np.arange(20) % 10
  drawn = np.zeros((20, 4, 4, 1), np.float32) + (labels / 10 - 1)[:, None, None, None]
  drawn[labels == 3] = 5 / 10 - 1  # Class 3 drawn as class 5.
  overall, per_class = evaluate.label_accuracy(OneHotClassifier().embed(drawn)[1], labels)
  assert overall == pytest.approx(0.9)
  assert per_class[3] == 0.0 and all(per_class[c] == 1.0 for c in range(10) if c != 3)


def test_slerp_stays_on_the_arc():
  rng = np.random.default_rng(0)
  a, b = rng.standard_normal(100), rng.standard_normal(100)
  path = latent.slerp(a, b, np.linspace(0, 1, 9))
  np.testing.assert_allclose(path[0], a, rtol=1e-5)
  np.testing.assert_allclose(path[-1], b, rtol=1e-5)
  norms = np.linalg.norm(path, axis=1)
  np.testing.assert_allclose(norms, np.linspace(np.linalg.norm(a), np.linalg.norm(b), 9), rtol=1e-5)
  # Equal angles between consecutive points.
  unit = path / norms[:, None]
  angles = np.arccos(np.sum(unit[1:] * unit[:-1], axis=1))
  np.testing.assert_allclose(angles, angles[0], rtol=1e-4)
  walk = latent.walk(rng.standard_normal((3, 5)), 4, closed=True)
  assert walk.shape == (12, 5)
  assert latent.walk(rng.standard_normal((3, 5)), 4).shape == (9, 5)


def test_gif_writer(tmp_path):
  frames = [np.full((10, 20, 3), v, np.uint8) for v in (0, 128, 255)]
  images.save_gif(tmp_path / "a.gif", frames, 0.1, min_side=20)
  with Image.open(tmp_path / "a.gif") as gif:
    assert gif.n_frames == 3 and gif.size == (20, 10) and gif.info.get("loop") == 0
    gif.seek(2)
    assert np.asarray(gif.convert("L")).min() == 255
  assert [p.name for p in tmp_path.iterdir()] == ["a.gif"]  # No temporary file left behind.


def test_spectral_norm_leaves_the_label_embedding_free():
  # A normalised projection embedding made the conditional dcgan ignore labels (BUILD.md).
  _, discriminator = models.build("dcgan", 8, (28, 28, 1), num_classes=10, spectral_norm=True)
  wrapped = [layer for layer in discriminator.layers if isinstance(layer, tf.keras.layers.SpectralNormalization)]
  assert len(wrapped) == 3
  projection = discriminator.get_layer("projection")
  assert isinstance(projection.embedding, tf.keras.layers.Embedding)


def test_conditional_runs_get_r1_from_the_gan_tf_recipe():
  assert Config(conditional=True).resolved().r1_gamma == 1.0
  assert Config().resolved().r1_gamma == 0.0
  assert Config(conditional=True, recipe="original").resolved().r1_gamma == 0.0
  assert Config(conditional=True, r1_gamma=0.0).resolved().r1_gamma == 0.0
