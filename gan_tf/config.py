"""The settings of one run.

Field names are the flag names of `bin/train`, so a run's `flags.txt` (written
from this object) can be passed back with `--flagfile`.
"""

import dataclasses
import json
from pathlib import Path

from gan_tf import augment as augment_lib
from gan_tf.errors import UserError
from gan_tf.fileio import atomic_write_text

# Settings a recipe fills in where the command line leaves them unset.
# "original" is the source each architecture comes from: the TensorFlow DCGAN
# tutorial (Adam 1e-4 for both networks, samples from the raw generator with
# BatchNorm's moving averages; both networks updated from one pass) and the
# Keras articles' MLP GAN (Adam 2e-4, beta_1 0.5, likewise sampled; the
# generator updated after the discriminator, against its new weights).
# "gan-tf" is this project's, each choice measured (README "Sample quality of
# the recipes"):
# - dcgan at Adam 4e-4, the DCGAN paper's 2e-4 scaled to the batch of 256
#   (better than 2e-4 at 50 epochs);
# - dcgan with beta_1 0 (no momentum, as BigGAN and StyleGAN train): FID at
#   50 epochs 56 -> 35, classifier score 7.5 -> 7.9;
# - dcgan with 2 discriminator updates per step: its discriminator lagged at
#   one (FID at 50 epochs 91 -> 60);
# - samples from an EMA of the generator's weights with BatchNorm
#   statistics recomputed for those weights.
# - dcgan with a folded pack of 2 (PacGAN, the images folded rather than
#   stacked along the channels): FID at 50 epochs 33.9 -> 25.6, classifier
#   score 7.91 -> 8.07; a run that sets a gradient penalty falls back to 1, as a
#   packed discriminator's gradient is its pack's, not an image's;
# - mlp with alternating updates, as the articles train it (FID at 50 epochs
#   510 -> 340); for the dcgan they ended level, a quarter slower.
RECIPES = {
    ("dcgan", "original"): dict(g_lr=1e-4, d_lr=1e-4, beta_1=0.9, ema_decay=0.0, bn_stats="moving",
                                d_steps=1, r1_gamma=0.0, updates="simultaneous", pack=1),
    ("mlp", "original"): dict(g_lr=2e-4, d_lr=2e-4, beta_1=0.5, ema_decay=0.0, bn_stats="moving",
                              d_steps=1, r1_gamma=0.0, updates="alternating", pack=1),
    ("dcgan", "gan-tf"): dict(g_lr=4e-4, d_lr=4e-4, beta_1=0.0, ema_decay=0.999, bn_stats="standing",
                              d_steps=2, r1_gamma=0.0, updates="simultaneous", pack=2),
    ("mlp", "gan-tf"): dict(g_lr=2e-4, d_lr=2e-4, beta_1=0.5, ema_decay=0.999, bn_stats="standing",
                            d_steps=1, r1_gamma=0.0, updates="alternating", pack=1),
}
# What a --conditional run changes in a recipe. gan-tf: R1 at 1 (without it
# a conditional dcgan collapsed to one image per class by epoch 30: recall
# 0.000, FID 198; with it recall 0.400, FID 20.6; README "Conditional
# generation"), and the beta_1 and discriminator updates it was measured with.
CONDITIONAL = {"gan-tf": dict(beta_1=0.5, d_steps=1, r1_gamma=1.0, pack=1)}
ARCHS = sorted({arch for arch, _ in RECIPES})
RECIPE_NAMES = ("gan-tf", "original")

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
LOSSES = ("nonsaturating", "minimax", "least_squares", "hinge", "wasserstein_gp")
UPDATES = ("simultaneous", "alternating")
PACK_LAYOUTS = ("fold", "channels")

# Settings that decide the shapes of what is checkpointed: a run cannot resume
# with different values.
IDENTITY_FIELDS = ("arch", "latent_dim", "grid", "conditional", "spectral_norm", "pack", "pack_layout",
                   "image_size", "channels")


