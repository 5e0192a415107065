"""The training loop: restore or start, train epochs, checkpoint, export."""

import dataclasses
import math
import time
from pathlib import Path
from typing import Optional

import tensorflow as tf

from gan_tf import callbacks as callbacks_lib
from gan_tf import config as config_lib
from gan_tf import data as data_lib
from gan_tf import export as export_lib
from gan_tf.errors import TrainingDiverged, UserError
from gan_tf.gan import GAN


@dataclasses.dataclass
class Run:
  """What callbacks get to see of the run."""
  config: config_lib.Config
  run_dir: Path
  gan: GAN
  steps_per_epoch: int
  batch_size: int
  start_epoch: int


def default_callbacks(config, run_dir):
  cbs = [callbacks_lib.SampleGrid(run_dir, config.sample_every),
         callbacks_lib.History(run_dir),
         callbacks_lib.TensorBoard(run_dir)]
  if config.progress:
    cbs.append(callbacks_lib.Progress())
  return cbs


def train(config: config_lib.Config, run_dir, dataset: Optional[data_lib.ImageSet] = None,
          callbacks=None) -> dict:
  """Trains to `config.epochs` in total, continuing the run in `run_dir` if there is one.

  `dataset` replaces the one named by the config (tests pass a slice).
  Returns the last epoch's scalar logs.
  """
  config = config.resolved()
  run_dir = Path(run_dir)
  config_lib.check_resumable(config, run_dir)
  if config.export_dir:
    export_lib.check_export_dir(config.export_dir)
  data = dataset if dataset is not None else data_lib.load(config.dataset, config.split, config.data_dir)
  pipeline = data_lib.Pipeline(data, config.batch_size, config.shuffle_buffer, config.seed)
  try:
    run_dir.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise UserError(f"cannot create --checkpoint_dir={run_dir}: {e.strerror}") from None

  gan = GAN(config, data.image_shape)
  checkpoint = gan.checkpoint()
  manager = tf.train.CheckpointManager(checkpoint, str(run_dir), max_to_keep=config.max_to_keep)
  if manager.latest_checkpoint:
    checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    # Learning rates are optimiser variables, so the restore brought back the
    # old ones; the flags of this invocation win.
    gan.g_optimizer.learning_rate = config.g_lr
    gan.d_optimizer.learning_rate = config.d_lr
  start_epoch = int(gan.epoch)
  config_lib.write_run_config(run_dir, config, data.image_shape)

  run = Run(config, run_dir, gan, pipeline.steps_per_epoch, config.batch_size, start_epoch)
  cbs = default_callbacks(config, run_dir) + list(callbacks or [])
  for cb in cbs:
    cb.on_train_begin(run)

  logs = {}
  for epoch in range(start_epoch + 1, config.epochs + 1):
    for cb in cbs:
      cb.on_epoch_begin(epoch)
    gan.reset_metrics()
    start = time.perf_counter()
    for step, (images, _) in enumerate(pipeline.epoch(epoch), start=1):
      values = gan.train_step(images)
      for cb in cbs:
        cb.on_step_end(step, values)
    logs = gan.metric_results()  # Waits for the epoch's last step.
    seconds = time.perf_counter() - start
    if not all(math.isfinite(v) for v in logs.values()):
      raise TrainingDiverged(
          f"losses became NaN or infinite in epoch {epoch} (by step {int(gan.step)}): {logs}; "
          f"the last checkpoint in {run_dir} is kept; lower the learning rates and re-run")
    logs.update(step=int(gan.step), seconds=seconds,
                images_per_sec=pipeline.steps_per_epoch * config.batch_size / seconds)
    gan.epoch.assign(epoch)
    # Outputs first, checkpoint last: a crash in between redoes the epoch, and
    # History drops the rows past the checkpoint it resumes from.
    for cb in cbs:
      cb.on_epoch_end(epoch, logs)
    if epoch % config.checkpoint_every == 0 or epoch == config.epochs:
      manager.save(checkpoint_number=epoch)

  if config.export_dir:
    export_lib.export(gan.generator, config.latent_dim, config.export_dir)
  for cb in cbs:
    cb.on_train_end(logs)
  return {k: v for k, v in logs.items() if k != "sample_grid"}


def restore_generator(run_dir):
  """The generator of the latest checkpoint in `run_dir`, and the run's config."""
  run_dir = Path(run_dir)
  config = config_lib.load_run_config(run_dir)
  latest = tf.train.latest_checkpoint(str(run_dir))
  if config is None or latest is None:
    raise UserError(f"{run_dir} holds no checkpoint of a gan-tf run; train one with bin/train first")
  gan = GAN(config.resolved(), config_lib.load_image_shape(run_dir))
  tf.train.Checkpoint(generator=gan.generator).restore(latest).expect_partial()
  return gan.generator, config
