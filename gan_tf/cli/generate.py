"""gan-tf COMMAND: draws images from an exported generator.

gan-tf generate --model=exports/dcgan --num=64 --seed=1 --out=grid.png
gan-tf generate --model=exports/dcgan --num=10 --out_dir=digits/
gan-tf generate --model=exports/cdcgan --label=7 --out=sevens.png
gan-tf generate --model=exports/dcgan --interpolate --out=walk.gif
"""

from pathlib import Path

import numpy as np
from absl import flags

from gan_tf import images, latent
from gan_tf.cli import common
from gan_tf.errors import UserError

flags.DEFINE_string(
  "model", None, "A SavedModel written by export or train --export_dir, or a .tflite file written by export --tflite."
)
flags.DEFINE_integer("num", 64, "How many images to draw.")
flags.DEFINE_integer("seed", 1, "Seed of the noise.")
flags.DEFINE_string("noise", None, "A .npy file of noise vectors [N, latent_dim] to draw from instead of --num/--seed.")
flags.DEFINE_integer(
  "label",
  None,
  "A conditional model's class to draw. Unset: every class, a grid row each (--num rounded up to a multiple of the classes).",
)
flags.DEFINE_bool(
  "interpolate",
  False,
  "Walk through --points noise vectors by spherical interpolation, --frames images from one to "
  "the next: --out=FILE.gif is an animation that loops back to the start, --out=FILE.png a strip "
  "(for a conditional model without --label, a row per class on the same noise).",
)
flags.DEFINE_integer("points", 4, "With --interpolate: how many noise vectors to walk through.")
flags.DEFINE_integer("frames", 16, "With --interpolate: images from one noise vector to the next.")
flags.DEFINE_float("fps", 12.0, "With --interpolate and a .gif: frames per second.")
flags.DEFINE_string("out", None, "Write one grid PNG here (with --interpolate: a .gif or .png).")
flags.DEFINE_string("out_dir", None, "Write one PNG per image into this directory.")
flags.mark_flag_as_required("model")
FLAGS = flags.FLAGS


def main(argv):
  for name in ("num", "frames"):
    if FLAGS[name].value < 1:
      raise UserError(f"--{name} must be positive, got {FLAGS[name].value}")
  if FLAGS.points < 2:
    raise UserError(f"--points must be at least 2, got {FLAGS.points}")
  if not FLAGS.fps > 0:
    raise UserError(f"--fps must be positive, got {FLAGS.fps}")
  if not FLAGS.out and not FLAGS.out_dir:
    raise UserError("pass --out=FILE.png for a grid or --out_dir=DIR for one PNG per image")
  if FLAGS.interpolate and (FLAGS.out_dir or Path(FLAGS.out).suffix.lower() not in (".gif", ".png")):
    raise UserError("--interpolate writes --out=FILE.gif (an animation) or --out=FILE.png (a strip)")
  common.check_setting("seed", FLAGS.seed)
  common.check_output("out", FLAGS.out)
  common.check_output("out_dir", FLAGS.out_dir, directory=True)
  common.import_tensorflow()
  from gan_tf import serving

  model = serving.load(FLAGS.model)
  if FLAGS.label is not None:
    if not model.num_classes:
      raise UserError(f"--label: {FLAGS.model} is not conditional (train with --conditional for labels)")
    if not 0 <= FLAGS.label < model.num_classes:
      raise UserError(f"--label must be 0 to {model.num_classes - 1} for {FLAGS.model}, got {FLAGS.label}")
  try:
    if FLAGS.interpolate:
      interpolate(model)
    else:
      draw(model)
  except OSError as e:
    raise UserError(f"cannot write {e.filename or FLAGS.out or FLAGS.out_dir}: {e.strerror}") from None


def _labels(model, n):
  """Labels to draw `n` images with, and the grid's row count (None: square).
  Without --label, a conditional model draws a row per class, as training's
  sample grids show them."""
  if not model.num_classes:
    return None, None
  if FLAGS.label is not None:
    return np.full(n, FLAGS.label, np.int32), None
  return np.arange(n, dtype=np.int32) * model.num_classes // n, model.num_classes


def draw(model):
  if FLAGS.noise:
    try:
      noise = np.load(FLAGS.noise)
    except (OSError, ValueError) as e:
      raise UserError(f"cannot read --noise={FLAGS.noise}: {e}") from None
  else:
    num = FLAGS.num
    if model.num_classes and FLAGS.label is None:  # A full grid: as many images of every class.
      num = -(-num // model.num_classes) * model.num_classes
    noise = np.random.default_rng(FLAGS.seed).standard_normal((num, model.latent_dim), np.float32)
  labels, rows = _labels(model, len(noise))
  drawn = model(noise, labels)
  if FLAGS.out:
    images.save_png(FLAGS.out, images.grid(drawn, rows=rows))
    print(f"wrote a grid of {len(drawn)} images to {FLAGS.out}")
  if FLAGS.out_dir:
    for i, image in enumerate(drawn):
      images.save_png(Path(FLAGS.out_dir) / f"{i:05d}.png", images.grid(image[None], pad=0), min_side=image.shape[0])
    print(f"wrote {len(drawn)} images to {FLAGS.out_dir}")


def interpolate(model):
  gif = Path(FLAGS.out).suffix.lower() == ".gif"
  points = np.random.default_rng(FLAGS.seed).standard_normal((FLAGS.points, model.latent_dim), np.float32)
  path = latent.walk(points, FLAGS.frames, closed=gif)
  classes = ([FLAGS.label] if FLAGS.label is not None else list(range(model.num_classes))) if model.num_classes else [None]
  # [class, frame, H, W, C]: each class's images along the same walk.
  drawn = np.stack([model(path, None if c is None else np.full(len(path), c, np.int32)) for c in classes])
  if gif:
    frames = [images.grid(drawn[:, i], rows=1) for i in range(len(path))]
    images.save_gif(FLAGS.out, frames, 1.0 / FLAGS.fps)
    print(f"wrote an animation of {len(path)} frames through {FLAGS.points} noise vectors to {FLAGS.out}")
  else:
    strip = drawn.reshape((-1,) + drawn.shape[2:])
    images.save_png(FLAGS.out, images.grid(strip, rows=len(classes)))
    print(f"wrote a strip of {len(path)} images through {FLAGS.points} noise vectors to {FLAGS.out}")