@dataclasses.dataclass(frozen=True)
class Config:
  arch: str = "dcgan"
  latent_dim: int = 100
  # Both networks take a class label (the data's); see models.py.
  conditional: bool = False
  # Data; image_size and channels 0 keep the dataset's own.
  dataset: str = "mnist"
  split: str = "train"
  data_dir: str | None = None
  image_size: int = 0
  channels: int = 0
  batch_size: int = 256
  seed: int = 0
  # Optimisation and sampling; None takes the recipe's value (RECIPES).
  recipe: str = "gan-tf"
  epochs: int = 50
  g_lr: float | None = None
  d_lr: float | None = None
  beta_1: float | None = None
  beta_2: float = 0.999
  # The objective (losses.py), discriminator updates per generator update,
  # and the discriminator's regularisers. gp_weight None: 10 for
  # wasserstein_gp, 0 (off) otherwise.
  loss: str = "nonsaturating"
  # None: the recipe's (gan-tf: 2 for an unconditional dcgan, else 1).
  d_steps: int | None = None
  # "simultaneous": the generator and the last discriminator update come
  # from one pass (the tutorial's step); "alternating": the generator's
  # update follows the discriminator's, against its new weights (the Keras
  # articles' loop). None: the recipe's.
  updates: str | None = None
  gp_weight: float | None = None
  # None: the recipe's (gan-tf: 1 for conditional runs, else 0; original: 0).
  r1_gamma: float | None = None
  spectral_norm: bool = False
  # PacGAN (Lin et al., 2018): the discriminator judges this many images at
  # once (1: each alone). None: the recipe's, or 1 with a gradient penalty.
  pack: int | None = None
  # How a pack is laid out (models.Pack): "fold" or "channels" (PacGAN's).
  pack_layout: str = "fold"
  # DiffAugment: transforms (augment.POLICIES, comma-separated) applied to
  # every image the discriminator sees, real or generated ("": none).
  augment: str = ""
  # Top-k training (Sinha et al., 2020): the generator learns only from the
  # fakes the discriminator rates highest, a share of the batch that starts
  # at 1 and shrinks by a factor top_k_decay an epoch down to top_k (1:
  # every fake counts).
  top_k: float = 1.0
  top_k_decay: float = 0.99
  # Decay of the moving average of the generator's weights (0: it follows
  # the generator exactly).
  ema_decay: float | None = None
  # Which generator draws samples and is evaluated and exported.
  sample_from: str = "ema"
  # BatchNorm statistics when sampling: "standing" recomputes them for the
  # sampled weights from 512 fresh draws; "moving" uses training's averages.
  bn_stats: str | None = None
  # Sample quality during training (0: off); see evaluate.py.
  eval_every: int = 0
  eval_num: int = 5000
  # Outputs.
  sample_every: int = 1
  grid: int = 4
  # Assemble the sample grids into samples/progress.gif at the end.
  progress_gif: bool = True
  checkpoint_every: int = 15
  checkpoint_every_minutes: float = 30.0
  max_to_keep: int = 3
  export_dir: str | None = None
  progress: bool = True
  deterministic: bool = False
  strategy: str = "default"
  # Speed; "auto" and 0 take what is fastest on the device at hand
  # (distribute.resolve_speed).
  precision: str = "auto"
  jit_compile: str = "auto"
  steps_per_execution: int = 0
  fused_discriminator: str = "auto"

  def resolved(self) -> "Config":
    """Fills the architecture's defaults in and validates every field."""
    if self.arch not in ARCHS:
      raise UserError(f"unknown --arch={self.arch!r}; choose one of {', '.join(ARCHS)}")
    if self.recipe not in RECIPE_NAMES:
      raise UserError(f"unknown --recipe={self.recipe!r}; choose one of {', '.join(RECIPE_NAMES)}")
    recipe = {**RECIPES[self.arch, self.recipe], **(CONDITIONAL.get(self.recipe, {}) if self.conditional else {})}
    filled = {k: v for k, v in recipe.items() if getattr(self, k) is None}
    if self.gp_weight is None:
      filled["gp_weight"] = 10.0 if self.loss == "wasserstein_gp" else 0.0
    config = dataclasses.replace(self, **filled)
    if self.pack is None and (config.r1_gamma or config.gp_weight):
      config = dataclasses.replace(config, pack=1)  # The penalties need each image's own gradient (see _validate).
    config._validate()
    return config

  def _validate(self) -> None:
    if self.precision not in PRECISIONS:
      raise UserError(f"--precision={self.precision!r} is not one of {', '.join(PRECISIONS)}")
    if self.loss not in LOSSES:
      raise UserError(f"--loss={self.loss!r} is not one of {', '.join(LOSSES)}")
    if self.updates not in UPDATES:
      raise UserError(f"--updates={self.updates!r} is not one of {', '.join(UPDATES)}")
    for name in ("gp_weight", "r1_gamma"):
      if not getattr(self, name) >= 0:
        raise UserError(f"--{name} must be 0 (off) or positive, got {getattr(self, name)!r}")
    try:
      augment_lib.parse(self.augment)
    except ValueError as e:
      raise UserError(f"--augment={self.augment!r}: {e}") from None
    if not 0 < self.top_k <= 1:
      raise UserError(f"--top_k must be in (0, 1] (1: off), got {self.top_k!r}")
    if not 0 < self.top_k_decay <= 1:
      raise UserError(f"--top_k_decay must be in (0, 1], got {self.top_k_decay!r}")
    if not isinstance(self.image_size, int) or self.image_size < 0:
      raise UserError(f"--image_size must be 0 (the dataset's own) or a size such as 28, 32 or 64, got {self.image_size!r}")
    if self.channels not in (0, 1, 3):
      raise UserError(f"--channels={self.channels} is not 1 (grey), 3 (colour) or 0 (the dataset's own)")
    if self.sample_from not in ("ema", "raw"):
      raise UserError(f"--sample_from={self.sample_from!r} is not one of ema, raw")
    if self.bn_stats not in ("standing", "moving"):
      raise UserError(f"--bn_stats={self.bn_stats!r} is not one of standing, moving")
    if not 0 <= self.ema_decay < 1:
      raise UserError(f"--ema_decay must be in [0, 1), got {self.ema_decay!r}")
    if not isinstance(self.eval_every, int) or self.eval_every < 0:
      raise UserError(f"--eval_every must be 0 (off) or positive, got {self.eval_every!r}")
    for name in ("jit_compile", "fused_discriminator"):
      if getattr(self, name) not in ("auto", "true", "false"):
        raise UserError(f"--{name}={getattr(self, name)!r} is not one of auto, true, false")
    if not isinstance(self.steps_per_execution, int) or self.steps_per_execution < 0:
      raise UserError(f"--steps_per_execution must be 0 (auto) or positive, got {self.steps_per_execution!r}")
    for name in ("latent_dim", "batch_size", "epochs", "sample_every",
                 "grid", "checkpoint_every", "max_to_keep", "eval_num", "d_steps", "pack"):
      value = getattr(self, name)
      if not isinstance(value, int) or value < 1:
        raise UserError(f"--{name} must be a positive integer, got {value!r}")
    if not self.checkpoint_every_minutes >= 0:
      raise UserError(f"--checkpoint_every_minutes must be 0 (off) or positive, got {self.checkpoint_every_minutes!r}")
    for name in ("g_lr", "d_lr"):
      if not getattr(self, name) > 0:
        raise UserError(f"--{name} must be positive, got {getattr(self, name)!r}")
    for name in ("beta_1", "beta_2"):
      if not 0 <= getattr(self, name) < 1:
        raise UserError(f"--{name} must be in [0, 1), got {getattr(self, name)!r}")
    if self.pack_layout not in PACK_LAYOUTS:
      raise UserError(f"--pack_layout={self.pack_layout!r} is not one of {', '.join(PACK_LAYOUTS)}")
    if self.pack > 1:
      if self.conditional:
        raise UserError("--pack works for unconditional GANs only; pass --pack=1 with --conditional")
      # The penalties are per image; a packed discriminator's gradient belongs to its pack.
      for name in ("gp_weight", "r1_gamma"):
        if getattr(self, name):
          raise UserError(f"--pack={self.pack} does not work with --{name} yet; pass --pack=1 or --{name}=0")
      if self.batch_size % self.pack:
        raise UserError(f"--batch_size={self.batch_size} is not a multiple of --pack={self.pack}; "
                        f"pass a multiple or --pack=1")

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
    raw.setdefault("pack", 1)  # Runs from before --pack judged each image alone,
    # and runs from before --pack_layout stacked their packs (a layout of no
    # pack is the default's, so that a run resumes without naming one).
    raw.setdefault("pack_layout", "channels" if raw["pack"] > 1 else "fold")
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in raw.items() if k in known})


