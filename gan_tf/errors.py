"""Errors a user can fix; the commands print them as one line.

A message names settings as `@name`: `str(error)` reads `name` (as Python
code passes it to `Config`), and the command line reads `--name`.
"""

import re

_SETTING = re.compile(r"(?<![\w/.@])@([a-z][a-z0-9_]*)")


class UserError(Exception):
  """Bad input or state: the message names the problem and what to do."""

  def __init__(self, message: str):
    super().__init__(message)
    self.template = message

  def __str__(self):
    return self.render()

  def render(self, flag_names=None) -> str:
    """The message; with `flag_names` (setting -> flag name), in the command line's words."""
    if flag_names is None:
      return _SETTING.sub(r"\1", self.template)
    return _SETTING.sub(lambda m: "--" + flag_names.get(m[1], m[1]), self.template)


class ConfigError(UserError, ValueError):
  """A setting with a value it does not take; `setting` names it."""

  def __init__(self, setting: str, message: str):
    super().__init__(message)
    self.setting = setting


class DataError(UserError):
  """A dataset that cannot be read."""


class TrainingDiverged(UserError):
  """Losses became NaN or infinite."""


class Interrupted(Exception):
  """Training stopped on a signal after saving a checkpoint."""

  def __init__(self, signum: int, message: str):
    super().__init__(message)
    self.signum = signum
