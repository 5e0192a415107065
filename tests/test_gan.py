import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import draws, models, rundir, sampling
from gan_tf.config import Config
from gan_tf.errors import ConfigError, UserError
from gan_tf.gan import GAN


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_one_step_trains_both_networks(arch):
  config = Config(arch=arch, latent_dim=16).resolved()
  gan = GAN(config, (28, 28, 1))
  before_g = [v.numpy().copy() for v in gan.generator.trainable_variables]
  before_d = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
  images = tf.random.uniform([8, 28, 28, 1], -1, 1)
  values = gan.train_step(images)
  assert all(np.isfinite(float(v)) for v in values.values())
  assert 0.0 <= float(values["d_acc"]) <= 1.0
  assert all(not np.array_equal(a, v.numpy()) for a, v in zip(before_g, gan.generator.trainable_variables))
  assert all(not np.array_equal(a, v.numpy()) for a, v in zip(before_d, gan.discriminator.trainable_variables))
  assert int(gan.step) == 1
  # The gan-tf recipe's dcgan updates each network three times per step.
  assert int(gan.g_optimizer.iterations) == config.g_steps == {"mlp": 1, "dcgan": 3}[arch]
  assert int(gan.d_optimizer.iterations) == config.d_steps == {"mlp": 1, "dcgan": 3}[arch]


def test_losses_match_the_tutorials_step():
  """The step's losses are the tutorial's BCE on the same draws."""
  gan = GAN(Config(arch="mlp", latent_dim=16, updates="simultaneous").resolved(), (28, 28, 1))
  images = tf.random.uniform([8, 28, 28, 1], -1, 1)
  noise = draws.normal([8, 16], [0, 0])  # What the first step draws with seed 0.
  bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
  fake_logits = gan.discriminator(gan.generator(noise, training=True), training=True)
  real_logits = gan.discriminator(images, training=True)
  expected_g = float(bce(tf.ones_like(fake_logits), fake_logits))
  expected_d = float(bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits))
  values = gan.train_step(images)
  assert float(values["g_loss"]) == pytest.approx(expected_g, rel=1e-4)
  assert float(values["d_loss"]) == pytest.approx(expected_d, rel=1e-4)


def test_alternating_updates_train_the_generator_against_the_updated_discriminator():
  """--updates=alternating: the discriminator's update comes first, on noise
  fold_in((seed, step), 1), then the generator's, on the step's own noise,
  scored by the discriminator that update left."""
  gan = GAN(Config(arch="mlp", latent_dim=16, updates="alternating").resolved(), (28, 28, 1))
  images = tf.random.uniform([8, 28, 28, 1], -1, 1)
  seed = tf.constant([0, 0], tf.int64)  # (seed, step) of the first step.
  noise = draws.normal([8, 16], seed)
  d_noise = draws.normal([8, 16], draws.fold_in(seed, 1))
  # The generator changes only in its own update, after both are drawn.
  fake, d_fake = gan.generator(noise, training=True), gan.generator(d_noise, training=True)
  g_loss = lambda: float(tf.reduce_mean(tf.nn.softplus(-gan.discriminator(fake, training=True))))  # noqa: E731
  bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
  real_logits, fake_logits = gan.discriminator(images, training=True), gan.discriminator(d_fake, training=True)
  expected_d = float(bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits))
  g_loss_before = g_loss()
  values = gan.train_step(images)
  assert int(gan.d_optimizer.iterations) == 1 and int(gan.g_optimizer.iterations) == 1
  assert float(values["d_loss"]) == pytest.approx(expected_d, rel=1e-4)
  assert float(values["g_loss"]) == pytest.approx(g_loss(), rel=1e-4)
  assert not np.isclose(g_loss(), g_loss_before, rtol=1e-3)  # Not the discriminator the step started with.
  # With --d_steps=k, k discriminator updates come before the generator's one.
  gan = GAN(Config(arch="mlp", latent_dim=16, updates="alternating", d_steps=3).resolved(), (28, 28, 1))
  gan.train_step(images)
  assert int(gan.d_optimizer.iterations) == 3 and int(gan.g_optimizer.iterations) == 1
  # With --g_steps=k, k - 1 more generator updates follow the step's own.
  for updates in ("alternating", "simultaneous"):
    trained = {}
    for g_steps in (1, 3):
      keras.utils.set_random_seed(0)
      gan = GAN(Config(arch="mlp", latent_dim=16, updates=updates, d_steps=2, g_steps=g_steps).resolved(), (28, 28, 1))
      gan.train_step(images)
      assert int(gan.d_optimizer.iterations) == 2 and int(gan.g_optimizer.iterations) == g_steps
      trained[g_steps] = gan.generator.get_weights()
    assert not np.allclose(trained[1][0], trained[3][0])
  with pytest.raises(UserError, match="updates="):
    Config(arch="mlp", updates="sequential").resolved()


