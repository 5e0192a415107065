"""What every command shares: flags derived from the settings, help, quiet
TensorFlow, and one-line errors."""

import os
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

from absl import app, flags, logging

from gan_tf import settings as settings_lib
from gan_tf.errors import Interrupted, UserError

FLAGS = flags.FLAGS
# Library names of things that have another flag name on the command line.
FLAG_NAMES = {"run_dir": "checkpoint_dir"}

flags.DEFINE_bool("tf_log", False, "Show TensorFlow's own log messages (hidden by default).")


def define_settings(names, module_name, defaults=None, optional=False):
  """Defines a flag for each named setting, with the setting's type, default,
  choices and help (`defaults` overrides a default; `optional`: every default
  None, meaning "the run's")."""
  for name in names:
    s = settings_lib.BY_NAME[name]
    default = None if optional else (defaults or {}).get(name, s.default)
    kw = dict(flag_values=FLAGS, module_name=module_name)
    if s.type is bool:
      flags.DEFINE_bool(name, default, s.help, **kw)
    elif s.choices is not None and s.type is str:
      flags.DEFINE_enum(name, default, list(s.choices), s.help, **kw)
    elif s.type is int:
      flags.DEFINE_integer(name, default, s.help, **kw)
    elif s.type is float:
      flags.DEFINE_float(name, default, s.help, **kw)
    else:
      flags.DEFINE_string(name, default, s.help, **kw)


def check_setting(name, value, flag=None):
  """Checks a command's flag against a setting's rule (a flag that means the same, under another name)."""
  try:
    settings_lib.BY_NAME[name].check(value)
  except UserError as e:
    if flag:
      raise UserError(e.template.replace(f"@{name}", f"@{flag}")) from None
    raise


def check_output(flag, path, directory=False):
  """Refuses, before any work, an output path that cannot be written: under
  a file, a file where a directory belongs or the other way round, or in a
  directory that cannot be written."""
  if not path:
    return
  target = Path(path)
  if target.exists() and target.is_dir() != directory:
    raise UserError(
      f"--{flag}={path} is {'a file' if directory else 'a directory'}; pass {'a directory' if directory else 'a file name'}"
    )
  parent = target if directory and target.exists() else target.parent
  while not parent.exists():
    parent = parent.parent
  if not parent.is_dir():
    raise UserError(f"--{flag}={path}: {parent} is a file, not a directory")
  if not os.access(parent, os.W_OK):
    raise UserError(f"--{flag}={path}: {parent} cannot be written")


def import_tensorflow():
  """Imports TensorFlow with its log noise hidden (unless --tf_log)."""
  if "tensorflow" in sys.modules:
    return
  if FLAGS.is_parsed() and FLAGS.tf_log:
    import tensorflow  # noqa: F401

    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  # Some lines are written before TensorFlow reads TF_CPP_MIN_LOG_LEVEL; hide
  # the loader's stderr, and show it only if the import fails.
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow as tf
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


def help_text(module, prog) -> str:
  doc = (module.__doc__ or "").strip().replace("gan-tf COMMAND", prog)
  by_group = {}
  for flag in FLAGS.get_flags_for_module(module.__name__):
    setting = settings_lib.BY_NAME.get(flag.name)
    group = setting.group if setting is not None and module.__name__.endswith(".train") else "flags"
    by_group.setdefault(group, []).append(flag)
  lines = [doc, ""]
  for group in [g for g in settings_lib.GROUPS if g in by_group] + (["flags"] if "flags" in by_group else []):
    lines.append(f"{group}:" if group != "flags" or len(by_group) == 1 else "this command's own:")
    for flag in by_group[group]:
      default = "" if flag.default is None else f" (default: {flag.default})"
      if flag.boolean:
        default = f" (default: {'on' if flag.default else 'off'}; --no{flag.name} turns it off)" if flag.default else ""
      lines.append(f"  --{flag.name}{default}")
      lines += textwrap.wrap(flag.help, 100, initial_indent="      ", subsequent_indent="      ")
    lines.append("")
  lines += [
    "Every command also takes --flagfile=FILE (flags one per line), --tf_log (show TensorFlow's "
    "log), and --helpfull (every flag, absl's own included)."
  ]
  return "\n".join(lines) + "\n"


def run(module, argv, prog):
  """Runs a command module's `main` under absl: user errors as one line on
  stderr and exit status 1; a stop on SIGINT/SIGTERM as one line and exit
  status 128 + signal."""
  if any(a in ("-h", "--help", "-help", "--helpshort", "-?") for a in argv):
    sys.stdout.write(help_text(module, prog))
    sys.exit(0)
  sys.argv[0] = prog  # absl's --helpfull names the program by it.

  def guarded(args):
    if len(args) > 1:
      fail(prog, f"unexpected arguments: {' '.join(args[1:])} (flags are written --name=value; see --help)")
    if not FLAGS.tf_log:
      logging.set_verbosity(logging.ERROR)
    try:
      module.main(args)
    except UserError as e:
      fail(prog, e.render(FLAG_NAMES))
    except Interrupted as e:
      print(f"{prog}: {e}", file=sys.stderr)
      sys.exit(128 + e.signum)
    except KeyboardInterrupt:
      print(f"{prog}: interrupted", file=sys.stderr)
      sys.exit(130)

  def parse(args):
    try:
      return FLAGS(args)
    except flags.Error as e:
      fail(prog, f"{e} (see --help)")

  app.run(guarded, argv=[prog, *argv], flags_parser=parse)


def fail(prog, message):
  print(f"{prog}: error: {message}", file=sys.stderr)
  sys.exit(1)
