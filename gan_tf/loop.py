"""The training loop: restore or start, train epochs, checkpoint, export."""

import contextlib
import dataclasses
import shutil
import signal
import threading
import time
from pathlib import Path

import keras
import tensorflow as tf

from gan_tf import callbacks as callbacks_lib
from gan_tf import config as config_lib
from gan_tf import custom, distribute, history, recipes, rundir
from gan_tf import data as data_lib
from gan_tf import serving as export_lib
from gan_tf import speed as speed_lib
from gan_tf.checkpoints import Checkpoints
from gan_tf.errors import Interrupted, TrainingDiverged, UserError
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
  precision_reason: str = ""  # Why the step runs in the precision it does.


def train(
  config: config_lib.Config, run_dir, dataset: data_lib.ImageSet | None = None, callbacks=None, default_callbacks=True
) -> dict:
  """Trains to `config.epochs` in total, continuing the run in `run_dir` if there is one.

  `dataset` replaces the one named by the config (tests pass a slice).
  Returns the last epoch's scalar logs. Raises `Interrupted` after saving a
  checkpoint when SIGINT or SIGTERM arrives.
  """
  config = config.resolved()
  if recipes.is_custom(config.arch):
    custom.load_function(config.arch)  # A module that does not import fails here, before any work.
  run_dir = Path(run_dir)
  rundir.check_name(run_dir)
  rundir.check_resumable(config, run_dir)
  if config.export_dir:
    export_lib.check_export_dir(config.export_dir)
    if Path(config.export_dir).resolve() == run_dir.resolve():
      raise UserError(f"@export_dir={config.export_dir} is the run directory; choose another, such as exports/NAME")
  strategy = distribute.make_strategy(config.strategy)
  if config.eval_every and distribute.is_multi_worker(strategy):
    # Saving the best checkpoint would need every worker to take part.
    raise UserError(
      "@eval_every does not work with @strategy=multi_worker yet; "
      "evaluate the run's checkpoints with the evaluate command instead"
    )
  own_dir = distribute.write_dir(run_dir, strategy)
  new_dir = not own_dir.exists()
  rundir.make_writable(own_dir)
  # Under multi-worker training a stop must be agreed by all workers, which
  # TensorFlow's PreemptionCheckpointHandler does; elsewhere a signal handler.
  stops = contextlib.nullcontext(_StopState()) if distribute.is_multi_worker(strategy) else _stop_requests()
  try:
    with rundir.RunLock(own_dir), stops as stop:
      try:
        rundir.remove_leftovers(own_dir)
        return _train(config, run_dir, own_dir, strategy, dataset, callbacks, default_callbacks, stop)
      finally:
        distribute.remove_worker_dir(run_dir, own_dir)
  except BaseException:
    if new_dir and rundir.is_empty(own_dir):
      shutil.rmtree(own_dir, ignore_errors=True)  # A run that failed before writing anything leaves nothing behind.
    raise