def test_top_k_trains_the_generator_on_the_fakes_rated_most_real():
  """--top_k: the generator's loss is the mean over the k fakes with the
  highest logits, k = ceil(share * batch), the share shrinking per epoch."""
  gan = GAN(Config(arch="mlp", latent_dim=16, updates="simultaneous", top_k=0.5, top_k_decay=0.8).resolved(), (28, 28, 1))
  images = tf.random.uniform([8, 28, 28, 1], -1, 1)
  noise = draws.normal([8, 16], [0, 0])  # What the first step draws with seed 0.
  gan.epoch.assign(2)  # Share max(0.5, 0.8^2 = 0.64): k = ceil(5.12) = 6 of 8.
  logits = gan.discriminator(gan.generator(noise, training=True), training=True).numpy().ravel()
  best6 = np.sort(logits)[-6:]
  expected = np.mean(np.log1p(np.exp(-best6)))  # Nonsaturating: softplus(-logit).
  assert not np.isclose(expected, np.mean(np.log1p(np.exp(-logits))), rtol=1e-3)  # Not the whole batch's.
  assert float(gan.train_step(images)["g_loss"]) == pytest.approx(expected, rel=1e-4)
  with pytest.raises(UserError, match="top_k must"):
    Config(arch="mlp", top_k=0.0).resolved()


def test_sample_noise_is_fixed_by_seed():
  a = GAN(Config(arch="mlp", latent_dim=16, grid=3, seed=5).resolved(), (28, 28, 1))
  b = GAN(Config(arch="mlp", latent_dim=16, grid=3, seed=5).resolved(), (28, 28, 1))
  assert a.sample_noise.shape == (9, 16)
  np.testing.assert_array_equal(a.sample_noise.numpy(), b.sample_noise.numpy())
  samples = a.samples()
  assert samples.shape == (9, 28, 28, 1) and samples.dtype == tf.float32


