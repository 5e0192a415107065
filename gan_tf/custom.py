"""Your own networks: `arch="MODULE:FUNCTION"`.

FUNCTION(latent_dim=..., image_shape=(H, W, C), num_classes=...) returns
`(generator, discriminator)`, two Keras models. The generator maps noise
`[N, latent_dim]` (with `num_classes` > 0: `[noise, labels]`, labels int32
`[N]`) to images `[N, H, W, C]` in [-1, 1]; the discriminator maps images
(and labels) to one logit per image. The function is called once per copy
the loop needs (the trained pair, the EMA and the sampler), so it must build
new models each time.
"""

import importlib
import os
import sys

import keras
import numpy as np

from gan_tf.errors import ConfigError


def load_function(arch: str):
  """The function `arch` ("MODULE:FUNCTION") names, importable from the working directory or PYTHONPATH."""
  module_name, function_name = (part.strip() for part in arch.split(":"))
  if os.getcwd() not in sys.path and "" not in sys.path:
    sys.path.append(os.getcwd())  # As `python -m` would; after the installed packages, so it shadows none.
  try:
    module = importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    if e.name and module_name.startswith(e.name):
      raise ConfigError(
        "arch", f"@arch={arch}: no module named {module_name!r} in the working directory or on PYTHONPATH"
      ) from None
    raise ConfigError("arch", f"@arch={arch}: importing {module_name} failed: {e}") from None
  except Exception as e:  # The user's module is broken: say how, in one line.
    raise ConfigError("arch", f"@arch={arch}: importing {module_name} failed: {type(e).__name__}: {e}") from None
  function = getattr(module, function_name, None)
  if not callable(function):
    raise ConfigError(
      "arch", f"@arch={arch}: module {module_name} ({getattr(module, '__file__', '?')}) has no function {function_name!r}"
    )
  return function


def build(arch, latent_dim, image_shape, num_classes=0, sync_batchnorm=False):
  """The user's (generator, discriminator), checked against the data's shape."""
  function = load_function(arch)
  image_shape = tuple(int(d) for d in image_shape)
  try:
    built = function(latent_dim=latent_dim, image_shape=image_shape, num_classes=num_classes)
  except Exception as e:
    raise ConfigError(
      "arch",
      f"@arch={arch}: calling it with latent_dim={latent_dim}, image_shape={image_shape}, "
      f"num_classes={num_classes} raised {type(e).__name__}: {e}",
    ) from None
  if not (isinstance(built, (tuple, list)) and len(built) == 2 and all(isinstance(m, keras.Model) for m in built)):
    raise ConfigError(
      "arch", f"@arch={arch} must return (generator, discriminator), two Keras models; it returned {_describe(built)}"
    )
  generator, discriminator = built
  _check(arch, generator, discriminator, latent_dim, image_shape, num_classes)
  if sync_batchnorm:
    # Replicas see part of the batch; synchronised statistics are the global batch's, as on one device.
    for model in built:
      for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
          layer.synchronized = True
  return generator, discriminator


def _check(arch, generator, discriminator, latent_dim, image_shape, num_classes):
  """Calls both networks on two examples (which also builds a subclassed model's variables)."""
  noise = np.zeros((2, latent_dim), np.float32)
  labels = np.zeros((2,), np.int32)
  images = np.zeros((2, *image_shape), np.float32)
  conditional = " and labels" if num_classes else ""
  fake = _call(
    arch,
    generator,
    [noise, labels] if num_classes else noise,
    f"the generator does not take noise [N, {latent_dim}]{conditional}",
  )
  if tuple(fake.shape) != (2, *image_shape):
    raise ConfigError(
      "arch",
      f"@arch={arch}: the generator draws images of shape {tuple(fake.shape)[1:]}, but the "
      f"data's are {image_shape}; build it for image_shape (or pass @image_size and "
      f"@channels to match it)",
    )
  logits = _call(
    arch,
    discriminator,
    [images, labels] if num_classes else images,
    f"the discriminator does not take images {image_shape}{conditional}",
  )
  if tuple(logits.shape) not in ((2,), (2, 1)):
    raise ConfigError(
      "arch",
      f"@arch={arch}: the discriminator must give one logit per image, shape [N, 1]; it "
      f"gives {tuple(logits.shape)[1:]} per image",
    )


def _call(arch, model, inputs, failure):
  try:
    return model(inputs, training=False)
  except Exception as e:
    raise ConfigError("arch", f"@arch={arch}: {failure}: {type(e).__name__}: {_first_line(e)}") from None


def _first_line(error):
  lines = str(error).strip().splitlines()
  return lines[0] if lines else ""


def _describe(value):
  if isinstance(value, (tuple, list)):
    return f"a {type(value).__name__} of {len(value)}: {', '.join(type(v).__name__ for v in value)}"
  return type(value).__name__
