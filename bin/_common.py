"""What every binary shares: quiet TensorFlow, the data flags, one-line errors.

Imported first by each binary, because TensorFlow's C++ logging is configured
by the environment it finds when it loads.
"""

import os
import sys
import tempfile
import warnings

TF_LOG = any(arg in ("--tf_log", "--tf_log=true", "--tf_log=1") for arg in sys.argv[1:])


def _import_tensorflow_quietly():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  # Some lines are written before TensorFlow reads TF_CPP_MIN_LOG_LEVEL; hide
  # the loader's stderr, and show it only if the import fails.
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow as tf  # noqa: F401
    except BaseException:
      os.dup2(saved, 2)
      captured.seek(0)
      sys.stderr.write(captured.read().decode(errors="replace"))
      raise
    finally:
      os.dup2(saved, 2)
      os.close(saved)
  tf.get_logger().setLevel("ERROR")
  warnings.filterwarnings("ignore")


if not TF_LOG:
  _import_tensorflow_quietly()

from absl import app, flags, logging  # noqa: E402

from gan_tf.errors import Interrupted, UserError  # noqa: E402

flags.DEFINE_bool("tf_log", False, "Show TensorFlow's own log messages (hidden by default).")


def define_data_flags():
  flags.DEFINE_string("dataset", "mnist",
                      "A TFDS image dataset (mnist, fashion_mnist, cifar10, ...), or local files: idx:DIR (IDX files: "
                      "train-images-idx3-ubyte[.gz], t10k-... and their labels), cifar:PATH (the CIFAR-10/100 "
                      "python or binary batches, or their .tar.gz), folder:DIR (image files; one sub-folder per "
                      "class for labels).")
  flags.DEFINE_string("split", "train", "Which split to use: train, test or train+test (or any TFDS split; "
                      "a folder has only train).")
  flags.DEFINE_string("data_dir", None, "Where TFDS keeps its datasets (TFDS's default if unset).")


def run(main):
  """app.run(main), with user errors as one line on stderr and exit status 1,
  and a stop on SIGINT/SIGTERM as one line and exit status 128 + signal."""

  def guarded(argv):
    if len(argv) > 1:
      _fail(f"unexpected arguments: {' '.join(argv[1:])} (flags are written --name=value)")
    if not TF_LOG:
      logging.set_verbosity(logging.ERROR)
    try:
      main(argv)
    except UserError as e:
      _fail(str(e))
    except Interrupted as e:
      print(f"{os.path.basename(sys.argv[0])}: {e}", file=sys.stderr)
      sys.exit(128 + e.signum)
    except KeyboardInterrupt:
      print(f"{os.path.basename(sys.argv[0])}: interrupted", file=sys.stderr)
      sys.exit(130)

  def parse(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      _fail(f"{e} (see --help)")

  app.run(guarded, flags_parser=parse)


def _fail(message):
  print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr)
  sys.exit(1)
