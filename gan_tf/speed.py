"""The speed settings a run leaves "auto", chosen for the device it runs on.

GPU: mixed_float16 where tensor cores exist (compute capability 7.0+), XLA,
8 steps per call, one discriminator call on real and fake. TPU:
mixed_bfloat16, 8 steps per call (TPUStrategy compiles with XLA itself),
fused. CPU: two discriminator calls; XLA, steps per call and whether
bfloat16 is worth measuring come from the architecture
(`models.Architecture`), and bfloat16 is used where `probe` finds it pays.
XLA cannot place a step across logical CPU devices, so not with several CPU
replicas.
"""

import dataclasses

import tensorflow as tf

from gan_tf import models, probe


def resolve(config, strategy):
  """(config with its "auto" speed settings replaced, why its precision is what it is)."""
  if isinstance(strategy, tf.distribute.TPUStrategy):
    device = dict(precision="mixed_bfloat16", jit_compile="false", steps_per_execution=8, fused_discriminator="true")
    why = "the TPU's native type"
  elif tf.config.list_logical_devices("GPU"):
    details = [tf.config.experimental.get_device_details(g) for g in tf.config.list_physical_devices("GPU")]
    tensor_cores = all(d.get("compute_capability", (0, 0)) >= (7, 0) for d in details)
    device = dict(
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
      choice = probe.choose()
    device = dict(
      precision=choice.precision,
      jit_compile="true" if arch.cpu_xla and strategy.num_replicas_in_sync == 1 else "false",
      steps_per_execution=arch.cpu_steps_per_execution,
      fused_discriminator="false",
    )
    why = choice.reason
  chosen = {k: v for k, v in device.items() if getattr(config, k) in ("auto", 0)}
  reason = f"auto: {why}" if "precision" in chosen else "set explicitly"
  return dataclasses.replace(config, **chosen), reason
