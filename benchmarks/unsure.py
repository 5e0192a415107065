#!/usr/bin/env python3
"""How many images the evaluator's classifier cannot read as one digit.

A malformed digit (a scribble, a blot, a draw between two digits) is one
the classifier gives no class with confidence. This counts, for each
generator and for the 1,000 real images the classifier never trained on
(its held-out tenth: the floor), the share of images whose likeliest class
has probability under each threshold.

python benchmarks/unsure.py --dataset=idx:DIR --split=test RUN_OR_EXPORT [...]
"""

import argparse

import numpy as np

THRESHOLDS = (0.5, 0.9, 0.99)


def row(name, probs) -> str:
  """A table row: the share of images whose likeliest class is under each threshold."""
  top = np.asarray(probs).max(axis=1)
  return f"| {name} | {len(top)} | " + " | ".join(f"{np.mean(top < t):.1%}" for t in THRESHOLDS) + " |"


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("models", nargs="+", help="run directories or exports")
  parser.add_argument("--dataset", required=True)
  parser.add_argument("--split", default="test")
  parser.add_argument("--num", type=int, default=10000)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  from gan_tf.cli import common

  common.import_tensorflow()  # Quietly.
  import gan_tf
  from gan_tf import data as data_lib
  from gan_tf.classifier import load_classifier, split
  from gan_tf.images import from_uint8

  data = data_lib.load(args.dataset, args.split)
  classifier = load_classifier(data)
  header = " | ".join(f"top class < {t}" for t in THRESHOLDS)
  print(f"| images | number | {header} |")
  print("|---" * (2 + len(THRESHOLDS)) + "|")
  held, _ = split(len(data))
  print(row("real, held out from the classifier", classifier.embed(from_uint8(data.images[held]))[1]))
  for path in args.models:
    print(row(path, classifier.embed(gan_tf.load_generator(path).sample(args.num, seed=args.seed))[1]))


if __name__ == "__main__":
  main()
