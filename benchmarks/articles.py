"""The Keras articles' MLP GAN, trained with their own loop, exported, for `gan-tf evaluate`.

The loop of the articles (docs/recipes.md): per iteration, a batch of real
images drawn at random, `generator.predict` on noise, `train_on_batch` of the
discriminator on the real batch and then on the fakes, and `train_on_batch`
of the stacked model for the generator, at batch 32 with Adam(2e-4, 0.5),
for 30,001 iterations. The networks are gan-tf's `mlp` pair built with
Keras's own layers (the articles' layer tables). The generator is exported
as gan-tf exports its own, so both are measured by the same evaluator:

  bin/articles --dataset=idx:DIR --split=test --export_dir=exports/articles
  gan-tf evaluate --model=exports/articles --dataset=idx:DIR --split=test
"""

import sys
from pathlib import Path

# From a checkout: the checkout's gan_tf.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
  """The articles' loop on `images` (uint8 [N, 28, 28, 1]); returns the generator."""
  import keras
  import numpy as np

  from gan_tf import models
  from gan_tf.images import from_uint8

  keras.utils.set_random_seed(seed)
  generator, discriminator = models.build("mlp", 100, images.shape[1:], stock_layers=True)
  discriminator = keras.Sequential([discriminator, keras.layers.Activation("sigmoid")])
  discriminator.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(2e-4, 0.5), metrics=["accuracy"])
  # Keras 2, which the articles used, fixed `trainable` when a model was
  # compiled; Keras 3 reads it when it trains, so it is set before each call
  # (with the articles' code as written, the discriminator never trains).
  discriminator.trainable = False
  z = keras.Input((100,))
  combined = keras.Model(z, discriminator(generator(z)))
  combined.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(2e-4, 0.5))
  x = from_uint8(images)
  valid, fake = np.ones((batch_size, 1)), np.zeros((batch_size, 1))
  rng = np.random.default_rng(seed)
  start = time.perf_counter()
  for iteration in range(iterations):
    real = x[rng.integers(0, len(x), batch_size)]
    generated = generator.predict(rng.normal(0, 1, (batch_size, 100)), verbose=0)
    discriminator.trainable = True
    d_real = discriminator.train_on_batch(real, valid)
    d_fake = discriminator.train_on_batch(generated, fake)
    discriminator.trainable = False
    g_loss = combined.train_on_batch(rng.normal(0, 1, (batch_size, 100)), valid)
    if iteration % 1000 == 0:
      d_loss, d_acc = 0.5 * np.add(d_real, d_fake)
      log(
        f"{iteration} [D loss: {d_loss:f}, acc.: {100 * d_acc:.2f}%] [G loss: {float(g_loss):f}] "
        f"{time.perf_counter() - start:.0f} s"
      )
  return generator


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
