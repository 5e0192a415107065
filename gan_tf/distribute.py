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
      raise UserError("--strategy=multi_worker needs the TF_CONFIG environment variable describing the "
                      "cluster and this worker's task (see BUILD.md)")
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    try:
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as e:
      raise UserError(f"--strategy=tpu found no TPU ({e})") from None
    return tf.distribute.TPUStrategy(resolver)
  raise UserError(f"unknown --strategy={name!r}; choose one of {', '.join(STRATEGIES)}")


def is_multi_worker(strategy) -> bool:
  return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
      bool(strategy.cluster_resolver.cluster_spec().as_dict())


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


def resolve_speed(config, strategy):
  """Replaces "auto" speed settings by what is fastest and correct on this device.

  GPU: mixed_float16 where tensor cores exist (compute capability 7.0+), XLA,
  8 steps per call, one discriminator call on real and fake. TPU:
  mixed_bfloat16, 8 steps per call (TPUStrategy compiles with XLA itself),
  fused. CPU: float32, 1 step per call, two discriminator calls, and XLA
  for the mlp alone: on CPU XLA sped up the mlp's dense layers and slowed
  the dcgan's convolutions, and the other options measured slower or no
  faster (README's benchmark). (XLA cannot place a step across logical CPU
  devices, so not with several CPU replicas.)
  """
  import dataclasses

  if isinstance(strategy, tf.distribute.TPUStrategy):
    device = dict(precision="mixed_bfloat16", jit_compile="false", steps_per_execution=8, fused_discriminator="true")
  elif tf.config.list_logical_devices("GPU"):
    details = [tf.config.experimental.get_device_details(g) for g in tf.config.list_physical_devices("GPU")]
    tensor_cores = all(d.get("compute_capability", (0, 0)) >= (7, 0) for d in details)
    device = dict(precision="mixed_float16" if tensor_cores else "float32", jit_compile="true",
                  steps_per_execution=8, fused_discriminator="true")
  else:
    xla = config.arch == "mlp" and strategy.num_replicas_in_sync == 1
    device = dict(precision="float32", jit_compile="true" if xla else "false", steps_per_execution=1,
                  fused_discriminator="false")
  chosen = {k: v for k, v in device.items() if getattr(config, k) in ("auto", 0)}
  return dataclasses.replace(config, **chosen)
