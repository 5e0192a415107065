"""The run's checkpoints: restore the newest readable one; save by epoch, by
time, and when asked to stop; one training process per run directory."""

import json
import re
import shutil
import sys
import time
from pathlib import Path

import tensorflow as tf

from gan_tf import distribute
from gan_tf.errors import UserError
from gan_tf.fileio import atomic_write_text
from gan_tf.rundir import BEST_DIR, SAVED_MARK

_NUMBERED = re.compile(r"^ckpt-(\d+)\.index$")


class Checkpoints:
  def __init__(
    self, checkpoint: tf.train.Checkpoint, run_dir, max_to_keep: int = 1, every_minutes: float = 0, save_dir=None, read_only=False
  ):
    """Restores from `run_dir`; saves there too, or into `save_dir` (a
    multi-worker run's non-chief workers), which then leaves `run_dir` alone.
    `read_only` (export, evaluate): restores the newest complete checkpoint
    and changes nothing; a newer one may be one a training is still writing."""
    self.checkpoint = checkpoint
    self.run_dir = Path(run_dir)
    self.read_only = read_only
    self.owner = not read_only and (save_dir is None or Path(save_dir) == self.run_dir)
    self.manager = None
    if not read_only:
      save_dir = Path(save_dir or run_dir)
      _check_state_file(save_dir, self.owner)
      self.manager = tf.train.CheckpointManager(checkpoint, str(save_dir), max_to_keep=max_to_keep)
    self.every_seconds = every_minutes * 60
    self.last_save_time = time.monotonic()
    self.last_saved = None
    self.saves = 0  # Saves by this process; the first marks the run (SAVED_MARK).

  def candidates(self):
    return checkpoint_prefixes(self.run_dir)

  def restore(self):
    """Restores the newest checkpoint that reads back whole; returns its path, or None for a new run.

    An unreadable one is reported and moved aside (`*.corrupt`), never deleted;
    if none can be read the run stops rather than silently starting over.
    """
    candidates = self.candidates()
    for prefix in candidates:
      error = _unreadable(prefix)
      if error:
        if self.read_only:
          continue  # Perhaps still being written; the trainer that owns the run decides.
        if not self.owner:
          raise UserError(
            f"checkpoint {prefix} cannot be read ({type(error).__name__}); the chief moves it aside, restart this worker after it"
          )
        self._move_aside(prefix, error)
        continue
      try:
        self.checkpoint.restore(prefix).assert_existing_objects_matched()
      except (AssertionError, ValueError, tf.errors.OpError):
        # Readable but of another shape: another architecture or program
        # version. Not corruption, so nothing is moved.
        raise UserError(
          f"checkpoint {prefix} does not match this model (another @arch, @latent_dim or "
          f"gan-tf version wrote it); choose a new @run_dir"
        ) from None
      return prefix
    if candidates and self.read_only:
      raise UserError(
        f"none of the {len(candidates)} checkpoints in {self.run_dir} can be read now; if a training is "
        f"writing one, try again when it has finished"
      )
    if candidates:
      raise UserError(
        f"none of the {len(candidates)} checkpoints in {self.run_dir} can be restored "
        f"(moved aside as *.corrupt); choose a new @run_dir to start over"
      )
    return None

  def _move_aside(self, prefix, error):
    reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    print(
      f"warning: checkpoint {prefix} cannot be read ({reason}); "
      f"moved aside as {Path(prefix).name}.*.corrupt, trying an older one",
      file=sys.stderr,
    )
    for path in Path(prefix).parent.glob(Path(prefix).name + ".*"):
      if not path.name.endswith(".corrupt"):
        path.rename(path.with_name(path.name + ".corrupt"))

  def preemption_handler(self, strategy, on_exit):
    """TensorFlow's coordinated save-and-stop for multi-worker runs (None elsewhere).

    A SIGTERM to any worker makes every worker save at the same step; then
    `on_exit` runs (it raises, so the loop ends as after a signal).
    """
    if not distribute.is_multi_worker(strategy):
      return None
    return tf.distribute.experimental.PreemptionCheckpointHandler(
      strategy.cluster_resolver, self.manager, termination_config=tf.distribute.experimental.TerminationConfig(exit_fn=on_exit)
    )

  def due(self) -> bool:
    return self.every_seconds > 0 and time.monotonic() - self.last_save_time >= self.every_seconds

  def save(self, step: int) -> str:
    """Saves as ckpt-<global step> (once per step)."""
    if self.last_saved is None or self.last_saved[0] != step:
      try:
        self.last_saved = (step, self.manager.save(checkpoint_number=step))
      except (tf.errors.OpError, OSError) as e:
        # A full or read-only disk: TensorFlow leaves its temporary directory; the older checkpoints are intact.
        for temp in Path(self.manager.directory).glob(f"ckpt-{step}_temp"):
          shutil.rmtree(temp, ignore_errors=True)
        reason = getattr(e, "strerror", None) or (e.message if isinstance(e, tf.errors.OpError) else str(e))
        raise UserError(
          f"cannot save a checkpoint in {self.manager.directory}: {reason.strip().splitlines()[0]}; the older "
          f"checkpoints are intact; free space (or make it writable) and run again"
        ) from None
      if self.owner and self.saves == 0:
        (Path(self.manager.directory) / SAVED_MARK).touch()
      self.saves += 1
    self.last_save_time = time.monotonic()
    return self.last_saved[1]


