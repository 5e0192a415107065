"""Speed options: each one trains, and matches the float32 reference step within a stated tolerance."""

import dataclasses
import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import data, probe, recipes, speed
from gan_tf import loop as train
from gan_tf.config import Config
from gan_tf.gan import GAN

STEPS = 3
# How far an option may move the losses from the float32 reference after
# STEPS steps, relative. Rounding differences grow as training goes (Adam's
# first steps are nearly sign steps); bin/bench measures 20 steps at batch
# 256 under the same bound (1-2% seen).
TOLERANCE = 0.05
BATCH = 8  # float16 convolutions are emulated on CPU, and slow.
OPTIONS = {
  "jit": dict(jit_compile="true"),
  # One call on real and fake draws other dropout masks than two calls, so
  # this option is compared without dropout, where only rounding may differ.
  "fused": dict(fused_discriminator="true", d_dropout=0.0),
  "bfloat16": dict(precision="mixed_bfloat16"),
  "float16": dict(precision="mixed_float16"),
}


def dropout(arch, options):
  """The discriminator's dropout a run of `options` trains with: the source's unless they set it."""
  return options.get("d_dropout", recipes.RECIPES[arch, "original"]["d_dropout"])


def run_steps(mnist, arch, **options):
  options.setdefault("jit_compile", "false")  # Each option alone (the mlp's CPU default is XLA).
  # The reference's step, as bin/bench times it: one update of each network, from the joint pass.
  options.setdefault("updates", "simultaneous")
  options.setdefault("d_steps", 1)
  options.setdefault("g_steps", 1)
  source = recipes.RECIPES[arch, "original"]
  # The source's objective and networks, unless the options set it.
  for name in ("loss", *recipes.NETWORK_SETTINGS):
    if name in source:
      options.setdefault(name, source[name])
  config = Config(arch=arch, latent_dim=32, grid=2, batch_size=BATCH, **options).resolved()
  config, _ = speed.resolve(config, tf.distribute.get_strategy())
  keras.utils.set_random_seed(0)
  gan = GAN(config, (28, 28, 1))
  pipeline = data.Pipeline(mnist.take(STEPS * BATCH), BATCH, seed=0)
  for images, _ in pipeline.epoch(1):
    values = gan.train_step(images)
  return gan, {k: float(v) for k, v in values.items()}


@pytest.fixture(scope="module")
def reference(mnist):
  runs = (("mlp", 0.0), ("dcgan", 0.3), ("dcgan", 0.0))
  return {(arch, rate): run_steps(mnist, arch, precision="float32", d_dropout=rate)[1] for arch, rate in runs}


@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_option_matches_float32(mnist, reference, arch, option):
  gan, losses = run_steps(mnist, arch, **OPTIONS[option])
  expected = reference[arch, dropout(arch, OPTIONS[option])]
  for name in ("d_loss", "g_loss"):
    assert losses[name] == pytest.approx(expected[name], rel=TOLERANCE), name
  images = gan.samples()
  assert images.dtype == tf.float32 and float(tf.reduce_max(tf.abs(images))) <= 1.0
  if option == "float16":
    # Loss scaling on both optimisers.
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert gan.generator.layers[1].compute_dtype == "float16"


def test_fused_discriminator_flag():
  gan = GAN(Config(arch="dcgan", latent_dim=16, grid=2, fused_discriminator="true").resolved(), (28, 28, 1))
  assert gan.fused
  assert not GAN(Config(arch="dcgan", latent_dim=16, grid=2, fused_discriminator="false").resolved(), (28, 28, 1)).fused


def test_auto_speed_settings_on_cpu(monkeypatch):
  # A CPU without fast bfloat16.
  monkeypatch.setattr(probe, "choose", lambda: probe.Choice("float32", "bfloat16 ran 1.00x float32"))

  def resolved(arch, replicas=1, **settings):
    strategy = tf.distribute.get_strategy()
    if replicas > 1:  # Only its number of replicas is read.
      strategy = type("TwoReplicas", (), {"num_replicas_in_sync": replicas})()
    return speed.resolve(Config(arch=arch, **settings).resolved(), strategy)

  dcgan, reason = resolved("dcgan")
  assert (dcgan.precision, dcgan.jit_compile, dcgan.steps_per_execution, dcgan.fused_discriminator) == (
    "float32",
    "false",
    1,
    "false",
  )
  assert reason == "auto: bfloat16 ran 1.00x float32"
  # The mlp's hints: XLA and 8 steps per call for its short dense step on CPU.
  mlp, reason = resolved("mlp")
  assert (mlp.jit_compile, mlp.steps_per_execution) == ("true", 8)
  assert reason == "auto: the CPU default for arch=mlp"
  assert resolved("mlp", replicas=2)[0].jit_compile == "false"
  # Set values are kept.
  assert resolved("mlp", jit_compile="false")[0].jit_compile == "false"
  # A CPU whose bfloat16 convolutions are fast gives the dcgan bfloat16, the mlp not (no gain measured).
  monkeypatch.setattr(probe, "choose", lambda: probe.Choice("mixed_bfloat16", "bfloat16 ran 1.50x float32"))
  assert resolved("dcgan")[0].precision == "mixed_bfloat16"
  assert resolved("mlp")[0].precision == "float32"
  kept, reason = resolved("dcgan", precision="float32")
  assert (kept.precision, reason) == ("float32", "set explicitly")


