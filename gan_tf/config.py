"""`Config`: the settings of one run, made from their definitions in settings.py.

Field names are the settings' names, and the command line's flags have the
same names, so a run's `flags.txt` (written from this object) can be passed
back with `--flagfile`. The run directory's record of a config is rundir.py's.
"""

import dataclasses
import json

from gan_tf import recipes
from gan_tf import settings as settings_lib
from gan_tf.errors import ConfigError


class _ConfigMethods:
  def __post_init__(self):
    for setting in settings_lib.SETTINGS:
      setting.check(getattr(self, setting.name))

  def resolved(self) -> "Config":
    """Fills in the recipe's values of the settings left unset (None) and
    checks the settings against each other."""
    filled = {k: v for k, v in recipes.values(self.arch, self.recipe, self.conditional).items() if getattr(self, k) is None}
    if self.gp_weight is None:
      filled["gp_weight"] = 10.0 if filled.get("loss", self.loss) == "wasserstein_gp" else 0.0
    config = dataclasses.replace(self, **filled)
    if filled.get("info_code", 0) > config.latent_dim:
      raise ConfigError(
        "info_code",
        f"the {self.recipe} recipe's @info_code={config.info_code} needs a @latent_dim of at least {config.info_code}, "
        f"got {config.latent_dim}; pass @info_code=0 or a larger @latent_dim",
      )
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
    if self.d_dropout and self.arch not in recipes.DROPOUT_ARCHS:
      raise ConfigError(
        "d_dropout", f"@d_dropout is the dcgan discriminator's; @arch={self.arch} has no dropout to set: leave it unset"
      )
    for name, what in (
      ("g_upsample", "generator's; @arch={} has no maps to double"),
      ("g_image_width", "generator's; @arch={} has no maps"),
      ("self_attention", "networks'; @arch={} has no maps to attend over"),
    ):
      if getattr(self, name) and self.arch not in recipes.CONV_ARCHS:
        raise ConfigError(name, f"@{name} is the dcgan {what.format(self.arch)}: leave it unset")
    for name, networks in (("d_width", "discriminators"), ("g_width", "generators")):
      if getattr(self, name) and recipes.is_custom(self.arch):
        raise ConfigError(name, f"@{name} sets the built-in {networks}' width; @arch={self.arch} builds its own: leave it unset")
    if self.info_code and not 2 <= self.info_code <= self.latent_dim:
      raise ConfigError("info_code", f"@info_code={self.info_code} needs 2 to @latent_dim={self.latent_dim} classes, or 0")
    if self.info_code and (self.conditional or recipes.is_custom(self.arch)):
      what = "@conditional runs take their classes from the labels" if self.conditional else f"@arch={self.arch} builds its own"
      raise ConfigError("info_code", f"@info_code reads a code in the built-in generators' noise; {what}: pass @info_code=0")
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
    """The config of `to_json`'s text; keys that are no setting are ignored."""
    raw = json.loads(text)
    if not isinstance(raw, dict):
      raise ValueError("not a JSON object")
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
