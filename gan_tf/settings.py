"""Every setting of a training run, defined once.

A `Setting` holds a name, type, default, choices, help and the rule its
value must meet. `gan_tf.Config` is made from these definitions, the command
line's flags are derived from them, and docs/usage.md lists them. Nothing
here imports TensorFlow, so a bad value is answered before it loads.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from gan_tf.errors import ConfigError

POLICIES = ("translation", "cutout", "color")  # DiffAugment's transforms (augment.py).
ARCHS = ("dcgan", "mlp")  # Built in; MODULE:FUNCTION names one of the user's (models.py).
RECIPE_NAMES = ("gan-tf", "original")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
LOSSES = ("nonsaturating", "minimax", "least_squares", "hinge", "wasserstein_gp")
UPDATES = ("simultaneous", "alternating")
PACK_LAYOUTS = ("fold", "channels")
UPSAMPLES = ("transpose", "resize")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
TRISTATE = ("auto", "true", "false")


@dataclasses.dataclass(frozen=True)
class Setting:
  name: str
  type: type  # int, float, bool or str
  default: Any
  help: str
  group: str
  choices: tuple | None = None
  # A rule beyond type and choices: (test, what a value must be), e.g.
  # (lambda v: v >= 1, "a positive integer").
  rule: tuple[Callable[[Any], bool], str] | None = None
  # None is allowed: the recipe fills the value in (see recipes.py).
  from_recipe: bool = False

  def check(self, value) -> None:
    """Raises ConfigError naming this setting if `value` is not one it takes."""
    if value is None and (self.from_recipe or self.default is None):
      return
    ok_type = isinstance(value, self.type) and not (self.type is not bool and isinstance(value, bool))
    if self.type is float and isinstance(value, int) and not isinstance(value, bool):
      ok_type = math.isfinite(value)
    if self.type is float and ok_type and not math.isfinite(value):
      ok_type = False
    if not ok_type:
      raise ConfigError(self.name, f"@{self.name}={value!r} is not {_TYPE_WORDS[self.type]}")
    if self.choices is not None and value not in self.choices:
      raise ConfigError(self.name, f"@{self.name}={value!r} is not one of {', '.join(map(str, self.choices))}")
    if self.rule is not None and not self.rule[0](value):
      raise ConfigError(self.name, f"@{self.name} must be {self.rule[1]}, got {value!r}")


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
POSITIVE = (lambda v: v >= 1, "a positive integer")
NON_NEGATIVE = (lambda v: v >= 0, "0 (off) or positive")
UNIT_OPEN = (lambda v: 0 <= v < 1, "in [0, 1)")
UNIT_CLOSED_ABOVE = (lambda v: 0 < v <= 1, "in (0, 1]")
SEED = (lambda v: 0 <= v < 2**32, "an integer from 0 to 4294967295")


def _arch_rule(value):
  return value in ARCHS or (value.count(":") == 1 and all(part.strip() for part in value.split(":")))


def augment_policies(policy: str) -> tuple:
  """The transforms named in a comma-separated `policy` ("" or "none": none)."""
  names = tuple(p.strip() for p in policy.split(",") if p.strip() and p.strip() != "none")
  unknown = [n for n in names if n not in POLICIES]
  if unknown:
    raise ValueError(f"unknown augmentation {unknown[0]!r}; choose from {', '.join(POLICIES)}")
  return names


def _augment_rule(value):
  try:
    return augment_policies(value) is not None
  except ValueError:
    return False


def _image_size_rule(value):
  return value == 0 or value >= 4


_SPLIT_HELP = "Which split to use: train, test or train+test (or any TFDS split; a folder has only train)."


def _lr(name, network):
  help_ = f"{network} learning rate (default: the recipe's)."
  return _s(name, float, None, help_, "optimisation", rule=(lambda v: v > 0, "positive"), from_recipe=True)


def _s(name, type_, default, help_, group, **kw):
  return Setting(name, type_, default, help_, group, **kw)


SETTINGS = (
  # The model.
  _s(
    "arch",
    str,
    "dcgan",
    "mlp: the dense GAN of the Keras articles; dcgan: the TensorFlow DCGAN tutorial's; MODULE:FUNCTION: your own "
    "networks, FUNCTION(latent_dim=, image_shape=(H, W, C), num_classes=) -> (generator, discriminator), "
    "importable from the working directory or PYTHONPATH.",
    "model",
    rule=(_arch_rule, f"one of {', '.join(ARCHS)} or MODULE:FUNCTION"),
  ),
  _s("latent_dim", int, 100, "Size of the generator's noise vector.", "model", rule=POSITIVE),
  _s(
    "conditional",
    bool,
    False,
    "Condition both networks on the data's class labels: the generator on an embedding of the label, the "
    "discriminator by projection. Sample grids get one row per class; the export takes a label.",
    "model",
  ),
  _s("spectral_norm", bool, False, "Spectral normalisation of the discriminator's weights.", "model"),
  _s(
    "d_dropout",
    float,
    None,
    "Dropout rate after each of the dcgan discriminator's convolutions (the tutorial's 0.3; default: the "
    "recipe's: 0 for an unconditional dcgan with the gan-tf recipe, else 0.3). The mlp's discriminator has none.",
    "model",
    rule=UNIT_OPEN,
    from_recipe=True,
  ),
  _s(
    "d_width",
    int,
    None,
    "Width of the built-in discriminator: the dcgan's filters in its first convolution, doubled per level up to "
    "512 (the tutorial's 64), or the mlp's units per hidden layer (the articles' 512). Default: the source's, "
    "in both recipes. Your own networks set their own.",
    "model",
    rule=POSITIVE,
    from_recipe=True,
  ),
  _s(
    "g_width",
    int,
    None,
    "Width of the built-in generator: the dcgan's filters in its last hidden layer, doubled per level up to 512 "
    "(the tutorial's 64, so 7x7x256, 7x7x128, 14x14x64), or the mlp's units in its first hidden layer, doubled per "
    "layer (the articles' 256). Default: the source's, in both recipes. Your own networks set their own.",
    "model",
    rule=POSITIVE,
    from_recipe=True,
  ),
  _s(
    "g_image_width",
    int,
    None,
    "Filters of a dcgan generator layer at the image's own size: the generator doubles its last map to the "
    "image's size with this many filters and draws the image from them with a 3x3 convolution (0: none; the "
    "tutorial draws the image straight from the half-size map). Default: the recipe's: 32 for an unconditional dcgan "
    "with the gan-tf recipe, else 0. The mlp has no maps.",
    "model",
    rule=NON_NEGATIVE,
    from_recipe=True,
  ),
  _s(
    "info_code",
    int,
    None,
    "Classes of a categorical code in the noise (InfoGAN, Chen et al., 2016; 0: none): the generator reads the "
    "likeliest of the noise's first N values as one of N classes, and a small network learns to tell the class "
    "back from the image, with the generator, so each class draws its own kind of image. Unconditional built-in "
    "networks only. Default: the recipe's: 10 for an unconditional dcgan with the gan-tf recipe, else 0.",
    "model",
    rule=NON_NEGATIVE,
    from_recipe=True,
  ),
  _s(
    "g_upsample",
    str,
    None,
    "How the dcgan generator doubles its maps: transpose (the tutorial's 5x5 transposed convolutions) or resize "
    "(nearest-neighbour upsampling, then a 5x5 convolution: as many weights, no checkerboard pattern, about 1.1x "
    "the time per epoch). Default: transpose, in both recipes. The mlp has no maps to double.",
    "model",
    choices=UPSAMPLES,
    from_recipe=True,
  ),
  _s(
    "self_attention",
    bool,
    None,
    "SAGAN's self-attention in the dcgan (Zhang et al., 2019): a block in which every position of a map draws on "
    "all the others, in the generator before its last upsampling and in the discriminator after its first "
    "convolution (at 28x28, both on 14x14 maps). About 1.1x the time per epoch. Default: the recipe's: on for an "
    "unconditional dcgan with the gan-tf recipe, else off. The mlp has no maps to attend over.",
    "model",
    from_recipe=True,
  ),
  _s(
    "pack",
    int,
    None,
    "PacGAN: the discriminator judges this many images at once (1: each alone; default: the recipe's, 1 with a "
    "gradient penalty). Unconditional runs without --r1_gamma or --gp_weight.",
    "model",
    rule=POSITIVE,
    from_recipe=True,
  ),
  _s(
    "pack_layout",
    str,
    "fold",
    "How --pack lays a pack out: fold (each image reshaped, in memory order, into 1/pack of the canvas, "
    "neighbouring pixels as channels) or channels (stacked along the channels, as PacGAN).",
    "model",
    choices=PACK_LAYOUTS,
  ),
  # The data.
  _s(
    "dataset",
    str,
    "mnist",
    "A TFDS image dataset (mnist, fashion_mnist, cifar10, ...), or local files: idx:DIR (IDX files: "
    "train-images-idx3-ubyte[.gz], t10k-... and their labels), cifar:PATH (the CIFAR-10/100 python or binary "
    "batches, or their .tar.gz), folder:DIR (image files; one sub-folder per class for labels).",
    "data",
    rule=(bool, "a dataset name or KIND:PATH"),
  ),
  _s("split", str, "train", _SPLIT_HELP, "data", rule=(bool, "a split name")),
  _s("data_dir", str, None, "Where TFDS keeps its datasets (TFDS's default if unset).", "data"),
  _s(
    "image_size",
    int,
    0,
    "Train at N x N: images are centre-cropped to a square and resized (0: the dataset's own size). dcgan draws "
    "28, 32 or 64 (and other 7 or 4 times powers of two).",
    "data",
    rule=(_image_size_rule, "0 (the dataset's own) or a size such as 28, 32 or 64"),
  ),
  _s("channels", int, 0, "1 (grey) or 3 (colour); images are converted (0: the dataset's own).", "data", choices=(0, 1, 3)),
  _s(
    "batch_size",
    int,
    None,
    "Images per step, full batches only (default: the recipe's: 256 for dcgan, 32 for mlp).",
    "data",
    rule=POSITIVE,
    from_recipe=True,
  ),
  _s("seed", int, 0, "Seed of the data order, the noise and the sample grid.", "data", rule=SEED),
  # Optimisation.
  _s(
    "recipe",
    str,
    "gan-tf",
    "Defaults for the settings marked 'the recipe's' that are left unset: gan-tf (this project's, each choice "
    "measured) or original (the settings of the architecture's source). See docs/recipes.md.",
    "optimisation",
    choices=RECIPE_NAMES,
  ),
  _s("epochs", int, 50, "Total epochs: a resumed run trains until it has this many.", "optimisation", rule=POSITIVE),
  _lr("g_lr", "Generator"),
  _lr("d_lr", "Discriminator"),
  _s(
    "beta_1",
    float,
    None,
    "Adam beta_1 of both optimisers (default: the recipe's).",
    "optimisation",
    rule=UNIT_OPEN,
    from_recipe=True,
  ),
  _s("beta_2", float, 0.999, "Adam beta_2 of both optimisers.", "optimisation", rule=UNIT_OPEN),
  _s(
    "loss",
    str,
    None,
    "The objective: nonsaturating (the tutorial's), minimax, least_squares (LSGAN), hinge, wasserstein_gp "
    "(WGAN-GP; pair it with --d_steps=5 and no BatchNorm in the critic) (default: the recipe's).",
    "optimisation",
    choices=LOSSES,
    from_recipe=True,
  ),
  _s(
    "d_steps",
    int,
    None,
    "Discriminator updates per generator update, on the same real batch (default: the recipe's).",
    "optimisation",
    rule=POSITIVE,
    from_recipe=True,
  ),
  _s(
    "g_steps",
    int,
    None,
    "Generator updates per step; each one after the first draws fresh noise and meets the discriminator "
    "as the step's updates left it (default: the recipe's: 3 for an unconditional dcgan, 1 otherwise).",
    "optimisation",
    rule=POSITIVE,
    from_recipe=True,
  ),
  _s(
    "updates",
    str,
    None,
    "simultaneous: each step updates both networks from one pass (the tutorial's step); alternating: the "
    "generator's update follows the discriminator's, against its new weights (the Keras articles' loop). "
    "Default: the recipe's.",
    "optimisation",
    choices=UPDATES,
    from_recipe=True,
  ),
  _s(
    "gp_weight",
    float,
    None,
    "Weight of WGAN-GP's gradient penalty (default: 10 with --loss=wasserstein_gp, else 0: off).",
    "optimisation",
    rule=NON_NEGATIVE,
    from_recipe=True,
  ),
  _s(
    "r1_gamma",
    float,
    None,
    "Weight gamma of the R1 penalty gamma/2 ||grad D(x)||^2 on real images (0: off; default: the recipe's).",
    "optimisation",
    rule=NON_NEGATIVE,
    from_recipe=True,
  ),
  _s(
    "augment",
    str,
    "",
    "DiffAugment: transforms of every image the discriminator sees, real or generated, comma-separated from "
    "translation, cutout, color (Zhao et al., 2020); empty: none.",
    "optimisation",
    rule=(_augment_rule, f"empty or comma-separated from {', '.join(POLICIES)}"),
  ),
  _s(
    "top_k",
    float,
    1.0,
    "Top-k training: the generator learns from the share of each batch's fakes that the "
    "discriminator rates most real, shrinking from all of them by --top_k_decay an epoch down to this share "
    "(1: off; 0.5 as in Sinha et al., 2020).",
    "optimisation",
    rule=(UNIT_CLOSED_ABOVE[0], "in (0, 1] (1: off)"),
  ),
  _s(
    "top_k_decay",
    float,
    0.99,
    "Per-epoch factor of top-k training's share (0.99 as in Sinha et al.).",
    "optimisation",
    rule=UNIT_CLOSED_ABOVE,
  ),
  # Sampling.
  _s(
    "ema_decay",
    float,
    None,
    "Decay of the moving average (EMA) of the generator's weights, ramped up from 0 "
    "early in training; 0 makes the EMA the generator itself (default: the recipe's).",
    "sampling",
    rule=UNIT_OPEN,
    from_recipe=True,
  ),
  _s(
    "sample_from",
    str,
    "ema",
    "The generator that draws sample grids and is evaluated and exported: the EMA or the raw one.",
    "sampling",
    choices=("ema", "raw"),
  ),
  _s(
    "bn_stats",
    str,
    None,
    "BatchNorm statistics when sampling. standing: recomputed for the sampled weights "
    "from 4,096 draws; moving: the moving averages of training, as the tutorial (default: the recipe's).",
    "sampling",
    choices=("standing", "moving"),
    from_recipe=True,
  ),
  _s(
    "grid", int, 4, "Sample grids are grid x grid images (conditional: grid columns, a row per class).", "sampling", rule=POSITIVE
  ),
  _s("sample_every", int, 1, "Write a sample grid every this many epochs (and after the last).", "sampling", rule=POSITIVE),
  _s("progress_gif", bool, True, "At the end, assemble the sample grids into samples/progress.gif.", "sampling"),
  # Evaluation.
  _s(
    "eval_every",
    int,
    0,
    "Measure sample quality (FID, KID, ...) every this many epochs and after the last, "
    "into history.csv and TensorBoard, and keep the best checkpoint by FID in best/ (0: off). Needs a labelled "
    "dataset.",
    "evaluation",
    rule=NON_NEGATIVE,
  ),
  _s(
    "eval_num",
    int,
    5000,
    "Generated and real images per evaluation during training (at least 8).",
    "evaluation",
    rule=(lambda v: v >= 8, "at least 8 (the nearest-neighbour metrics need it)"),
  ),
  # Checkpoints and outputs.
  _s("checkpoint_every", int, 15, "Save a checkpoint every this many epochs (and after the last).", "outputs", rule=POSITIVE),
  _s(
    "checkpoint_every_minutes",
    float,
    30.0,
    "Also save a checkpoint when this many minutes have passed since the last one (0: off).",
    "outputs",
    rule=NON_NEGATIVE,
  ),
  _s("max_to_keep", int, 3, "How many checkpoints to keep.", "outputs", rule=POSITIVE),
  _s(
    "export_dir",
    str,
    None,
    "If set, export the generator as a SavedModel here at the end (a directory; an export already there is replaced whole).",
    "outputs",
    rule=(bool, "a directory path"),
  ),
  _s(
    "progress",
    bool,
    True,
    "Show the run's precision and speed settings at its start, then a progress line per epoch; "
    "--noprogress trains silently (config.json and history.csv record both).",
    "outputs",
  ),
  # Speed and distribution.
  _s(
    "precision",
    str,
    "auto",
    "Keras mixed-precision policy. auto: mixed_float16 on GPUs with tensor cores, "
    "mixed_bfloat16 on TPUs and, for dcgan, on CPUs where it measures fast (timed per machine, cached in "
    "~/.cache/gan_tf; a resume keeps its run's choice; float32 for --deterministic runs), float32 otherwise. "
    "float16 scales both losses (dynamic loss scaling).",
    "speed",
    choices=PRECISIONS,
  ),
  _s("jit_compile", str, "auto", "Compile the step with XLA. auto: on GPUs, not on CPUs.", "speed", choices=TRISTATE),
  _s(
    "steps_per_execution",
    int,
    0,
    "Steps per compiled call (0: auto, 8 on accelerators and for the mlp on CPU, else 1).",
    "speed",
    rule=(lambda v: v >= 0, "0 (auto) or positive"),
  ),
  _s(
    "fused_discriminator",
    str,
    "auto",
    "Call the discriminator once on real and fake together where that is "
    "equivalent (no BatchNorm in it). auto: on accelerators, not on CPUs.",
    "speed",
    choices=TRISTATE,
  ),
  _s(
    "strategy",
    str,
    "default",
    "tf.distribute strategy: default (one device), mirrored (all GPUs of this "
    "machine), multi_worker (several machines, described by TF_CONFIG), tpu. --batch_size is the global "
    "batch.",
    "speed",
    choices=STRATEGIES,
  ),
  _s(
    "deterministic",
    bool,
    False,
    "Make TensorFlow's ops deterministic, so runs with the same --seed give "
    "bitwise-identical weights on the same machine (slower on GPU).",
    "speed",
  ),
)
BY_NAME = {s.name: s for s in SETTINGS}
GROUPS = ("model", "data", "optimisation", "sampling", "evaluation", "outputs", "speed")
# Settings that decide the shapes of what is checkpointed: a run cannot resume
# with different values.
IDENTITY = (
  "arch",
  "latent_dim",
  "grid",
  "conditional",
  "spectral_norm",
  "pack",
  "pack_layout",
  "d_width",
  "g_width",
  "g_image_width",
  "g_upsample",
  "self_attention",
  "info_code",
  "image_size",
  "channels",
)
SPEED = ("precision", "jit_compile", "steps_per_execution", "fused_discriminator")