def weights(run_dir):
  reader = tf.train.load_checkpoint(str(run_dir))
  return {
    n: reader.get_tensor(n)
    for n in reader.get_variable_to_shape_map()
    if n != "_CHECKPOINTABLE_OBJECT_GRAPH" and "save_counter" not in n
  }


def test_auto_precision_without_timing_for_deterministic_runs(monkeypatch):
  def timed():
    raise AssertionError("a deterministic run measured")

  monkeypatch.setattr(probe, "choose", timed)
  config, reason = speed.resolve(Config(arch="dcgan", deterministic=True).resolved(), tf.distribute.get_strategy())
  assert (config.precision, reason) == ("float32", "auto: deterministic runs do not choose by timing")


def test_a_resumed_run_keeps_the_precision_it_started_with(tmp_path, mnist, monkeypatch):
  import json

  record = lambda: json.loads((tmp_path / "config.json").read_text())["resolved_speed"]  # noqa: E731
  base = Config(arch="dcgan", epochs=1, batch_size=32, grid=2, progress=False, d_steps=1, g_steps=1, pack=1)
  monkeypatch.setattr(probe, "choose", lambda: probe.Choice("mixed_bfloat16", "bfloat16 ran 1.50x float32"))
  train.train(base, tmp_path, dataset=mnist.take(64))
  assert record()["precision"] == "mixed_bfloat16" and record()["device"] == speed.device(tf.distribute.get_strategy())
  # The probe would now say float32 (its readings have not settled): the run
  # continues in bfloat16, and says why, however often it resumes.
  monkeypatch.setattr(probe, "choose", lambda: probe.Choice("float32", "bfloat16 ran 1.10x float32"))
  for epochs in (2, 3):
    logs = train.train(dataclasses.replace(base, epochs=epochs), tmp_path, dataset=mnist.take(64))
    assert logs["step"] == 2 * epochs
    assert record()["precision"] == "mixed_bfloat16"
    assert record()["precision_reason"] == f"auto: {speed.KEPT}"
  # A record of another device, or a run started anew, asks the probe again.
  started = {**record(), "device": "CPU: another model"}
  assert speed.resolve(base.resolved(), tf.distribute.get_strategy(), started)[0].precision == "float32"
  train.train(base, tmp_path / "new", dataset=mnist.take(64))
  assert json.loads((tmp_path / "new" / "config.json").read_text())["resolved_speed"]["precision"] == "float32"


def test_steps_per_execution_trains_the_same_steps(tmp_path, mnist):
  base = Config(arch="dcgan", epochs=2, batch_size=32, grid=2, progress=False, deterministic=True, d_steps=1, g_steps=1)
  train.train(dataclasses.replace(base, steps_per_execution=1), tmp_path / "one", dataset=mnist.take(256))
  logs = train.train(dataclasses.replace(base, steps_per_execution=3), tmp_path / "three", dataset=mnist.take(256))
  assert logs["step"] == 16  # 8 steps an epoch in calls of 3, 3 and 2.
  a, b = weights(tmp_path / "one"), weights(tmp_path / "three")
  for name in a:
    np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_resume_under_another_precision(tmp_path, mnist):
  base = Config(arch="mlp", epochs=1, batch_size=64, grid=2, progress=False, precision="mixed_float16")
  train.train(base, tmp_path, dataset=mnist.take(128))
  logs = train.train(dataclasses.replace(base, epochs=2, precision="float32"), tmp_path, dataset=mnist.take(128))
  assert logs["step"] == 4 and np.isfinite(logs["g_loss"])


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_draws_do_not_depend_on_xla(mnist, arch):
  # Every draw of the step at once: noise, extra discriminator updates
  # (folded seeds), alternating updates, augmentation parameters, the
  # gradient penalty's interpolation and dropout. With TensorFlow's float
  # draws, which XLA makes differently, d_loss was 4% apart. Learning rates
  # near 0 keep the weights where they started, so the last step's losses
  # differ only if its draws do (Adam's first steps would otherwise grow
  # rounding differences: 0.14% for dcgan after 3 steps).
  settings = dict(d_steps=2, updates="alternating", augment="translation,cutout", loss="wasserstein_gp", g_lr=1e-9, d_lr=1e-9)
  if arch == "dcgan":
    settings["fused_discriminator"] = "false"
  losses = [run_steps(mnist, arch, precision="float32", jit_compile=jit, **settings)[1] for jit in ("false", "true")]
  for name in ("d_loss", "g_loss"):
    assert losses[1][name] == pytest.approx(losses[0][name], rel=1e-4), name


@pytest.mark.parametrize("arch,rate", [("mlp", 0.0), ("dcgan", 0.3)])
def test_the_benchmark_builds_the_references_work(arch, rate):
  # bin/bench's same-work rows: each architecture with its source's dropout
  # (a dropout rate for the mlp is refused), one update of each network, no code.
  spec = importlib.util.spec_from_file_location("measure", Path(__file__).resolve().parents[1] / "benchmarks" / "measure.py")
  measure = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(measure)
  gan, config = measure.project_step(arch, 8, precision="float32")
  work = (
    config.d_steps,
    config.g_steps,
    config.pack,
    config.updates,
    config.d_dropout,
    config.d_width,
    config.g_width,
    config.g_upsample,
    config.info_code,
  )
  source = {"mlp": (512, 256, None), "dcgan": (64, 64, "transpose")}[arch]
  assert work == (1, 1, 1, "simultaneous", rate, *source, 0)
  gan.train_step(tf.random.uniform([8, 28, 28, 1], -1, 1))
  assert int(gan.d_optimizer.iterations) == int(gan.g_optimizer.iterations) == 1
