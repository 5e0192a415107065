"""gan-tf COMMAND [flags]: GAN training in pure TensorFlow 2.

`gan-tf COMMAND --help` shows a command's flags.
"""

import importlib
import sys

COMMANDS = {
  "train": "train a GAN; the same command again resumes it",
  "export": "export a run's generator as a SavedModel",
  "generate": "draw images from an export",
  "evaluate": "measure the sample quality of an export or a run (FID, KID, precision, recall, ...)",
  "probe": "measure again whether bfloat16 pays on this CPU (what --precision=auto reads)",
}


def usage() -> str:
  width = max(map(len, COMMANDS))
  lines = ["usage: gan-tf COMMAND [flags]", "", "commands:"]
  lines += [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
  lines += ["", "gan-tf COMMAND --help shows a command's flags; python -m gan_tf works the same way."]
  return "\n".join(lines) + "\n"


def main(argv=None, prog="gan-tf"):
  """The `gan-tf` console script: `argv` is [COMMAND, flags...] (default: sys.argv[1:])."""
  argv = sys.argv[1:] if argv is None else list(argv)
  if not argv or argv[0] in ("-h", "--help", "help"):
    sys.stdout.write(usage())
    sys.exit(0 if argv else 2)
  if argv[0] in ("--version", "version"):
    from gan_tf import __version__

    print(f"gan-tf {__version__}")
    sys.exit(0)
  command = argv[0]
  if command not in COMMANDS:
    print(f"{prog}: error: unknown command {command!r}; choose one of {', '.join(COMMANDS)} (see {prog} --help)", file=sys.stderr)
    sys.exit(1)
  from gan_tf.cli import common

  module = importlib.import_module(f"gan_tf.cli.{command}")
  common.run(module, argv[1:], f"{prog} {command}" if prog == "gan-tf" else prog)
