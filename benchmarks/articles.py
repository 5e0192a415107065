"""The Keras articles' MLP GAN, trained with their own loop, exported, for `gan-tf evaluate`.

The loop of the articles (`measure.ArticlesGAN`), at their batch of 32 for
their 30,001 iterations, each batch drawn at random. The generator is exported
as gan-tf exports its own, so both are measured by the same evaluator:

  bin/articles --dataset=idx:DIR --split=test --export_dir=exports/articles
  gan-tf evaluate --model=exports/articles --dataset=idx:DIR --split=test
"""

import sys
from pathlib import Path

# From a checkout: this folder (measure.py) and the checkout's gan_tf.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import time  # noqa: E402

from absl import flags  # noqa: E402

from gan_tf.cli import common  # noqa: E402

FLAGS = flags.FLAGS
common.define_settings(["dataset", "split", "data_dir", "seed"], __name__)
flags.DEFINE_integer("iterations", 30001, "Iterations of the loop (the articles': 30,001).")
flags.DEFINE_integer("batch_size", 32, "Batch size (the articles': 32).")
flags.DEFINE_string("export_dir", "exports/articles", "Where to export the trained generator.")
flags.DEFINE_string("grid", None, "Also write a 5x5 grid of samples here (PNG), as the articles draw them.")


def train(images, iterations, batch_size, seed, log=print):
  """The articles' loop on `images` (uint8 [N, 28, 28, 1]), each batch drawn at random; returns the generator."""
  import numpy as np
  from measure import ArticlesGAN

  from gan_tf.images import from_uint8

  gan = ArticlesGAN(images.shape[1:], seed)
  x = from_uint8(images)
  rng = np.random.default_rng(seed)
  start = time.perf_counter()
  for iteration in range(iterations):
    d_real, d_fake, g_loss = gan.iteration(x[rng.integers(0, len(x), batch_size)], rng)
    if iteration % 1000 == 0:
      d_loss, d_acc = 0.5 * np.add(d_real, d_fake)
      log(
        f"{iteration} [D loss: {d_loss:f}, acc.: {100 * d_acc:.2f}%] [G loss: {float(g_loss):f}] "
        f"{time.perf_counter() - start:.0f} s"
      )
  return gan.generator


def main(argv):
  common.check_output("export_dir", FLAGS.export_dir, directory=True)
  common.check_output("grid", FLAGS.grid)
  common.import_tensorflow()
  from gan_tf import data, images, serving

  digits = data.load(FLAGS.dataset, FLAGS.split, FLAGS.data_dir)
  generator = train(digits.images, FLAGS.iterations, FLAGS.batch_size, FLAGS.seed)
  serving.export(generator, 100, FLAGS.export_dir)
  print(f"exported the articles' generator to {FLAGS.export_dir}")
  if FLAGS.grid:
    import numpy as np

    noise = np.random.default_rng(FLAGS.seed).normal(0, 1, (25, 100)).astype(np.float32)
    images.save_png(FLAGS.grid, images.grid(generator(noise, training=False).numpy(), rows=5))


if __name__ == "__main__":
  common.run(sys.modules[__name__], sys.argv[1:], "articles")
