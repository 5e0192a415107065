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


def held_out(data):
  """The real images the classifier held out from its training (classifier.py's split)."""
  order = np.random.default_rng(0).permutation(len(data))
  return data.images[order[: len(data) // 10]]


def unsure_shares(probs) -> list:
  top = np.asarray(probs).max(axis=1)
  return [float(np.mean(top < t)) for t in THRESHOLDS]


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
  from gan_tf import quality
  from gan_tf.images import from_uint8

  data = data_lib.load(args.dataset, args.split)
  classifier = quality.load_classifier(data)
  header = " | ".join(f"top class < {t}" for t in THRESHOLDS)
  print(f"| images | number | {header} |")
  print("|---" * (2 + len(THRESHOLDS)) + "|")
  real = held_out(data)
  _, probs = classifier.embed(from_uint8(real))
  print(f"| real, held out from the classifier | {len(real)} | " + " | ".join(f"{s:.1%}" for s in unsure_shares(probs)) + " |")
  for path in args.models:
    images = gan_tf.load_generator(path).sample(args.num, seed=args.seed)
    _, probs = classifier.embed(images)
    print(f"| {path} | {args.num} | " + " | ".join(f"{s:.1%}" for s in unsure_shares(probs)) + " |")


if __name__ == "__main__":
  main()
