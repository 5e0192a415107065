"""Runs train() in its own process, for the tf.distribute tests.

  python dist_worker.py RUN_DIR EPOCHS STRATEGY DIGITS_DIR [LOGICAL_CPUS]

Logical CPU devices have to be configured before TensorFlow starts, and
TF_CONFIG is read when the strategy is made, so each run needs a fresh process.
"""

import sys

import tensorflow as tf

run_dir, epochs, strategy, digits = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if len(sys.argv) > 5:
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(sys.argv[5]))

from gan_tf import data  # noqa: E402
from gan_tf import loop as train  # noqa: E402
from gan_tf.config import Config  # noqa: E402
from gan_tf.errors import Interrupted  # noqa: E402

config = Config(arch="mlp", epochs=epochs, batch_size=32, grid=2, strategy=strategy, progress=False, checkpoint_every=1)
try:
  logs = train.train(config, run_dir, dataset=data.load_idx(digits, "test"))
except Interrupted as e:
  print(f"interrupted: {e}", flush=True)
  sys.exit(128 + e.signum)
print(f"done step={logs.get('step')}", flush=True)
