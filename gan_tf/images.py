"""Image grids and PNG files."""

import io
import math

import numpy as np
from PIL import Image

from gan_tf.fileio import atomic_write_bytes


def to_uint8(images) -> np.ndarray:
  """[-1, 1] floats to uint8 pixels."""
  images = np.asarray(images, np.float32)
  return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def from_uint8(images):
  """uint8 pixels to float32 in [-1, 1]: a NumPy array stays one, a tensor stays one."""
  if isinstance(images, np.ndarray):
    return images.astype(np.float32) / 127.5 - 1.0
  import tensorflow as tf

  return tf.cast(images, tf.float32) / 127.5 - 1.0


def center_square(images, size):
  """The central square of an image [H, W, C] or of each of a batch [N, H, W, C],
  resized to `size` x `size` with antialiasing: a uint8 tensor."""
  import tensorflow as tf

  shape = tf.shape(images)
  h, w = shape[-3], shape[-2]
  side = tf.minimum(h, w)
  square = tf.image.crop_to_bounding_box(images, (h - side) // 2, (w - side) // 2, side, side)
  return tf.cast(tf.clip_by_value(tf.round(tf.image.resize(square, (size, size), antialias=True)), 0, 255), tf.uint8)


def grid(images, rows=None, pad=2) -> np.ndarray:
  """Tiles `[N, H, W, C]` images in [-1, 1] into one uint8 `[H', W', C]` picture."""
  images = to_uint8(images)
  n, h, w, c = images.shape
  cols = math.ceil(math.sqrt(n)) if rows is None else math.ceil(n / rows)
  rows = math.ceil(n / cols)
  out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
  for i in range(n):
    r, col = divmod(i, cols)
    y, x = pad + r * (h + pad), pad + col * (w + pad)
    out[y : y + h, x : x + w] = images[i]
  return out


def _image(picture: np.ndarray, min_side) -> Image.Image:
  """A uint8 `[H, W, C]` picture as a Pillow image, enlarged (nearest
  neighbour) to at least `min_side`."""
  picture = picture[..., 0] if picture.shape[-1] == 1 else picture
  image = Image.fromarray(picture)
  scale = max(1, math.ceil(min_side / max(image.size)))
  if scale > 1:
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
  return image


def save_png(path, picture: np.ndarray, min_side=256) -> None:
  """Writes a uint8 `[H, W, C]` picture, enlarged to at least `min_side`."""
  buffer = io.BytesIO()
  _image(picture, min_side).save(buffer, format="PNG")
  atomic_write_bytes(path, buffer.getvalue())


def read_png(path) -> np.ndarray:
  with Image.open(path) as image:
    return np.asarray(image.convert("RGB"))


def save_gif(path, pictures, seconds_per_frame=0.1, min_side=256, last_frame_seconds=None) -> None:
  """Writes uint8 `[H, W, C]` pictures as an animated GIF that loops forever;
  `last_frame_seconds` holds the last picture longer."""
  frames = [_image(p, min_side) for p in pictures]
  durations = [int(seconds_per_frame * 1000)] * len(frames)
  if last_frame_seconds is not None:
    durations[-1] = int(last_frame_seconds * 1000)
  buffer = io.BytesIO()
  frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
  atomic_write_bytes(path, buffer.getvalue())