class BestCheckpoint:
  """The checkpoint with the lowest FID, in `<run_dir>/best/`, and its record
  (`best.json`: fid, epoch, step), which outlives a resume."""

  def __init__(self, checkpoint: tf.train.Checkpoint, run_dir):
    self.dir = Path(run_dir) / BEST_DIR
    self.manager = tf.train.CheckpointManager(checkpoint, str(self.dir), max_to_keep=1)
    path = self.dir / "best.json"
    self.record = json.loads(path.read_text()) if path.exists() else None

  def consider(self, fid: float, epoch: int, step: int) -> bool:
    """Saves the checkpoint if `fid` beats the best so far; returns whether it did."""
    if self.record is not None and not fid < self.record["fid"]:
      return False
    self.manager.save(checkpoint_number=step)
    self.record = {"fid": fid, "epoch": epoch, "step": step}
    atomic_write_text(self.dir / "best.json", json.dumps(self.record) + "\n")
    return True


def checkpoint_prefixes(run_dir):
  """Checkpoint prefixes in `run_dir`, newest first (read from the files: the state file may be stale)."""
  found = [
    (int(m.group(1)), Path(run_dir) / f"ckpt-{m.group(1)}")
    for p in Path(run_dir).glob("ckpt-*.index")
    if (m := _NUMBERED.match(p.name))
  ]
  return [str(prefix) for _, prefix in sorted(found, reverse=True)]


def _check_state_file(directory: Path, owner: bool) -> None:
  """TensorFlow's `checkpoint` state file, which CheckpointManager parses:
  if it is garbled, the trainer moves it aside (the checkpoints are found by
  their files, and the next save writes a new one)."""
  path = directory / "checkpoint"
  if not path.is_file():
    return
  try:
    tf.train.get_checkpoint_state(str(directory))
  except Exception as e:  # protobuf's text-format errors, decode errors
    if not owner:
      raise UserError(f"{path} is damaged ({type(e).__name__}); the training that owns the run repairs it") from None
    print(f"warning: {path} is damaged ({type(e).__name__}); moved aside as checkpoint.corrupt", file=sys.stderr)
    path.rename(path.with_name("checkpoint.corrupt"))


def _unreadable(prefix):
  """The error reading every tensor of a checkpoint raises (each is checksummed), or None."""
  try:
    reader = tf.train.load_checkpoint(prefix)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  except (tf.errors.OpError, ValueError, IndexError, KeyError, RuntimeError) as e:
    return e
  return None
