import csv
import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from gan_tf import data, images, recipes, restore, rundir
from gan_tf import history as history_lib
from gan_tf import loop as train
from gan_tf import serving as export
from gan_tf.checkpoints import BestCheckpoint
from gan_tf.config import Config
from gan_tf.errors import TrainingDiverged, UserError

# One update of each network per step (the gan-tf dcgan's default is three): these
# tests are about the loop, and the suite's time.
TINY = dict(batch_size=64, grid=3, progress=False, d_steps=1, g_steps=1)


def history(run_dir):
  with open(run_dir / "history.csv", newline="") as f:
    return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory, mnist):
  run_dir = tmp_path_factory.mktemp("run") / "dcgan"
  logs = train.train(Config(arch="dcgan", epochs=2, **TINY), run_dir, dataset=mnist.take(512))
  return run_dir, logs


def test_two_epochs_write_everything(two_epochs, mnist):
  run_dir, logs = two_epochs
  pngs = sorted(p.name for p in (run_dir / "samples").iterdir())
  assert pngs == ["epoch_0001.png", "epoch_0002.png", "progress.gif", "real.png"]
  with Image.open(run_dir / "samples" / "progress.gif") as gif:
    assert gif.n_frames == 2
  with Image.open(run_dir / "samples" / "epoch_0002.png") as image:
    assert image.mode == "L" and min(image.size) >= 256
    assert len(np.unique(np.asarray(image))) > 10  # Drawn digits, not a blank page.
  # The real images beside them: as many, laid out the same, from the data.
  real = images.read_png(run_dir / "samples" / "real.png")
  assert real.shape == images.read_png(run_dir / "samples" / "epoch_0002.png").shape
  expected = images.grid(images.from_uint8(data.examples(mnist.take(512), 9, seed=Config().seed)))
  scale = real.shape[0] // expected.shape[0]
  assert (real[::scale, ::scale] == expected).all()
  rows = history(run_dir)
  assert [r["epoch"] for r in rows] == ["1", "2"]
  assert [r["step"] for r in rows] == ["8", "16"]  # 512 // 64 steps an epoch.
  for r in rows:
    assert set(r) >= {"d_loss", "g_loss", "d_acc", "seconds", "images_per_sec"}
    assert np.isfinite(float(r["d_loss"])) and np.isfinite(float(r["g_loss"]))
    assert 0 <= float(r["d_acc"]) <= 1 and float(r["images_per_sec"]) > 0
  assert tf.train.latest_checkpoint(str(run_dir)).endswith("ckpt-16")  # After the last epoch, numbered by step.
  assert json.loads((run_dir / "config.json").read_text())["arch"] == "dcgan"
  assert "--arch=dcgan" in (run_dir / "flags.txt").read_text().split()
  assert list((run_dir / "logs").glob("events.out.tfevents.*"))
  assert logs["step"] == 16
  with Image.open(run_dir / "loss.png") as plot:
    assert plot.format == "PNG" and plot.size[0] >= 400


def test_tensorboard_has_scalars_and_images(two_epochs):
  run_dir, _ = two_epochs
  from tensorboard.backend.event_processing import event_accumulator

  acc = event_accumulator.EventAccumulator(str(run_dir / "logs"), size_guidance={"tensors": 0})
  acc.Reload()
  tags = set(acc.Tags()["tensors"])
  assert {"d_loss", "g_loss", "d_acc", "samples"} <= tags
  assert [e.step for e in acc.Tensors("g_loss")] == [8, 16]


def test_rerun_continues_at_the_next_epoch(two_epochs, mnist):
  run_dir, _ = two_epochs
  noise_before = tf.train.load_checkpoint(str(run_dir)).get_tensor("sample_noise/.ATTRIBUTES/VARIABLE_VALUE")
  logs = train.train(Config(arch="dcgan", epochs=3, **TINY), run_dir, dataset=mnist.take(512))
  rows = history(run_dir)
  assert [r["epoch"] for r in rows] == ["1", "2", "3"]
  assert rows[-1]["step"] == "24" and logs["step"] == 24
  assert (run_dir / "samples" / "epoch_0003.png").exists()
  assert tf.train.latest_checkpoint(str(run_dir)).endswith("ckpt-24")
  noise_after = tf.train.load_checkpoint(str(run_dir)).get_tensor("sample_noise/.ATTRIBUTES/VARIABLE_VALUE")
  np.testing.assert_array_equal(noise_before, noise_after)
  # Asking for epochs already done trains nothing.
  assert train.train(Config(arch="dcgan", epochs=3, **TINY), run_dir, dataset=mnist.take(512)) == {}
  assert len(history(run_dir)) == 3