def test_ema_follows_the_generator_with_a_ramped_decay():
  gan = GAN(Config(arch="mlp", latent_dim=16, ema_decay=0.999).resolved(), (28, 28, 1))
  start = [v.numpy().copy() for v in gan.ema_generator.trainable_variables]
  np.testing.assert_array_equal(start[0], gan.generator.trainable_variables[0].numpy())
  gan.train_step(tf.random.uniform([8, 28, 28, 1], -1, 1))
  # Step 0's decay is min(0.999, 1/10): the average moves 90% of the way.
  for before, average, weight in zip(start, gan.ema_generator.trainable_variables, gan.generator.trainable_variables):
    np.testing.assert_allclose(average.numpy(), 0.1 * before + 0.9 * weight.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(average.numpy(), weight.numpy())


def test_ema_decay_zero_is_the_generator_itself():
  gan = GAN(Config(arch="mlp", latent_dim=16, ema_decay=0.0).resolved(), (28, 28, 1))
  for _ in range(2):
    gan.train_step(tf.random.uniform([8, 28, 28, 1], -1, 1))
  for average, weight in zip(gan.ema_generator.trainable_variables, gan.generator.trainable_variables):
    np.testing.assert_allclose(average.numpy(), weight.numpy(), rtol=1e-6)


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_standing_statistics_match_batch_statistics(arch):
  """With standing statistics, inference-mode samples are what the sampled
  weights give with the statistics of a large batch of their own draws."""
  gan = GAN(Config(arch=arch, latent_dim=16).resolved(), (28, 28, 1))
  for _ in range(3):
    gan.train_step(tf.random.uniform([16, 28, 28, 1], -1, 1))
  sampler = gan.sampler("raw", "standing")
  # The draws the statistics came from, in their batches (seeds [config.seed, 2 + batch]).
  batches = sampling.STANDING_DRAWS // sampling.STANDING_BATCH
  assert batches > 1
  standing_noise = tf.concat(
    [tf.random.stateless_normal([sampling.STANDING_BATCH, 16], seed=tf.constant([0, 2 + i], tf.int64)) for i in range(batches)], 0
  )
  # The first BatchNorm's statistics are its inputs' over all the draws, not over one batch.
  first = models.batch_norms(sampler)[0]
  inputs = tf.keras.Model(sampler.inputs, first.input)(standing_noise).numpy()
  axes = tuple(range(inputs.ndim - 1))
  np.testing.assert_allclose(first.moving_mean.numpy(), inputs.mean(axes), rtol=1e-3, atol=1e-4 * inputs.std())
  np.testing.assert_allclose(first.moving_variance.numpy(), inputs.var(axes), rtol=1e-3)
  assert not np.allclose(first.moving_variance.numpy(), inputs[: sampling.STANDING_BATCH].var(axes), rtol=1e-3)
  # On those draws, about the images one batch of all of them gives.
  batch_stats = tf.keras.models.clone_model(sampler)
  batch_stats.set_weights(sampler.get_weights())
  gap = np.abs(sampler(standing_noise, training=False).numpy() - batch_stats(standing_noise, training=True).numpy())
  assert gap.mean() < 5e-3
  noise = tf.random.stateless_normal([1024, 16], seed=[9, 9])
  inference = sampler(noise, training=False).numpy()
  # The training run's moving averages (the tutorial's way) give other images.
  moving = gan.sampler("raw", "moving")(noise, training=False).numpy()
  assert np.abs(moving - inference).mean() > 0.01
  # The EMA's samples differ from the raw generator's.
  ema = gan.sampler("ema", "standing")(noise, training=False).numpy()
  assert np.abs(ema - inference).mean() > 1e-3
  assert inference.dtype == np.float32 and np.all(np.abs(inference) <= 1)


def test_recipes_fill_only_what_is_unset():
  tutorial = Config(arch="dcgan", recipe="original").resolved()
  assert (tutorial.g_lr, tutorial.d_lr, tutorial.beta_1, tutorial.ema_decay, tutorial.bn_stats) == (
    1e-4,
    1e-4,
    0.9,
    0.0,
    "moving",
  )
  assert (tutorial.d_steps, tutorial.g_steps, tutorial.updates) == (1, 1, "simultaneous")
  ours = Config(arch="dcgan").resolved()
  assert ours.recipe == "gan-tf" and ours.ema_decay > 0 and ours.bn_stats == "standing"
  assert (ours.d_steps, ours.g_steps) == (3, 3) and Config(arch="mlp").resolved().g_steps == 1
  assert ours.beta_1 == 0.0 and Config(arch="mlp").resolved().beta_1 == 0.5
  # Conditional runs keep the settings they were measured with.
  conditional = Config(arch="dcgan", conditional=True).resolved()
  assert (conditional.d_steps, conditional.g_steps, conditional.beta_1) == (1, 1, 0.5)
  assert Config(arch="dcgan", beta_1=0.9).resolved().beta_1 == 0.9
  assert Config(arch="dcgan", d_steps=1).resolved().d_steps == 1
  assert Config(arch="dcgan", g_steps=3).resolved().g_steps == 3
  assert Config(arch="my_module:build").resolved().g_steps == 1
  # The tutorial's dropout in the discriminator, except for the unconditional gan-tf dcgan.
  assert (tutorial.d_dropout, ours.d_dropout, conditional.d_dropout) == (0.3, 0.0, 0.3)
  assert Config(arch="mlp", conditional=True).resolved().d_dropout == 0.0
  assert Config(arch="dcgan", d_dropout=0.5).resolved().d_dropout == 0.5
  # The sources' discriminators, unless a width is given.
  assert (tutorial.d_width, ours.d_width, conditional.d_width) == (64, 64, 64)
  assert Config(arch="dcgan", d_width=128).resolved().d_width == 128
  assert Config(arch="mlp").resolved().d_width == 512 and Config(arch="my_module:build").resolved().d_width is None
  assert (tutorial.g_width, ours.g_width, conditional.g_width, Config(arch="mlp").resolved().g_width) == (64, 64, 64, 256)
  assert Config(arch="dcgan", g_width=128).resolved().g_width == 128
  assert Config(arch="my_module:build").resolved().g_width is None
  assert (tutorial.g_upsample, conditional.g_upsample, Config(arch="mlp").resolved().g_upsample) == (
    "transpose",
    "transpose",
    None,
  )
  assert Config(arch="dcgan", g_upsample="resize").resolved().g_upsample == "resize"
  assert (tutorial.g_image_width, ours.g_image_width, conditional.g_image_width) == (0, 32, 0)
  assert Config(arch="mlp").resolved().g_image_width is None
  assert Config(arch="dcgan", g_image_width=32).resolved().g_image_width == 32
  assert (tutorial.self_attention, ours.self_attention, conditional.self_attention) == (False, True, False)
  assert Config(arch="mlp").resolved().self_attention is None
  assert Config(arch="dcgan", self_attention=True).resolved().self_attention is True
  # InfoGAN's code in the unconditional gan-tf dcgan only; the mlp and your own networks have none.
  assert (tutorial.info_code, ours.info_code, conditional.info_code) == (0, 10, 0)
  assert {Config(arch=a).resolved().info_code for a in ("mlp", "my_module:build")} == {0}
  assert Config(arch="dcgan", info_code=4).resolved().info_code == 4
  with pytest.raises(ConfigError, match="recipe's info_code=10 needs a latent_dim of at least 10, got 8"):
    Config(arch="dcgan", latent_dim=8).resolved()
  assert Config(arch="dcgan", latent_dim=8, info_code=0).resolved().info_code == 0
  # The tutorial's objective everywhere (the hinge loss measured level: docs/experiments.md).
  assert (tutorial.loss, ours.loss, conditional.loss) == ("nonsaturating",) * 3
  assert {Config(arch=a).resolved().loss for a in ("mlp", "my_module:build")} == {"nonsaturating"}
  assert Config(arch="dcgan", loss="least_squares").resolved().loss == "least_squares"
  # The gradient penalty follows the objective a run ends with.
  assert Config(arch="dcgan", loss="wasserstein_gp").resolved().gp_weight == 10.0 and ours.gp_weight == 0.0
  mine = Config(arch="mlp", recipe="original", g_lr=1e-3, bn_stats="standing").resolved()
  assert (mine.g_lr, mine.d_lr, mine.beta_1, mine.bn_stats) == (1e-3, 2e-4, 0.5, "standing")
  # The Keras articles' loop updates the generator after the discriminator.
  assert mine.updates == "alternating" and Config(arch="mlp").resolved().updates == "alternating"
  assert ours.updates == "simultaneous"
  assert Config(arch="mlp", recipe="original", updates="simultaneous").resolved().updates == "simultaneous"
  # Batches: the design card's 256 for the dcgan; the articles' 32 for the mlp, which collapsed at 256.
  assert (tutorial.batch_size, ours.batch_size, mine.batch_size, Config(arch="mlp").resolved().batch_size) == (256, 256, 32, 32)
  assert Config(arch="mlp", batch_size=256).resolved().batch_size == 256
  for bad in (dict(recipe="best"), dict(ema_decay=1.0), dict(sample_from="both"), dict(eval_every=-1)):
    with pytest.raises(UserError):
      Config(**bad).resolved()


@pytest.mark.parametrize("arch,layout", [("mlp", "channels"), ("dcgan", "channels"), ("mlp", "fold"), ("dcgan", "fold")])
def test_a_packed_discriminator_judges_consecutive_images_together(arch, layout):
  """--pack=2 (PacGAN): the discriminator sees images 2i and 2i+1 together
  (stacked along the channels, or each folded into half the canvas), gives
  both that pack's logit, and the step's losses are the mean over packs."""
  config = Config(
    arch=arch, latent_dim=16, pack=2, pack_layout=layout, d_steps=1, updates="simultaneous", fused_discriminator="false"
  ).resolved()
  gan = GAN(config, (28, 28, 1))
  assert tuple(gan.discriminator.get_layer("pack").output.shape) == (None, 28, 28, 2)
  images = tf.random.uniform([8, 28, 28, 1], -1, 1, seed=3)
  packed = gan.discriminator.get_layer("pack")(images).numpy()
  if layout == "channels":
    np.testing.assert_array_equal(packed[1], tf.concat([images[2], images[3]], -1).numpy())
  else:  # Image 2 fills rows 0-13, image 3 rows 14-27; canvas row r holds image rows 2r and 2r+1.
    np.testing.assert_array_equal(packed[1, :14].reshape(-1), images[2].numpy().reshape(-1))
    np.testing.assert_array_equal(packed[1, 14:].reshape(-1), images[3].numpy().reshape(-1))
    np.testing.assert_array_equal(packed[1, 3, :14].reshape(-1), images[2, 6, :, 0].numpy())
    np.testing.assert_array_equal(packed[1, 3, 14:].reshape(-1), images[2, 7, :, 0].numpy())
  logits = gan.discriminator(images, training=False).numpy()[:, 0]
  np.testing.assert_array_equal(logits[0::2], logits[1::2])
  assert len(set(np.round(logits[0::2], 5))) == 4  # Four packs, four judgements.
  # A pack's logit depends on its own two images alone, in their order.
  swapped = tf.concat([images[:2], images[3:4], images[2:3], images[4:]], 0)
  other = gan.discriminator(swapped, training=False).numpy()[:, 0]
  np.testing.assert_allclose(other[[0, 1, 4, 5, 6, 7]], logits[[0, 1, 4, 5, 6, 7]], rtol=1e-5)
  assert abs(other[2] - logits[2]) > 1e-6
  # The step: BCE over the four packs of real and of generated images.
  noise = draws.normal([8, 16], [0, 0])
  bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
  fake_logits = gan.discriminator(gan.generator(noise, training=True), training=True)[0::2]
  real_logits = gan.discriminator(images, training=True)[0::2]
  expected_d = float(bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits))
  if arch == "mlp":  # The dcgan's dropout draws other masks in the step.
    assert float(gan.train_step(images)["d_loss"]) == pytest.approx(expected_d, rel=1e-4)
  else:
    assert np.isfinite(float(gan.train_step(images)["d_loss"]))


