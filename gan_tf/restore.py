"""A trained generator, restored from a run directory's checkpoints (for export, evaluation and sampling)."""

from pathlib import Path

from gan_tf import rundir
from gan_tf.checkpoints import Checkpoints, checkpoint_prefixes
from gan_tf.errors import UserError
from gan_tf.gan import GAN


def restore_generator(run_dir, sample_from=None, bn_stats=None, best=False):
  """The sampling generator of the latest checkpoint in `run_dir` (or of its
  best by FID) (see `sampling.Sampler`; None takes the run's settings), and
  the run's config. A conditional generator takes `[noise, labels]`. Reads
  only: the run directory is left as it was."""
  run_dir = Path(run_dir)
  config = rundir.load_config(run_dir)
  if config is None or not checkpoint_prefixes(run_dir):
    raise UserError(f"{run_dir} holds no checkpoint of a gan-tf run; train one first")
  source = run_dir / rundir.BEST_DIR if best else run_dir
  if best and not checkpoint_prefixes(source):
    raise UserError(f"{run_dir} has no best checkpoint; train with @eval_every=N to keep one")
  gan = GAN(config.resolved(), rundir.image_shape(run_dir), num_classes=rundir.num_classes(run_dir))
  Checkpoints(gan.checkpoint(), source, read_only=True).restore()
  return gan.sampler(sample_from, bn_stats), config