@pytest.mark.parametrize(
  "change",
  [
    dict(arch="mlp"),
    dict(latent_dim=64),
    dict(grid=5),
    dict(conditional=True),
    dict(spectral_norm=True),
    dict(pack=1),
    dict(pack_layout="channels"),
    dict(d_width=128),
    dict(g_width=32),
    dict(g_upsample="resize"),
    dict(g_image_width=16),
    dict(self_attention=False),
    dict(image_size=32),
  ],
)
def test_incompatible_resume_is_refused(two_epochs, mnist, change):
  run_dir, _ = two_epochs
  before = sorted(p.name for p in run_dir.iterdir())
  settings = {**dict(arch="dcgan", epochs=9, **TINY), **change}
  name = next(iter(change))
  with pytest.raises(UserError, match=f"holds a run with {name}="):
    train.train(Config(**settings), run_dir, dataset=mnist.take(512))
  assert sorted(p.name for p in run_dir.iterdir()) == before
  assert json.loads((run_dir / "config.json").read_text())["arch"] == "dcgan"


def test_a_run_from_before_the_widths_keeps_its_networks(tmp_path, mnist, monkeypatch):
  # Its config.json has no d_width, g_width, g_upsample, g_image_width, self_attention or info_code: the run was built with
  # the tutorial's networks, whatever the recipe's are now, and must load and resume as such.
  run_dir = tmp_path / "old"
  # Built with the tutorial's networks, as such a run was (the recipe's own now differ).
  train.train(
    Config(arch="dcgan", epochs=1, self_attention=False, g_image_width=0, info_code=0, **TINY), run_dir, dataset=mnist.take(512)
  )
  recipe = recipes.RECIPES["dcgan", "gan-tf"]
  wider = {
    **recipe,
    "d_width": 2 * recipe["d_width"],
    "g_width": 2 * recipe["g_width"],
    "g_upsample": "resize",
    "g_image_width": 32,
    "self_attention": True,
    "info_code": 10,
  }
  monkeypatch.setitem(recipes.RECIPES, ("dcgan", "gan-tf"), wider)
  record = json.loads((run_dir / "config.json").read_text())
  for name in ("d_width", "g_width", "g_upsample", "g_image_width", "self_attention", "info_code"):
    del record[name]
  (run_dir / "config.json").write_text(json.dumps(record))
  generator, config = restore.restore_generator(run_dir)
  assert (config.d_width, config.g_width, config.g_upsample, config.g_image_width, config.self_attention, config.info_code) == (
    64,
    64,
    "transpose",
    0,
    False,
    0,
  ) and generator(tf.zeros([2, config.latent_dim])).shape == (2, 28, 28, 1)
  # Resumed as the train command does: the identity settings not given come from the run.
  done = len(history(run_dir))
  fields = rundir.with_identity_of(dict(arch="dcgan", epochs=done + 1, **TINY), run_dir, given=set(TINY))
  assert train.train(Config(**fields), run_dir, dataset=mnist.take(512))["step"] == 8 * (done + 1)


def test_history_drops_rows_past_the_checkpoint(tmp_path, mnist):
  """After a crash between the history row and the checkpoint, the epoch is redone once."""
  config = Config(arch="mlp", epochs=2, checkpoint_every=1, **TINY)
  train.train(config, tmp_path, dataset=mnist.take(256))
  (tmp_path / "ckpt-8.index").unlink()
  train.train(config, tmp_path, dataset=mnist.take(256))
  assert [r["epoch"] for r in history(tmp_path)] == ["1", "2"]


def test_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path, mnist):
  good = Config(arch="mlp", epochs=1, **TINY)
  train.train(good, tmp_path, dataset=mnist.take(256))
  kept = (tmp_path / "ckpt-4.data-00000-of-00001").read_bytes()
  diverging = Config(arch="mlp", epochs=3, d_lr=1e38, g_lr=1e38, checkpoint_every=1, **TINY)
  with pytest.raises(TrainingDiverged, match="epoch 2 at step [5-8]"):
    train.train(diverging, tmp_path, dataset=mnist.take(256))
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-4")
  assert (tmp_path / "ckpt-4.data-00000-of-00001").read_bytes() == kept
  assert [r["epoch"] for r in history(tmp_path)] == ["1"]


def test_export_and_load_without_the_package(tmp_path, mnist):
  run_dir = tmp_path / "run"
  train.train(Config(arch="mlp", epochs=1, export_dir=str(tmp_path / "export"), **TINY), run_dir, dataset=mnist.take(128))
  loaded = tf.saved_model.load(str(tmp_path / "export"))
  serve = loaded.signatures["serving_default"]
  assert serve.structured_input_signature[1]["noise"].shape.as_list() == [None, 100]
  images = serve(noise=tf.random.normal([5, 100]))["images"]
  assert images.shape == (5, 28, 28, 1) and images.dtype == tf.float32
  assert -1.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
  # The export matches the checkpointed generator.
  generator, _ = restore.restore_generator(run_dir)
  noise = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
  np.testing.assert_allclose(export.Exported(tmp_path / "export")(noise), generator(noise, training=False).numpy(), atol=1e-5)