def _train(config, run_dir, own_dir, strategy, dataset, callbacks, default_callbacks, stop):
  chief = own_dir == run_dir
  if dataset is None:
    data = data_lib.load(config.dataset, config.split, config.data_dir, config.image_size, config.channels)
  else:
    data = data_lib.convert(dataset, config.image_size, config.channels)
  if config.conditional and data.num_classes < 2:
    raise UserError(
      f"@conditional needs class labels, and {data.name} has none; use a labelled dataset "
      f"(IDX with its labels file, a TFDS dataset with labels, or folder:DIR with a sub-folder per class)"
    )
  pipeline = data_lib.Pipeline(data, config.batch_size, config.seed)
  unit = strategy.num_replicas_in_sync * config.pack  # Each replica's share must hold whole packs.
  if config.batch_size % unit:
    packs = f" in packs of @pack={config.pack}" if config.pack > 1 else ""
    raise UserError(
      f"@batch_size={config.batch_size} does not split evenly over "
      f"{strategy.num_replicas_in_sync} replicas{packs}; pass a multiple of {unit}"
    )
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
  # The run's record keeps "auto", so it resumes as well on another device
  # (on the same CPU, in the precision it started with).
  speed, precision_reason = speed_lib.resolve(config, strategy, rundir.resolved_speed(run_dir))
  # After the probe, whose networks would otherwise draw from the seeded state.
  keras.utils.set_random_seed(config.seed)  # Initial weights and dropout masks.
  gan = GAN(speed, data.image_shape, strategy, data.num_classes)
  checkpoints = Checkpoints(
    gan.checkpoint(),
    run_dir,
    config.max_to_keep,
    0 if distribute.is_multi_worker(strategy) else config.checkpoint_every_minutes,
    save_dir=own_dir,
  )
  if checkpoints.restore():
    # Learning rates are optimiser variables, so the restore brought back the
    # old ones; the flags of this invocation win.
    gan.g_optimizer.learning_rate = config.g_lr
    gan.d_optimizer.learning_rate = config.d_lr

  def preempted():
    raise Interrupted(
      signal.SIGTERM,
      f"stopped at step {int(gan.step.numpy())} on a preemption signal; saved a "
      f"checkpoint in {run_dir}; start every worker again to continue",
    )

  preemption = checkpoints.preemption_handler(strategy, preempted)
  start_epoch = int(gan.epoch.numpy())
  global_step = int(gan.step.numpy())  # Kept on the host too, so the loop never reads it from the device.
  if global_step == 0 and chief and (run_dir / rundir.SAVED_MARK).exists():
    raise UserError(
      f"{run_dir} saved checkpoints before (its history records {_history_epochs(run_dir)} epochs), but none is "
      f"there now; put them back to continue, or choose another @run_dir to start over"
    )
  if chief:
    rundir.write(run_dir, config, data.image_shape, gan.num_classes, speed, precision_reason, speed_lib.device(strategy))

  run = Run(config, run_dir, gan, pipeline.steps_per_epoch, config.batch_size, start_epoch, precision_reason)
  # Only the chief shows and writes anything besides checkpoints.
  defaults = callbacks_lib.defaults(config, run_dir, data) if default_callbacks else []
  cbs = defaults + list(callbacks or []) if chief else []
  for cb in cbs:
    cb.on_train_begin(run)

  logs = {}
  done = int(gan.epoch_step.numpy())  # Steps of the first epoch done before an interruption.
  batches = iter(strategy.experimental_distribute_dataset(pipeline.batches(start_epoch + 1, skip=done)))
  for epoch in range(start_epoch + 1, config.epochs + 1):
    if not done:
      gan.reset_metrics()
    for cb in cbs:
      cb.on_epoch_begin(epoch)
    start = time.perf_counter()
    step = done
    while step < pipeline.steps_per_epoch:
      n = min(speed.steps_per_execution, pipeline.steps_per_epoch - step)
      values = gan.train_steps(batches, tf.constant(n))
      step += n
      global_step += n
      for cb in cbs:
        cb.on_step_end(step, values)
      if preemption:
        preemption.save_checkpoint_if_preempted(checkpoint_number=global_step)
      if stop.signum or checkpoints.due():
        _check_finite(gan, epoch, run_dir)
        path = checkpoints.save(global_step)
        if stop.signum:
          raise Interrupted(
            stop.signum,
            f"stopped in epoch {epoch} at step {global_step} "
            f"({step}/{pipeline.steps_per_epoch} of the epoch); saved {path}; "
            f"run the same command again to continue",
          )
    _check_finite(gan, epoch, run_dir)
    logs = gan.metric_results()
    seconds = time.perf_counter() - start
    logs.update(step=global_step, seconds=seconds, images_per_sec=(pipeline.steps_per_epoch - done) * config.batch_size / seconds)
    done = 0
    gan.epoch.assign(epoch)
    gan.epoch_step.assign(0)
    # Outputs first, checkpoint last: a crash in between redoes the epoch, and
    # History drops the rows past the checkpoint it resumes from. A second
    # signal waits for these few seconds of outputs and the save, except
    # during an evaluation (long, and only a measurement): the epoch's
    # training is done and costs more to redo than to keep.
    try:
      for cb in cbs:
        stop.protected = not getattr(cb, "interruptible", False)
        if not stop.protected and stop.forced:
          raise KeyboardInterrupt
        cb.on_epoch_end(epoch, logs)
      stop.protected = True
      if epoch % config.checkpoint_every == 0 or epoch == config.epochs or stop.signum or checkpoints.due():
        path = checkpoints.save(global_step)
        if stop.signum:
          raise Interrupted(
            stop.signum,
            f"stopped after epoch {epoch} at step {global_step}; saved {path}; run the same command again to continue",
          )
    finally:
      stop.protected = False

  if config.export_dir:
    # Every worker exports (reading distributed variables can be collective);
    # only the chief's lands in export_dir.
    export_lib.export(gan.sampler(), config.latent_dim, config.export_dir if chief else own_dir / "export", gan.num_classes)
    if stop.signum:
      raise Interrupted(stop.signum, f"stopped after the export to {config.export_dir}; training had finished")
  for cb in cbs:
    cb.on_train_end(logs)
  return {k: v for k, v in logs.items() if k != "sample_grid"}


def _history_epochs(run_dir: Path) -> int:
  """How many epochs `history.csv` records (its readable rows; 0 without one)."""
  path = run_dir / "history.csv"
  return len(history.read(path)[0]) if path.is_file() else 0


def _check_finite(gan, epoch, run_dir):
  bad_step = int(gan.nonfinite_step.numpy())
  if bad_step >= 0:
    raise TrainingDiverged(
      f"losses became NaN or infinite in epoch {epoch} at step {bad_step}; the checkpoints in {run_dir} "
      f"are kept as they were; lower the learning rates (@g_lr, @d_lr) and run again"
    )


class _StopState:
  signum = 0
  protected = False  # While set, a second signal is held (forced) rather than raised.
  forced = False


@contextlib.contextmanager
def _stop_requests():
  """Turns the first SIGINT/SIGTERM into a request to stop after the current
  step; a second one interrupts at once, or, at the end of an epoch, once it
  is saved."""
  state = _StopState()
  if threading.current_thread() is not threading.main_thread():
    yield state
    return

  def handler(signum, frame):
    if state.signum:
      if state.protected:
        state.forced = True
        return
      raise KeyboardInterrupt
    state.signum = signum

  previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield state
  finally:
    for s, h in previous.items():
      signal.signal(s, h)
