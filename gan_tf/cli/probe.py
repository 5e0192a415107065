"""gan-tf COMMAND: measures again whether bfloat16 pays on this CPU, and caches a trusted answer.

--precision=auto reads the answer from the cache (~/.cache/gan_tf/device.json,
or $XDG_CACHE_HOME/gan_tf) and measures only when it holds no settled answer
for this CPU and TensorFlow version (a reading between 1x and 1.2x is
measured again by the next runs). Run this after changing the machine's load pattern,
or to see the reading:

  gan-tf probe
"""

from absl import flags

from gan_tf.cli import common
from gan_tf.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_integer("attempts", 3, "Readings to take at most, until one is steady enough to trust.")


def main(argv):
  if FLAGS.attempts < 1:
    raise UserError(f"--attempts={FLAGS.attempts} must be at least 1")
  common.import_tensorflow()
  from gan_tf import probe

  probe.forget()
  reading = probe.measure_until_trusted(attempts=FLAGS.attempts)
  if reading.clear:
    how = f"under {probe.CLEARLY_SLOWER}x in each, so clearly slower"
  else:
    how = f"spread {reading.spread:.0%}, at most {probe.MAX_SPREAD:.0%} trusted"
  summary = f"bfloat16 ran {reading.speedup:.2f}x float32 on this CPU ({reading.rounds} paired rounds, {how})"
  if not reading.trusted:
    raise UserError(f"{summary}: too unsteady to trust, nothing cached; run it again when the machine is quieter")
  probe.write_cache(reading)
  if reading.speedup >= probe.MIN_SPEEDUP:
    verdict = "--precision=auto now picks mixed_bfloat16 for the dcgan here"
  elif reading.settled:
    verdict = "--precision=auto now picks float32 for the dcgan here"
  else:
    verdict = (
      f"--precision=auto picks float32 for the dcgan here, and the next runs measure again until "
      f"{probe.SETTLE_READINGS} readings stay under {probe.MIN_SPEEDUP}x"
    )
  print(f"{summary}: {verdict}; cached in {probe.cache_path()}")
