"""`Config`: the settings of one run, made from their definitions in settings.py.

Field names are the settings' names, and the command line's flags have the
same names, so a run's `flags.txt` (written from this object) can be passed
back with `--flagfile`.
"""

import dataclasses
import json
from pathlib import Path

from gan_tf import recipes
from gan_tf import settings as settings_lib
from gan_tf.errors import ConfigError, UserError
from gan_tf.fileio import atomic_write_text
from gan_tf.settings import ARCHS, LOSSES, PACK_LAYOUTS, PRECISIONS, RECIPE_NAMES, UPDATES  # noqa: F401

IDENTITY_FIELDS = settings_lib.IDENTITY
SPEED_FIELDS = settings_lib.SPEED


class _ConfigMethods:
  def __post_init__(self):
    for setting in settings_lib.SETTINGS:
      setting.check(getattr(self, setting.name))

  def resolved(self) -> "Config":
    """Fills in the recipe's values of the settings left unset (None) and
    checks the settings against each other."""
    filled = {k: v for k, v in recipes.values(self.arch, self.recipe, self.conditional).items() if getattr(self, k) is None}
    if self.gp_weight is None:
      filled["gp_weight"] = 10.0 if self.loss == "wasserstein_gp" else 0.0
    config = dataclasses.replace(self, **filled)
    if self.pack is None and (config.r1_gamma or config.gp_weight):
      config = dataclasses.replace(config, pack=1)  # The penalties need each image's own gradient.
    config._check_together()
    return config

  def _check_together(self) -> None:
    if self.pack > 1:
      if self.conditional:
        raise ConfigError("pack", "@pack works for unconditional GANs only; pass @pack=1 with @conditional")
      if recipes.is_custom(self.arch):
        raise ConfigError(
          "pack",
          f"@pack={self.pack} needs a discriminator built for packs, and @arch={self.arch} names your own networks; pass @pack=1",
        )
      # The penalties are per image; a packed discriminator's gradient belongs to its pack.
      for name in ("gp_weight", "r1_gamma"):
        if getattr(self, name):
          raise ConfigError("pack", f"@pack={self.pack} does not work with @{name} yet; pass @pack=1 or @{name}=0")
      if self.batch_size % self.pack:
        raise ConfigError(
          "batch_size", f"@batch_size={self.batch_size} is not a multiple of @pack={self.pack}; pass a multiple or @pack=1"
        )
    if self.spectral_norm and recipes.is_custom(self.arch):
      raise ConfigError(
        "spectral_norm",
        f"@spectral_norm rebuilds the built-in discriminators only; for "
        f"@arch={self.arch} wrap your layers in keras.layers.SpectralNormalization",
      )

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

  def to_flagfile(self) -> str:
    lines = []
    for key, value in dataclasses.asdict(self).items():
      if value is None:
        continue
      if isinstance(value, bool):
        lines.append(f"--{key}" if value else f"--no{key}")
      else:
        lines.append(f"--{key}={value}")
    return "\n".join(lines) + "\n"

  @classmethod
  def from_json(cls, text: str) -> "Config":
    raw = json.loads(text)
    if not isinstance(raw, dict):
      raise ValueError("not a JSON object")
    raw.setdefault("pack", 1)  # Runs from before packs judged each image alone,
    # and runs from before pack layouts stacked their packs (a layout of no
    # pack is the default's, so that a run resumes without naming one).
    raw.setdefault("pack_layout", "channels" if raw["pack"] > 1 else "fold")
    return cls(**{k: v for k, v in raw.items() if k in settings_lib.BY_NAME})


def _doc():
  lines = [
    "The settings of one training run; `Config(**settings)`, every one optional.",
    "",
    "A value a setting does not take raises `gan_tf.ConfigError`, which names it.",
    "Settings whose default is None take the recipe's value (`resolved()`).",
    "",
  ]
  for group in settings_lib.GROUPS:
    lines.append(f"{group.capitalize()}:")
    for s in settings_lib.SETTINGS:
      if s.group == group:
        lines.append(f"  {s.name} ({s.type.__name__}, default {s.default!r}): {s.help.replace('--', '')}")
    lines.append("")
  return "\n".join(lines)


Config = dataclasses.make_dataclass(
  "Config",
  [(s.name, s.type | None if s.default is None else s.type, dataclasses.field(default=s.default)) for s in settings_lib.SETTINGS],
  bases=(_ConfigMethods,),
  frozen=True,
  kw_only=True,
)
Config.__module__ = __name__
Config.__doc__ = _doc()
_dataclass_init = Config.__init__


def _init(self, **settings):
  for name in settings:
    if name not in settings_lib.BY_NAME:
      raise ConfigError(name, f"unknown setting {name!r}; see help(gan_tf.Config) for the settings")
  _dataclass_init(self, **settings)


_init.__doc__ = "Config(**settings): see the class's docstring."
Config.__init__ = _init


def load_run_config(run_dir) -> Config | None:
  """The config a run directory was started with, or None for a new run."""
  path = Path(run_dir) / "config.json"
  if not path.exists():
    return None
  try:
    return Config.from_json(path.read_text())
  except (ValueError, TypeError, KeyError) as e:
    raise UserError(f"{path} is not a valid run config ({e}); remove it or choose another @run_dir") from None


def write_run_config(run_dir, config: Config, image_shape, num_classes=0, speed: Config | None = None, precision_reason="") -> None:
  """`config.json` (the config plus the data's image shape, for a
  conditional run its number of classes, and the speed settings "auto"
  became on this device, and why that precision, under "resolved_speed") and `flags.txt`."""
  record = json.loads(config.to_json())
  record["image_shape"] = list(image_shape)
  record["num_classes"] = num_classes
  if speed is not None:
    record["resolved_speed"] = {name: getattr(speed, name) for name in SPEED_FIELDS}
    record["resolved_speed"]["precision_reason"] = precision_reason
  try:
    atomic_write_text(Path(run_dir) / "config.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
  except OSError as e:
    raise UserError(f"cannot write {Path(run_dir) / 'config.json'}: {e.strerror}") from None
  # The run directory too, so `train --flagfile=RUN/flags.txt` continues this run from anywhere.
  atomic_write_text(Path(run_dir) / "flags.txt", config.to_flagfile() + f"--checkpoint_dir={Path(run_dir).resolve()}\n")


def load_image_shape(run_dir) -> tuple:
  return tuple(json.loads((Path(run_dir) / "config.json").read_text())["image_shape"])


def load_num_classes(run_dir) -> int:
  return int(json.loads((Path(run_dir) / "config.json").read_text()).get("num_classes", 0))


def check_resumable(config: Config, run_dir) -> None:
  """Refuses to continue a run whose checkpointed shapes differ from `config`."""
  previous = load_run_config(run_dir)
  if previous is None:
    return
  for name in IDENTITY_FIELDS:
    old, new = getattr(previous, name), getattr(config, name)
    if old != new:
      raise ConfigError(
        name, f"{run_dir} holds a run with @{name}={old}, not {new}; pass @{name}={old} to resume it or choose a new @run_dir"
      )
