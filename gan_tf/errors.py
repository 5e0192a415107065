"""Errors a user can fix; the binaries print them as one line."""


class UserError(Exception):
  """Bad input or state: the message names the problem and what to do."""


class DataError(UserError):
  """A dataset that cannot be read."""


class TrainingDiverged(UserError):
  """Losses became NaN or infinite."""


class Interrupted(Exception):
  """Training stopped on a signal after saving a checkpoint."""

  def __init__(self, signum: int, message: str):
    super().__init__(message)
    self.signum = signum
