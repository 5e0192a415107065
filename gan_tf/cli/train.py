"""gan-tf COMMAND: trains a GAN; running the same command again resumes it.

gan-tf train --arch=dcgan --epochs=50
gan-tf train --arch=mlp --dataset=idx:DIR --split=test --epochs=20
gan-tf train --arch=my_networks:build --dataset=folder:DIR --image_size=32
"""

from absl import flags

from gan_tf import settings as settings_lib
from gan_tf.cli import common

FLAGS = flags.FLAGS
common.define_settings([s.name for s in settings_lib.SETTINGS], __name__)
flags.DEFINE_string(
  "checkpoint_dir",
  None,
  "The run directory: checkpoints, flags, samples/, history.csv, logs/ (default checkpoints/<arch>, "
  "or checkpoints/<FUNCTION> for your own networks).",
)
# Still accepted, so the flags.txt of runs from older versions can be passed back with --flagfile.
flags.DEFINE_integer("shuffle_buffer", None, "No longer used: every epoch is a complete shuffle.")


def default_run_dir(arch: str) -> str:
  return f"checkpoints/{arch.rsplit(':', 1)[-1]}"


def main(argv):
  from gan_tf import rundir
  from gan_tf.config import Config

  fields = {s.name: FLAGS[s.name].value for s in settings_lib.SETTINGS}
  run_dir = FLAGS.checkpoint_dir or default_run_dir(FLAGS.arch)
  # Resuming needs only --checkpoint_dir: shape-deciding settings not given
  # on the command line come from the run itself.
  fields = rundir.with_identity_of(fields, run_dir, given={name for name in fields if FLAGS[name].present})
  config = Config(**fields).resolved()  # Every value checked before TensorFlow loads.
  common.import_tensorflow()
  from gan_tf import api

  logs = api.train(config, run_dir)
  if logs:
    print(f"trained to epoch {config.epochs} (step {logs['step']}); run directory: {run_dir}")
  else:
    print(f"{run_dir} is already trained to epoch {config.epochs}; raise --epochs to train further")
  if config.export_dir:
    print(f"exported the generator to {config.export_dir}")