@pytest.mark.parametrize(
  "change,message",
  [
    (dict(conditional=True), "unconditional"),
    (dict(r1_gamma=1.0), "with r1_gamma"),
    (dict(loss="wasserstein_gp"), "with gp_weight"),
    (dict(batch_size=255), "not a multiple of pack=2"),
    (dict(pack_layout="tiles"), "pack_layout='tiles' is not one of fold, channels"),
  ],
)
def test_pack_refuses_what_it_cannot_do(change, message):
  with pytest.raises(UserError, match=message):
    Config(pack=2, **change).resolved()


def test_the_dcgan_recipe_folds_packs_of_two_unless_a_penalty_needs_each_image():
  assert (Config(arch="dcgan").resolved().pack, Config(arch="dcgan").resolved().pack_layout) == (2, "fold")
  for change in (
    dict(r1_gamma=1.0),
    dict(loss="wasserstein_gp"),
    dict(gp_weight=5.0),
    dict(conditional=True),
    dict(recipe="original"),
    dict(arch="mlp"),
  ):
    assert Config(**{"arch": "dcgan", **change}).resolved().pack == 1, change
  assert Config(arch="dcgan", r1_gamma=0.0).resolved().pack == 2


def test_runs_from_before_pack_judge_each_image_alone():
  old = Config(arch="dcgan", pack=1).resolved().to_json().replace('"pack": 1,', "")
  assert '"pack"' not in old
  assert rundir.parse_config(old).resolved().pack == 1


def test_runs_from_before_pack_layout_stacked_their_packs():
  old = Config(arch="dcgan", pack=2, pack_layout="channels").resolved().to_json()
  old = old.replace('"pack_layout": "channels",', "")
  assert '"pack_layout"' not in old
  assert rundir.parse_config(old).resolved().pack_layout == "channels"
  alone = Config(arch="dcgan", pack=1).resolved().to_json().replace('"pack_layout": "fold",', "")
  assert rundir.parse_config(alone) == Config(arch="dcgan", pack=1).resolved()


def test_runs_from_before_the_code_have_none():
  for arch in ("dcgan", "mlp", "my_module:build"):
    old = json.loads(Config(arch=arch, info_code=0).resolved().to_json())
    del old["info_code"]
    assert rundir.parse_config(json.dumps(old)).info_code == 0, arch
