"""gan-tf COMMAND: exports the generator of a run's latest checkpoint as a SavedModel.

gan-tf export --checkpoint_dir=checkpoints/dcgan --export_dir=exports/dcgan
"""

from absl import flags

from gan_tf.cli import common

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint_dir", None, "The run directory to export from.")
flags.DEFINE_string("export_dir", None, "Where to write the SavedModel (replaced if it is one already).")
flags.DEFINE_string("tflite", None, "Also write the generator as a TFLite model here (e.g. generator.tflite).")
flags.DEFINE_bool("best", False, "Export the checkpoint with the best FID (train --eval_every) instead of the latest.")
common.define_settings(["sample_from", "bn_stats"], __name__, optional=True)
flags.mark_flags_as_required(["checkpoint_dir", "export_dir"])


def main(argv):
  common.check_output("export_dir", FLAGS.export_dir, directory=True)
  common.check_output("tflite", FLAGS.tflite)
  common.import_tensorflow()
  from gan_tf import api

  api.export(
    FLAGS.checkpoint_dir,
    FLAGS.export_dir,
    best=FLAGS.best,
    sample_from=FLAGS.sample_from,
    bn_stats=FLAGS.bn_stats,
    tflite=FLAGS.tflite,
  )
  which = "best " if FLAGS.best else ""
  print(f"exported the {which}generator of {FLAGS.checkpoint_dir} to {FLAGS.export_dir}")
  if FLAGS.tflite:
    print(f"wrote the TFLite model {FLAGS.tflite}")
