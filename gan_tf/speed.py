"""The speed settings a run leaves "auto", chosen for the device it runs on.

GPU: mixed_float16 where tensor cores exist (compute capability 7.0+), XLA,
8 steps per call, one discriminator call on real and fake. TPU:
mixed_bfloat16, 8 steps per call (TPUStrategy compiles with XLA itself),
fused. CPU: two discriminator calls; XLA, steps per call and whether
bfloat16 is worth measuring come from the architecture
(`models.Architecture`), and bfloat16 is used where `probe` finds it pays.
XLA cannot place a step across logical CPU devices, so not with several CPU
replicas.

The probe's answer can change while its readings settle, so a run that
resumes on the CPU it started on keeps the precision it started with (its
record, `started`), and a deterministic run never depends on a timing:
float32 unless its precision is set.
"""

import dataclasses

import tensorflow as tf

from gan_tf import models, probe


def resolve(config, strategy, started=None):
  """(config with its "auto" speed settings replaced, why its precision is what it is).

  `started`: the speed settings the run directory's record says this run
  started with (`rundir.resolved_speed`), or None for a new run.
  """
  where = device(strategy)
  if where == "TPU":
    best = dict(precision="mixed_bfloat16", jit_compile="false", steps_per_execution=8, fused_discriminator="true")
    why = "the TPU's native type"
  elif where.endswith("GPU"):
    details = [tf.config.experimental.get_device_details(g) for g in tf.config.list_physical_devices("GPU")]
    tensor_cores = all(d.get("compute_capability", (0, 0)) >= (7, 0) for d in details)
    best = dict(
      precision="mixed_float16" if tensor_cores else "float32",
      jit_compile="true",
      steps_per_execution=8,
      fused_discriminator="true",
    )
    why = "GPUs with tensor cores" if tensor_cores else "a GPU without tensor cores"
  else:
    arch = models.architecture(config.arch)
    choice = probe.Choice("float32", f"the CPU default for arch={config.arch}")
    if arch.cpu_bfloat16 and config.precision == "auto":
      choice = _cpu_choice(config, where, started or {})
    best = dict(
      precision=choice.precision,
      jit_compile="true" if arch.cpu_xla and strategy.num_replicas_in_sync == 1 else "false",
      steps_per_execution=arch.cpu_steps_per_execution,
      fused_discriminator="false",
    )
    why = choice.reason
  chosen = {k: v for k, v in best.items() if getattr(config, k) in ("auto", 0)}
  reason = f"auto: {why}" if "precision" in chosen else "set explicitly"
  return dataclasses.replace(config, **chosen), reason


KEPT = "kept from this run's start on this CPU"


def device(strategy) -> str:
  """What the speed settings were chosen for, as the run's record keeps it."""
  if isinstance(strategy, tf.distribute.TPUStrategy):
    return "TPU"
  gpus = tf.config.list_logical_devices("GPU")
  return f"{len(gpus)} GPU" if gpus else f"CPU: {probe.device_key()}"


def _cpu_choice(config, where, started) -> probe.Choice:
  if config.deterministic:
    return probe.Choice("float32", "deterministic runs do not choose by timing")
  if started.get("device") == where and started.get("precision") in ("float32", "mixed_bfloat16"):
    return probe.Choice(started["precision"], KEPT)
  return probe.choose()
