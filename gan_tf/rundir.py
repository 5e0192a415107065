"""The run directory's record: its config, what makes a run itself, its lock, its leftovers.

  config.json   the run's settings, the data's image shape and number of
                classes, and the speed settings "auto" became on this device
  flags.txt     the same settings as flags, for `train --flagfile`
  .lock         held by the one process training the run
  .saved        written with the first checkpoint: a run whose checkpoints
                have all gone is refused rather than silently started over

Reading a record never changes the directory. Nothing here imports
TensorFlow, so the commands check a run before TensorFlow loads.
"""

import fcntl
import json
import os
import shutil
from pathlib import Path

from gan_tf import recipes
from gan_tf import settings as settings_lib
from gan_tf.config import Config
from gan_tf.errors import ConfigError, UserError
from gan_tf.fileio import atomic_write_text

BEST_DIR = "best"  # The best checkpoint by FID (@eval_every).
SAVED_MARK = ".saved"


def parse_config(text: str) -> Config:
  """A run's config.json, written by this version or an older one."""
  raw = json.loads(text)
  if not isinstance(raw, dict):
    raise ValueError("not a JSON object")
  raw.setdefault("pack", 1)  # Runs from before packs judged each image alone,
  # and runs from before pack layouts stacked their packs (a layout of no
  # pack is the default's, so that a run resumes without naming one).
  raw.setdefault("pack_layout", "channels" if raw["pack"] > 1 else "fold")
  # Runs from before a network setting that shapes the checkpoint had their
  # source's networks (your own: the custom row's, no code and nothing else to set).
  source = recipes.source(str(raw.get("arch", "")))
  for name in recipes.NETWORK_SETTINGS:
    if name in settings_lib.IDENTITY:
      raw.setdefault(name, source.get(name))
  return Config.from_json(json.dumps(raw))


def load_config(run_dir) -> Config | None:
  """The config a run directory was started with, or None for a new run."""
  path = Path(run_dir) / "config.json"
  if not path.exists():
    return None
  try:
    return parse_config(path.read_text())
  except (ValueError, TypeError, KeyError) as e:
    raise UserError(f"{path} is not a valid run config ({e}); remove it or choose another @run_dir") from None


def write(
  run_dir, config: Config, image_shape, num_classes=0, speed: Config | None = None, precision_reason="", device=""
) -> None:
  """`config.json` and `flags.txt`; `speed`: the settings "auto" became on `device`."""
  record = json.loads(config.to_json())
  record["image_shape"] = list(image_shape)
  record["num_classes"] = num_classes
  if speed is not None:
    record["resolved_speed"] = {name: getattr(speed, name) for name in settings_lib.SPEED}
    record["resolved_speed"]["precision_reason"] = precision_reason
    record["resolved_speed"]["device"] = device
  try:
    atomic_write_text(Path(run_dir) / "config.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
  except OSError as e:
    raise UserError(f"cannot write {Path(run_dir) / 'config.json'}: {e.strerror}") from None
  # The run directory too, so `train --flagfile=RUN/flags.txt` continues this run from anywhere.
  atomic_write_text(Path(run_dir) / "flags.txt", config.to_flagfile() + f"--checkpoint_dir={Path(run_dir).resolve()}\n")


def image_shape(run_dir) -> tuple:
  return tuple(_record(run_dir)["image_shape"])


def num_classes(run_dir) -> int:
  return int(_record(run_dir).get("num_classes", 0))


def precision(run_dir) -> str:
  """The precision the run last trained in ("auto" as resolved; a record from before resolved_speed: as set)."""
  return resolved_speed(run_dir).get("precision") or _record(run_dir)["precision"]


def resolved_speed(run_dir) -> dict:
  """The speed settings "auto" became when the run last trained, with why and
  on what device; {} for a new run or a record from before they were kept."""
  try:
    return dict(_record(run_dir).get("resolved_speed", {}))
  except (OSError, ValueError, AttributeError):
    return {}


def _record(run_dir) -> dict:
  return json.loads((Path(run_dir) / "config.json").read_text())


def with_identity_of(fields: dict, run_dir, given) -> dict:
  """`fields` with the identity settings not in `given` taken from the run
  in `run_dir` (if there is one): resuming needs only the directory."""
  previous = load_config(run_dir)
  if previous is None:
    return fields
  return {**fields, **{name: getattr(previous, name) for name in settings_lib.IDENTITY if name not in given}}


def check_resumable(config: Config, run_dir) -> None:
  """Refuses to continue a run whose checkpointed shapes differ from `config`."""
  previous = load_config(run_dir)
  if previous is None:
    return
  for name in settings_lib.IDENTITY:
    old, new = getattr(previous, name), getattr(config, name)
    if old != new:
      raise ConfigError(
        name, f"{run_dir} holds a run with @{name}={old}, not {new}; pass @{name}={old} to resume it or choose a new @run_dir"
      )


def check_name(run_dir: Path) -> None:
  if any(c in str(run_dir) for c in "*?[]"):
    # TensorFlow's CheckpointManager prunes old checkpoints by glob pattern:
    # such a name would match, and delete, another directory's checkpoints.
    raise UserError(f"@run_dir={run_dir} holds a glob character ([, ], * or ?); choose a name without them")


def make_writable(run_dir: Path) -> None:
  try:
    run_dir.mkdir(parents=True, exist_ok=True)
    probe = run_dir / f".write-test-{id(run_dir)}"
    probe.touch()
    probe.unlink()
  except OSError as e:
    raise UserError(f"cannot write to @run_dir={run_dir}: {e.strerror}") from None


def remove_leftovers(run_dir: Path) -> None:
  """What a killed run of this directory left half-written: TensorFlow's
  checkpoint temporaries and this package's temporary files (written, then
  renamed). Only the process holding the run's lock calls this."""
  for path in [*run_dir.glob("ckpt-*_temp"), *run_dir.glob("checkpoint.tmp*"), *run_dir.glob(f"{BEST_DIR}/ckpt-*_temp")]:
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
  for path in [*run_dir.glob(".*.tmp"), *run_dir.glob("samples/.*.tmp"), *run_dir.glob(f"{BEST_DIR}/.*.tmp")]:
    path.unlink(missing_ok=True)


def is_empty(run_dir: Path) -> bool:
  """Nothing written but the lock: what a run that failed at once leaves."""
  return run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".lock"}


class RunLock:
  """An exclusive lock on the run directory. The kernel releases it when the
  process ends, however it ends, so a crash never leaves it stuck."""

  def __init__(self, run_dir):
    self.path = Path(run_dir) / ".lock"
    self.fd = None

  def __enter__(self):
    try:
      self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise UserError(f"cannot open the run's lock file {self.path}: {e.strerror}; remove it if it is not a file") from None
    try:
      fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "another process"
      os.close(self.fd)
      raise UserError(
        f"{self.path.parent} is in use by a running training ({holder}); wait for it to finish or choose another @run_dir"
      ) from None
    os.ftruncate(self.fd, 0)
    os.pwrite(self.fd, f"pid {os.getpid()}".encode(), 0)
    return self

  def __exit__(self, *exc):
    os.close(self.fd)  # Releases the lock.