def test_export_refuses_a_directory_that_is_not_a_saved_model(tmp_path):
  (tmp_path / "precious").mkdir()
  (tmp_path / "precious" / "notes.txt").write_text("keep me")
  with pytest.raises(UserError, match="not a SavedModel"):
    export.check_export_dir(tmp_path / "precious")
  assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_exported_model_rejects_wrong_noise(tmp_path, mnist):
  train.train(
    Config(arch="mlp", epochs=1, latent_dim=8, export_dir=str(tmp_path / "e"), **TINY), tmp_path / "run", dataset=mnist.take(64)
  )
  model = export.Exported(tmp_path / "e")
  assert model.latent_dim == 8 and model.image_shape == (28, 28, 1)
  with pytest.raises(UserError, match=r"noise of shape \[N, 8\]"):
    model(np.zeros((2, 100)))
  assert model.num_classes == 0
  with pytest.raises(UserError, match="not conditional"):
    model(np.zeros((2, 8)), [1, 2])


@pytest.mark.parametrize("field,value", [("epochs", 0), ("batch_size", -1), ("grid", 0), ("g_lr", -1.0)])
def test_bad_settings_are_refused_before_work(tmp_path, field, value):
  # The library names settings as Python passes them (the command renders --name).
  with pytest.raises(UserError, match=f"^{field}"):
    train.train(Config(**{field: value}), tmp_path / "run")
  assert not (tmp_path / "run").exists()


def test_best_checkpoint_keeps_the_lowest_fid(tmp_path):
  step = tf.Variable(0)
  best = BestCheckpoint(tf.train.Checkpoint(step=step), tmp_path)
  for fid, epoch in ((5.0, 1), (3.0, 2), (4.0, 3)):
    step.assign(epoch * 10)
    best.consider(fid, epoch, epoch * 10)
  assert best.record == {"fid": 3.0, "epoch": 2, "step": 20}
  assert tf.train.latest_checkpoint(str(tmp_path / "best")).endswith("ckpt-20")
  assert len(list((tmp_path / "best").glob("ckpt-*.index"))) == 1
  # The record outlives the process: a worse FID after a resume is not kept.
  again = BestCheckpoint(tf.train.Checkpoint(step=step), tmp_path)
  assert not again.consider(3.5, 4, 40) and again.consider(1.0, 5, 50)
  assert json.loads((tmp_path / "best" / "best.json").read_text())["epoch"] == 5


def test_evaluation_during_training(tmp_path, mnist, monkeypatch):
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
  run_dir = tmp_path / "run"
  config = Config(arch="mlp", epochs=3, eval_every=2, eval_num=200, **TINY)
  train.train(config, run_dir, dataset=mnist.take(512))
  rows = history(run_dir)
  # Measured at epoch 2 and after the last.
  assert [r["fid"] != "" for r in rows] == [False, True, True]
  fids = [float(r["fid"]) for r in rows if r["fid"]]
  assert all(np.isfinite(f) and f >= 0 for f in fids)
  for r in rows[1:]:
    assert 0 <= float(r["precision"]) <= 1 and 0 <= float(r["recall"]) <= 1
    assert 1 <= float(r["classifier_score"]) <= 10 and 0 <= int(r["classes_covered"]) <= 10
  record = json.loads((run_dir / "best" / "best.json").read_text())
  assert record["fid"] == pytest.approx(min(fids), rel=1e-5)
  assert (run_dir / "best" / f"ckpt-{record['step']}.index").exists()
  assert list((tmp_path / "cache" / "gan_tf" / "classifiers").glob("*.keras"))
  generator, _ = restore.restore_generator(run_dir, best=True)
  assert generator(np.zeros((2, 100), np.float32)).shape == (2, 28, 28, 1)


def test_loss_plot_with_and_without_metrics():
  rows = [
    {
      "epoch": str(e),
      "d_loss": "1.2",
      "g_loss": "0.8",
      "fid": "" if e < 3 else "40",
      "precision": "" if e < 3 else "0.5",
      "recall": "" if e < 3 else "0.4",
    }
    for e in (1, 2, 3)
  ]
  with Image.open(io.BytesIO(history_lib.plot(rows))) as with_metrics:
    wide = with_metrics.size
  losses_only = [{k: v for k, v in r.items() if k in ("epoch", "d_loss", "g_loss")} for r in rows]
  with Image.open(io.BytesIO(history_lib.plot(losses_only))) as plain:
    assert plain.size[0] < wide[0]  # A second panel for the metrics.
