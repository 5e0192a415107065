"""gan-tf COMMAND: measures the sample quality of an exported generator or a run.

  gan-tf evaluate --checkpoint_dir=checkpoints/dcgan
  gan-tf evaluate --model=exports/dcgan --dataset=idx:DIR --split=test --json=metrics.json

A run is evaluated against the data it was trained on unless --dataset or
--split say otherwise. docs/usage.md says what each metric means.
"""

import json

from absl import flags

from gan_tf.cli import common
from gan_tf.errors import UserError
from gan_tf.fileio import atomic_write_text

FLAGS = flags.FLAGS
common.define_settings(["dataset", "split", "data_dir"], __name__)
flags.DEFINE_string("model", None, "A SavedModel written by export or train --export_dir.")
flags.DEFINE_string("checkpoint_dir", None, "A run directory: its latest checkpoint (or best, with --best).")
flags.DEFINE_bool("best", False, "With --checkpoint_dir: the checkpoint with the best FID (train --eval_every).")
common.define_settings(["sample_from", "bn_stats"], __name__, optional=True)
flags.DEFINE_integer("num", 10000, "Generated images, and as many real ones (capped at the dataset's size).")
flags.DEFINE_integer("seed", 0, "Seed of the noise and of the choice of real images.")
flags.DEFINE_string("json", None, "Also write the metrics as JSON here.")
flags.DEFINE_string(
  "classifier_dir", None, "Where the per-dataset classifiers are cached (default $XDG_CACHE_HOME/gan_tf/classifiers)."
)


def main(argv):
  if bool(FLAGS.model) == bool(FLAGS.checkpoint_dir):
    raise UserError("pass either --model=EXPORT_DIR or --checkpoint_dir=RUN_DIR")
  common.check_setting("eval_num", FLAGS.num, flag="num")
  common.check_setting("seed", FLAGS.seed)
  common.check_output("json", FLAGS.json)
  common.check_output("classifier_dir", FLAGS.classifier_dir, directory=True)
  if FLAGS.model and (FLAGS.best or FLAGS.sample_from or FLAGS.bn_stats):
    raise UserError("--best, --sample_from and --bn_stats apply to --checkpoint_dir, not to an export")
  common.import_tensorflow()
  from gan_tf import api, quality, serving

  if FLAGS.model and not serving.is_saved_model(FLAGS.model):
    raise UserError(f"--model={FLAGS.model} is not a SavedModel directory (see the export command)")

  named = {name: FLAGS[name].value if FLAGS[name].present or FLAGS.model else None for name in ("dataset", "split", "data_dir")}
  report = api.evaluate(
    FLAGS.model or FLAGS.checkpoint_dir,
    num=FLAGS.num,
    seed=FLAGS.seed,
    classifier_dir=FLAGS.classifier_dir,
    best=FLAGS.best,
    sample_from=FLAGS.sample_from,
    bn_stats=FLAGS.bn_stats,
    **named,
  )
  print(f"{report['model']} against {report['dataset']} ({report['split']})")
  print(quality.format_report(report))
  if FLAGS.json:
    atomic_write_text(FLAGS.json, json.dumps(report, indent=2) + "\n")
    print(f"wrote {FLAGS.json}")
