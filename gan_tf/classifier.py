"""The domain classifier the quality metrics see images through.

ImageNet networks cannot be downloaded on offline machines and see little in
28x28 digits, so, as TF-GAN's MNIST evaluation does, a small CNN is trained
on the real data itself and cached per dataset, under a key of its content.
Its penultimate layer gives the features; its softmax, the class
probabilities.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gan_tf.errors import UserError
from gan_tf.fileio import atomic_write_text
from gan_tf.images import from_uint8

FEATURES_LAYER = "features"


class Classifier:
  """A small CNN for one dataset: `embed(images) -> (features, probabilities)`."""

  def __init__(self, model: keras.Model, accuracy: float):
    self.model = model
    self.accuracy = accuracy  # On real images held out from its training.
    self.num_classes = int(model.output_shape[-1])
    self._two_heads = keras.Model(model.inputs, [model.get_layer(FEATURES_LAYER).output, model.output])

  @tf.function
  def _embed(self, images):
    features, logits = self._two_heads(images, training=False)
    return features, tf.nn.softmax(logits)

  def embed(self, images, batch_size=500):
    features, probs = [], []
    for start in range(0, len(images), batch_size):
      f, p = self._embed(tf.convert_to_tensor(images[start : start + batch_size], tf.float32))
      features.append(f.numpy())
      probs.append(p.numpy())
    return np.concatenate(features), np.concatenate(probs)


def _classifier_model(image_shape, num_classes):
  x = inputs = keras.Input(image_shape)
  for filters, stride in ((32, 1), (64, 2), (128, 2)):
    x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(x)
  x = keras.layers.Flatten()(x)
  x = keras.layers.Dense(128, activation="relu", name=FEATURES_LAYER)(x)
  x = keras.layers.Dropout(0.5)(x)
  return keras.Model(inputs, keras.layers.Dense(num_classes, dtype="float32")(x), name="classifier")


def default_cache_dir() -> Path:
  return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gan_tf" / "classifiers"


def split(num_images):
  """(held out, trained on): the indices of the tenth of the images the
  classifier is measured on and of the rest, in a fixed random order."""
  order = np.random.default_rng(0).permutation(num_images)
  return order[: num_images // 10], order[num_images // 10 :]


def load_classifier(data, cache_dir=None, epochs=8, verbose=True) -> Classifier:
  """The classifier of `data` (an ImageSet), trained on first use and cached
  under a key of the data's content, so another dataset never reuses it."""
  labels = np.asarray(data.labels)
  if labels.min() < 0:
    raise UserError(
      f"{data.name} has no labels; the evaluator's classifier is trained on labelled data "
      f"(IDX with its labels file, or a TFDS dataset with a label feature)"
    )
  digest = hashlib.sha1(data.images.tobytes() + labels.astype(np.int64).tobytes()).hexdigest()[:16]
  cache = Path(cache_dir) if cache_dir else default_cache_dir()
  path = cache / f"{digest}.keras"
  meta_path = cache / f"{digest}.json"
  if path.exists() and meta_path.exists():
    try:
      return Classifier(keras.models.load_model(path), json.loads(meta_path.read_text())["accuracy"])
    except (OSError, ValueError, KeyError) as e:
      print(f"warning: cached classifier {path} cannot be read ({e}); training it again", file=sys.stderr)
  if verbose:
    print(f"training the evaluator's classifier on {len(data)} images of {data.name} (once; cached in {cache})", flush=True)
  num_classes = int(labels.max()) + 1
  held, fit = split(len(data))
  x = from_uint8(data.images)
  keras.utils.set_random_seed(0)
  model = _classifier_model(data.image_shape, num_classes)
  model.compile(
    optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
  )
  model.fit(x[fit], labels[fit], batch_size=128, epochs=epochs, verbose=0)
  accuracy = float(model.evaluate(x[held], labels[held], verbose=0)[1])
  cache.mkdir(parents=True, exist_ok=True)
  tmp = cache / f".{digest}.{os.getpid()}.tmp.keras"  # Keras saves only to names ending in .keras.
  model.save(tmp)
  os.replace(tmp, path)
  atomic_write_text(meta_path, json.dumps({"accuracy": accuracy, "dataset": data.name, "images": len(data)}))
  return Classifier(model, accuracy)
