"""tf.distribute strategies, and who writes what under them.

Under MultiWorkerMirroredStrategy every worker runs the same loop and takes
part in every checkpoint save (saving is collective); only the chief writes
into the run directory, the others into a temporary directory of their own
that is removed at the end, as TensorFlow's multi-worker guide prescribes.
"""

import os
import shutil
from pathlib import Path

import tensorflow as tf

from gan_tf.errors import UserError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str) -> tf.distribute.Strategy:
  """Must run before other TensorFlow work: multi-worker sets up its collectives here."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    # All GPUs of this machine; without GPUs, all (logical) CPU devices.
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in devices])
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise UserError(
        "@strategy=multi_worker needs the TF_CONFIG environment variable describing the "
        "cluster and this worker's task (see BUILD.md)"
      )
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    try:
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as e:
      raise UserError(f"@strategy=tpu found no TPU ({e})") from None
    return tf.distribute.TPUStrategy(resolver)
  raise UserError(f"unknown @strategy={name!r}; choose one of {', '.join(STRATEGIES)}")


def is_multi_worker(strategy) -> bool:
  return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
    strategy.cluster_resolver.cluster_spec().as_dict()
  )


def is_chief(strategy) -> bool:
  if not is_multi_worker(strategy):
    return True
  resolver = strategy.cluster_resolver
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


def write_dir(run_dir: Path, strategy) -> Path:
  """Where this process writes: the run directory for the chief, a private temporary one otherwise."""
  if is_chief(strategy):
    return run_dir
  resolver = strategy.cluster_resolver
  return run_dir / f".{resolver.task_type}-{resolver.task_id}-tmp"


def remove_worker_dir(run_dir: Path, directory: Path) -> None:
  if directory != run_dir:
    shutil.rmtree(directory, ignore_errors=True)
