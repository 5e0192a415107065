"""Trains each architecture with each recipe, evaluates them all the same way,
and prints one markdown table (docs/results.md is made with it).

  bin/compare --dataset=idx:DIR --split=test --epochs=50 --out_dir=compare

Runs live in --out_dir/<arch>-<recipe>; a run already there is resumed or, if
finished, only evaluated, so an interrupted comparison continues where it stopped.
"""

import sys
from pathlib import Path

# From a checkout: this folder (measure.py) and the checkout's gan_tf.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import json  # noqa: E402

from absl import flags  # noqa: E402

import gan_tf  # noqa: E402
from gan_tf import settings  # noqa: E402
from gan_tf.cli import common  # noqa: E402
from gan_tf.errors import UserError  # noqa: E402
from gan_tf.fileio import atomic_write_text  # noqa: E402

FLAGS = flags.FLAGS
common.define_settings(["dataset", "split", "data_dir"], __name__)
flags.DEFINE_list("archs", list(settings.ARCHS), "Architectures to compare.")
flags.DEFINE_list("recipes", list(settings.RECIPE_NAMES)[::-1], "Recipes to compare (see train --recipe).")
flags.DEFINE_integer("epochs", 50, "Epochs of every run.")
flags.DEFINE_integer("seed", 0, "Seed of every run and of the evaluation.")
flags.DEFINE_integer("num", 10000, "Images per evaluation (see evaluate).")
flags.DEFINE_string("out_dir", "compare", "Where the runs, their grids and the table go.")
flags.DEFINE_bool("progress", False, "Show each run's progress line.")
flags.DEFINE_integer(
  "eval_every",
  5,
  "Measure FID every this many epochs while training (train's --eval_every, on --eval_num images), for the "
  "time-to-quality table (0: no such table).",
)
flags.DEFINE_integer("eval_num", 5000, "Images per evaluation while training.")
flags.DEFINE_list("fids", ["100", "50", "30"], "FIDs the time-to-quality table reports reaching.")

COLUMNS = [
  ("FID", "fid", "{:.2f}"),
  ("KID", "kid", "{:.3f}"),
  ("precision", "precision", "{:.3f}"),
  ("recall", "recall", "{:.3f}"),
  ("classifier score", "classifier_score", "{:.2f}"),
  ("classes covered", "classes_covered", "{}"),
]


def main(argv):
  for arch in FLAGS.archs:
    if arch not in settings.ARCHS:
      raise UserError(f"unknown architecture {arch!r} in --archs; choose from {', '.join(settings.ARCHS)}")
  for recipe in FLAGS.recipes:
    if recipe not in settings.RECIPE_NAMES:
      raise UserError(f"unknown recipe {recipe!r} in --recipes; choose from {', '.join(settings.RECIPE_NAMES)}")
  common.check_setting("eval_num", FLAGS.num, flag="num")
  common.check_setting("seed", FLAGS.seed)
  common.import_tensorflow()
  from gan_tf import api, images, rundir
  from gan_tf import data as data_lib
  from gan_tf import quality as evaluate_lib

  out = Path(FLAGS.out_dir)
  data = data_lib.load(FLAGS.dataset, FLAGS.split, FLAGS.data_dir)
  classifier = evaluate_lib.load_classifier(data)
  rows, timings = [], []
  for arch in FLAGS.archs:
    for recipe in FLAGS.recipes:
      run_dir = out / f"{arch}-{recipe}"
      config = gan_tf.Config(
        arch=arch,
        recipe=recipe,
        dataset=FLAGS.dataset,
        split=FLAGS.split,
        data_dir=FLAGS.data_dir,
        epochs=FLAGS.epochs,
        seed=FLAGS.seed,
        progress=FLAGS.progress,
        eval_every=FLAGS.eval_every,
        eval_num=FLAGS.eval_num,
      )
      print(f"{run_dir}: training {arch} with the {recipe} recipe to epoch {FLAGS.epochs}", flush=True)
      api.train(config, run_dir, dataset=data)
      generator = api.load_generator(run_dir)
      report = evaluate_lib.evaluate(generator, generator.latent_dim, data, classifier, FLAGS.num, FLAGS.seed)
      atomic_write_text(run_dir / "metrics.json", json.dumps(report, indent=2) + "\n")
      images.save_png(
        out / f"{arch}-{recipe}.png", images.grid(evaluate_lib.draw(generator, generator.latent_dim, 64, FLAGS.seed))
      )
      rows.append((f"`{arch}`, {recipe}", report["generated"]))
      timings.append((f"`{arch}`, {recipe}", rundir.precision(run_dir), _history(run_dir)))
  rows.append(("real vs real (two halves)", report["real_vs_real"]))
  table = _markdown(rows, report)
  if FLAGS.eval_every:
    table += "\n" + _time_to_quality(timings)
  atomic_write_text(out / "table.md", table)
  print(table)


def _history(run_dir):
  import csv

  with open(run_dir / "history.csv", newline="") as f:
    return list(csv.DictReader(f))


def _time_to_quality(timings):
  """Per run: seconds per epoch, and the first measured epoch (and the minutes
  of training to it) at which FID fell under each of --fids."""
  fids = [float(f) for f in FLAGS.fids]
  head = "| run | precision | s/epoch | " + " | ".join(f"FID < {f:g}" for f in fids) + " |"
  lines = [head, "|---|---|---|" + "---|" * len(fids)]
  for name, precision, rows in timings:
    seconds = [float(r["seconds"]) for r in rows]
    cells = []
    for threshold in fids:
      hit = next((i for i, r in enumerate(rows) if r.get("fid") and float(r["fid"]) < threshold), None)
      cells.append("not reached" if hit is None else f"epoch {rows[hit]['epoch']}, {sum(seconds[: hit + 1]) / 60:.1f} min")
    lines.append(f"| {name} | {precision} | {sum(seconds) / len(seconds):.1f} | " + " | ".join(cells) + " |")
  lines.append("")
  lines.append(
    f"FID on {FLAGS.eval_num} images every {FLAGS.eval_every} epochs while training; minutes of training "
    f"(the epochs' own time, without the evaluations) to the first epoch measured under each."
  )
  return "\n".join(lines) + "\n"


def _markdown(rows, report):
  lines = ["| run | " + " | ".join(name for name, _, _ in COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
  for name, metrics in rows:
    cells = [fmt.format(metrics[key]) for _, key, fmt in COLUMNS]
    cells[-1] += f"/{len(metrics['class_histogram'])}"
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  lines.append("")
  lines.append(
    f"{report['num']} generated vs {report['num']} real images "
    f"(real vs real: {report['real_vs_real_num']} vs {report['real_vs_real_num']}), "
    f"{FLAGS.dataset} ({FLAGS.split}), {FLAGS.epochs} epochs, seed {FLAGS.seed}; "
    f"classifier accuracy {report['classifier_accuracy']:.3f} on held-out real images."
  )
  return "\n".join(lines) + "\n"


if __name__ == "__main__":
  common.run(sys.modules[__name__], sys.argv[1:], "compare")
