"""Recipes: the values a run takes for the settings it leaves unset.

"original" is the source each architecture comes from: the TensorFlow DCGAN
tutorial (Adam 1e-4 for both networks, samples from the raw generator with
BatchNorm's moving averages, both networks updated from one pass) and the
Keras articles' MLP GAN (Adam 2e-4, beta_1 0.5, likewise sampled, the
generator updated after the discriminator, against its new weights).
"gan-tf" is this project's; docs/recipes.md gives the measurement behind
each choice. A user's own networks (`arch=MODULE:FUNCTION`) take the
"custom" rows: the DCGAN paper's Adam(2e-4, 0.5), and for gan-tf the
sampling that helped every built-in architecture.
"""

_ORIGINAL = dict(
  loss="nonsaturating",
  batch_size=256,
  g_lr=2e-4,
  d_lr=2e-4,
  beta_1=0.5,
  ema_decay=0.0,
  bn_stats="moving",
  d_steps=1,
  g_steps=1,
  r1_gamma=0.0,
  updates="simultaneous",
  pack=1,
  d_dropout=0.0,  # Only the dcgan's discriminator has dropout (DROPOUT_ARCHS).
  info_code=0,
)
_GAN_TF = dict(_ORIGINAL, ema_decay=0.999, bn_stats="standing")
# The TensorFlow DCGAN tutorial's networks.
_TUTORIAL_NETWORKS = dict(d_dropout=0.3, d_width=64, g_width=64, g_image_width=0, g_upsample="transpose", self_attention=False)
RECIPES = {
  ("dcgan", "original"): dict(_ORIGINAL, **_TUTORIAL_NETWORKS, g_lr=1e-4, d_lr=1e-4, beta_1=0.9),
  ("mlp", "original"): dict(_ORIGINAL, batch_size=32, updates="alternating", d_width=512, g_width=256),
  ("custom", "original"): _ORIGINAL,
  ("dcgan", "gan-tf"): dict(
    _GAN_TF,
    **_TUTORIAL_NETWORKS,
    g_lr=4e-4,
    d_lr=4e-4,
    beta_1=0.0,
    d_steps=3,
    g_steps=3,
    pack=2,
  )
  # No dropout in the discriminator, both networks see the whole digit
  # (fewer malformed draws), the generator draws the image from maps at its
  # own size, and InfoGAN's code gives each kind of digit its own part of the
  # noise (fewer draws between two digits): docs/recipes.md.
  | dict(d_dropout=0.0, self_attention=True, g_image_width=32, info_code=10),
  # The mlp learns from many small steps: at 256 images a step it collapsed.
  ("mlp", "gan-tf"): dict(_GAN_TF, batch_size=32, updates="alternating", d_width=512, g_width=256),
  ("custom", "gan-tf"): _GAN_TF,
}
# What a conditional run changes in a recipe: gan-tf adds R1 (without it a
# conditional dcgan collapsed to one image per class), with the beta_1, the
# updates per step and the original recipe's networks it was measured with
# (their classes come from the labels, not from a code).
CONDITIONAL = {"gan-tf": dict(beta_1=0.5, d_steps=1, g_steps=1, r1_gamma=1.0, pack=1)}
# The settings that shape a built-in pair's networks (a source's row holds those its architecture has).
NETWORK_SETTINGS = ("d_dropout", "d_width", "g_width", "g_image_width", "g_upsample", "self_attention", "info_code")
CONDITIONAL_FROM_ORIGINAL = NETWORK_SETTINGS
# The built-in architectures whose discriminator has dropout (`d_dropout`),
# and whose networks are convolutional: their generator doubles its maps
# (`g_upsample`) and both can attend over them (`self_attention`).
DROPOUT_ARCHS = ("dcgan",)
CONV_ARCHS = ("dcgan",)


def is_custom(arch: str) -> bool:
  return ":" in arch


def _key(arch: str) -> str:
  return "custom" if is_custom(arch) else arch


def source(arch: str) -> dict:
  """The original recipe's row for this architecture ({} for one that is none)."""
  return RECIPES.get((_key(arch), "original"), {})


def values(arch: str, recipe: str, conditional: bool) -> dict:
  """The recipe's value of every setting it fills for this architecture."""
  row = RECIPES[_key(arch), recipe]
  if not conditional or recipe not in CONDITIONAL:
    return dict(row)
  original = source(arch)
  return {**row, **CONDITIONAL[recipe], **{name: original[name] for name in CONDITIONAL_FROM_ORIGINAL if name in original}}