def load_run_config(run_dir) -> Config | None:
  """The config a run directory was started with, or None for a new run."""
  path = Path(run_dir) / "config.json"
  if not path.exists():
    return None
  try:
    return Config.from_json(path.read_text())
  except (ValueError, TypeError) as e:
    raise UserError(f"{path} is not a valid run config ({e}); remove it or choose another --checkpoint_dir")


SPEED_FIELDS = ("precision", "jit_compile", "steps_per_execution", "fused_discriminator")


def write_run_config(run_dir, config: Config, image_shape, num_classes=0, speed: Config | None = None) -> None:
  """`config.json` (the config plus the data's image shape, for a
  conditional run its number of classes, and the speed settings "auto"
  became on this device, under "resolved_speed") and `flags.txt`."""
  record = json.loads(config.to_json())
  record["image_shape"] = list(image_shape)
  record["num_classes"] = num_classes
  if speed is not None:
    record["resolved_speed"] = {name: getattr(speed, name) for name in SPEED_FIELDS}
  atomic_write_text(Path(run_dir) / "config.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
  atomic_write_text(Path(run_dir) / "flags.txt", config.to_flagfile())


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
      raise UserError(
          f"{run_dir} holds a run with --{name}={old}, not {new}; "
          f"pass --{name}={old} to resume it or choose a new --checkpoint_dir")
