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


def resolve_speed(config, strategy):
  """Replaces "auto" speed settings by what is fastest and correct on this device.

  GPU: mixed_float16 where tensor cores exist (compute capability 7.0+), XLA,
  8 steps per call, one discriminator call on real and fake. TPU:
  mixed_bfloat16, 8 steps per call (TPUStrategy compiles with XLA itself),
  fused. CPU: two discriminator calls, XLA and 8 steps per call for the
  mlp alone, and for the dcgan mixed_bfloat16 where this CPU's bfloat16
  convolutions measure at least BF16_MIN_SPEEDUP times float32's, float32
  elsewhere. On CPU, XLA sped up the mlp's dense layers and slowed the
  dcgan's convolutions, the other options measured slower or no faster, and
  bfloat16 ran the dcgan step 1.59x on one CPU and 0.62x on another with the
  same instruction set, hence a measurement (docs/usage.md, Speed). (XLA
  cannot place a step across logical CPU devices, so not with several CPU
  replicas.)
  """
  import dataclasses

  if isinstance(strategy, tf.distribute.TPUStrategy):
    device = dict(precision="mixed_bfloat16", jit_compile="false", steps_per_execution=8, fused_discriminator="true")
  elif tf.config.list_logical_devices("GPU"):
    details = [tf.config.experimental.get_device_details(g) for g in tf.config.list_physical_devices("GPU")]
    tensor_cores = all(d.get("compute_capability", (0, 0)) >= (7, 0) for d in details)
    device = dict(
      precision="mixed_float16" if tensor_cores else "float32",
      jit_compile="true",
      steps_per_execution=8,
      fused_discriminator="true",
    )
  else:
    xla = config.arch == "mlp" and strategy.num_replicas_in_sync == 1
    # The mlp's small dense layers gained nothing from bfloat16 (1.02x).
    bf16 = config.arch == "dcgan" and config.precision == "auto" and cpu_bfloat16_speedup() >= BF16_MIN_SPEEDUP
    # The mlp's step is so short that dispatch is a large share of it: 8
    # steps per call ran 1.28x at batch 32 and 1.06x at 256; the dcgan's
    # gained nothing measurable.
    device = dict(
      precision="mixed_bfloat16" if bf16 else "float32",
      jit_compile="true" if xla else "false",
      steps_per_execution=8 if config.arch == "mlp" else 1,
      fused_discriminator="false",
    )
  chosen = {k: v for k, v in device.items() if getattr(config, k) in ("auto", 0)}
  return dataclasses.replace(config, **chosen)


# bfloat16 must win clearly: the probe's convolutions are most, not all, of a step.
BF16_MIN_SPEEDUP = 1.2


def cpu_bfloat16_speedup() -> float:
  """float32 time over bfloat16 time of the dcgan's costliest convolutions
  (forward and backward) on this CPU. Measured once per CPU model and
  TensorFlow version (about 2 s), then read from ~/.cache/gan_tf/device.json,
  so every run on a machine makes the same choice."""
  import json
  import platform

  from gan_tf.fileio import atomic_write_text

  path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gan_tf" / "device.json"
  key = f"{_cpu_model()} | {platform.machine()} | {os.cpu_count()} cores | TensorFlow {tf.__version__}"
  try:
    cache = json.loads(path.read_text())
  except (OSError, ValueError):
    cache = {}
  if not isinstance(cache.get(key), (int, float)):
    cache[key] = _measure_bfloat16_speedup()
    try:
      path.parent.mkdir(parents=True, exist_ok=True)
      atomic_write_text(path, json.dumps(cache, indent=2, sort_keys=True) + "\n")
    except OSError:
      pass  # An unwritable cache only means measuring again next time.
  return float(cache[key])


def _cpu_model() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  import platform

  return platform.processor() or "unknown CPU"


def _measure_bfloat16_speedup(batch=32, rounds=8) -> float:
  """The dcgan's two largest convolutions at the shapes of its 28x28 step,
  each precision timed in turn, best of `rounds`: a busy machine slows both
  alike, and only ever slows."""
  import time

  def timed(dtype):
    shapes = ([batch, 7, 7, 256], [5, 5, 128, 256], [batch, 14, 14, 64], [5, 5, 64, 128])
    args = [tf.cast(tf.random.stateless_normal(s, seed=[0, i]) * 0.05, dtype) for i, s in enumerate(shapes)]

    @tf.function
    def step(x, k, x2, k2):
      with tf.GradientTape() as tape:
        tape.watch([x, k, x2, k2])
        y = tf.nn.conv2d_transpose(x, k, [batch, 7, 7, 128], 1, padding="SAME")
        z = tf.nn.conv2d(x2, k2, 2, padding="SAME")
        loss = tf.reduce_sum(tf.cast(y, tf.float32)) + tf.reduce_sum(tf.cast(z, tf.float32))
      return tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32)) for g in tape.gradient(loss, [x, k, x2, k2])])

    step(*args).numpy()  # Compiles.

    def once():
      start = time.perf_counter()
      step(*args).numpy()
      return time.perf_counter() - start

    return once

  f32, bf16 = timed(tf.float32), timed(tf.bfloat16)
  times = [(f32(), bf16()) for _ in range(rounds)]
  return min(t for t, _ in times) / min(t for _, t in times)
