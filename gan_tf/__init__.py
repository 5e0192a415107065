"""gan-tf: GAN training in pure TensorFlow 2.

    import gan_tf

    config = gan_tf.Config(arch="dcgan", dataset="idx:mnist", split="test", epochs=5)
    gan_tf.train(config, "runs/dcgan")              # Runs again resume it.
    generator = gan_tf.load_generator("runs/dcgan")  # Or an export.
    images = generator.sample(16, seed=0)            # float32 [16, 28, 28, 1] in [-1, 1]
    gan_tf.export("runs/dcgan", "exports/dcgan")
    report = gan_tf.evaluate("exports/dcgan", dataset="idx:mnist", split="test")

`Config` holds every setting (`help(gan_tf.Config)` lists them), and a value
it does not take raises `ConfigError`, which names the setting. Importing
the package does not import TensorFlow; the functions above do when called.
"""

__version__ = "0.2.0"

from gan_tf.config import Config  # noqa: E402
from gan_tf.errors import ConfigError, Interrupted, UserError  # noqa: E402

_API = ("train", "load_generator", "export", "evaluate", "Generator")
__all__ = ["Config", "ConfigError", "UserError", "Interrupted", *_API]


def __getattr__(name):
  if name in _API:
    from gan_tf import api

    return getattr(api, name)
  raise AttributeError(f"module 'gan_tf' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(_API))
