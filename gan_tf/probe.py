"""Does bfloat16 pay on this CPU? A paired timing, and a cache of trusted answers.

CPUs with the same instruction set differ (bfloat16 ran the dcgan's step
faster than float32 on one and slower on another), so it is measured: the
dcgan's own training step in each precision (its two costliest convolutions
alone read 1.2-1.4x on a CPU where the whole step ran 1.6x). A shared machine's
load comes and goes within seconds, so the two precisions are timed in
turn, round after round (which goes first alternates), and the verdict is
the median of the per-round ratios. A reading whose ratios spread too wide
was taken under changing load: it is measured again, and if it stays
untrusted, this run uses float32 and nothing is cached. A trusted reading is
cached per CPU model and TensorFlow version, with when and how it was taken.

Steady load can still hide a speedup: on one CPU, quiet readings of 2.03x
and a steady one under another tenant's load of 1.15x. So only a clear
answer settles the choice at once: bfloat16 at least MIN_SPEEDUP times as
fast, or slower than float32 outright. A reading in between keeps float32
for the run and is measured again by the next runs, until SETTLE_READINGS
readings have stayed under MIN_SPEEDUP; the fastest of them counts, since
load slows a precision down and never speeds it up.

Where bfloat16 is emulated it can run at a tenth of float32's speed, and
fifteen rounds of it would take minutes. So a reading stops after
CLEAR_ROUNDS rounds if bfloat16 took over twice float32's time in every one
of them: load that comes and goes cannot do that to both orders of a pair
alike, and no speedup could hide under it.
"""

import dataclasses
import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

# bfloat16 must win clearly: it rounds more, and a step at BATCH gains less than at 256.
MIN_SPEEDUP = 1.2
# Interquartile range of the per-round ratios over their median, at most.
MAX_SPREAD = 0.15
# Below this, bfloat16 is slower outright (emulated: 0.62x on one CPU), which load does not make of a 2x CPU.
NO_GAIN = 1.0
SETTLE_READINGS = 3
ROUNDS = 15
# bfloat16 under this in every one of the first CLEAR_ROUNDS rounds is a clear "slower": the reading stops there.
CLEARLY_SLOWER = 0.5
CLEAR_ROUNDS = 3
ATTEMPTS = 3
# A training run starts no further attempt after this many seconds: a quiet
# machine needs one attempt of about 12 s, and one busy enough to need more
# is measured again by the next run anyway.
RUN_BUDGET = 30.0
BATCH = 64  # A quarter of the dcgan's batch: about 6 s for both precisions' rounds on 2 cores.
METHOD = f"median of {ROUNDS} paired rounds, float32 time over bfloat16 time of the dcgan's training step at batch {BATCH}"


@dataclasses.dataclass(frozen=True)
class Reading:
  speedup: float  # Median of the rounds' float32/bfloat16 time ratios.
  spread: float  # Their interquartile range over the median.
  rounds: int
  measured: str  # ISO 8601, UTC.
  method: str = METHOD
  readings: int = 1  # Trusted readings taken on separate runs; this is the fastest.
  clear: bool = False  # Stopped early: bfloat16 under CLEARLY_SLOWER in every round.

  @property
  def trusted(self) -> bool:
    return self.spread <= MAX_SPREAD or self.clear

  @property
  def settled(self) -> bool:
    """A choice no later reading is taken for (until `gan-tf probe`)."""
    return self.speedup >= MIN_SPEEDUP or self.speedup < NO_GAIN or self.readings >= SETTLE_READINGS

  @property
  def date(self) -> str:
    return self.measured[:10]


@dataclasses.dataclass(frozen=True)
class Choice:
  precision: str  # "mixed_bfloat16" or "float32".
  reason: str  # One clause: why.


def cache_path() -> Path:
  return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gan_tf" / "device.json"


def device_key() -> str:
  import tensorflow as tf

  return f"{_cpu_model()} | {platform.machine()} | {os.cpu_count()} cores | TensorFlow {tf.__version__}"


def choose(measure=None) -> Choice:
  """mixed_bfloat16 or float32 for the dcgan on this CPU, and why: from the
  cache when it holds a settled reading, else measured now."""
  cached = read_cache().get(device_key())
  if cached is not None and cached.settled:
    return _verdict(cached, f"cached {cached.date}")
  reading = measure_until_trusted(measure, budget=RUN_BUDGET)
  if not reading.trusted:
    return Choice(
      "float32",
      f"bfloat16 vs float32 could not be measured steadily (ratios spread {reading.spread:.0%}, "
      f"median {reading.speedup:.2f}x): float32 for this run, measured again next run",
    )
  if cached is not None:  # Earlier runs' unsettled readings: the fastest, one reading more.
    reading = dataclasses.replace(max(reading, cached, key=lambda r: r.speedup), readings=cached.readings + 1)
  write_cache(reading)
  return _verdict(reading, "measured now")


def _verdict(reading: Reading, when: str) -> Choice:
  again = "gan-tf probe measures again"
  if reading.speedup >= MIN_SPEEDUP:
    return Choice("mixed_bfloat16", f"bfloat16 ran {reading.speedup:.2f}x float32 on this CPU ({when}; {again})")
  if not reading.settled:
    again = f"reading {reading.readings} of {SETTLE_READINGS}: measured again next run, in case load hid a speedup"
  return Choice("float32", f"bfloat16 ran {reading.speedup:.2f}x float32 on this CPU, under {MIN_SPEEDUP}x ({when}; {again})")


def measure_until_trusted(measure=None, attempts=ATTEMPTS, budget=None) -> Reading:
  """Up to `attempts` readings, none begun after `budget` seconds; the first
  trusted one, else the steadiest."""
  start = time.monotonic()
  if measure is None:  # The step's two builds, once for all the attempts.
    timers = step_timers()
    measure = lambda: paired_reading(*timers)  # noqa: E731
  readings = []
  for _ in range(attempts):
    readings.append(measure())
    if readings[-1].trusted or (budget is not None and time.monotonic() - start > budget):
      break
  return min(readings, key=lambda r: r.spread)  # A trusted one is the last, and the steadiest.


def paired_reading(time_float32, time_bfloat16, rounds=ROUNDS) -> Reading:
  """Times the two in turn, `rounds` times, alternating which goes first;
  fewer when the first CLEAR_ROUNDS rounds all find bfloat16 clearly slower."""
  ratios = []
  for i in range(rounds):
    if i % 2:
      b = time_bfloat16()
      f = time_float32()
    else:
      f = time_float32()
      b = time_bfloat16()
    ratios.append(f / b)
    clear = len(ratios) == CLEAR_ROUNDS < rounds and max(ratios) < CLEARLY_SLOWER
    if clear:
      break
  median = float(np.median(ratios))
  q25, q75 = np.percentile(ratios, [25, 75])
  now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
  return Reading(median, float((q75 - q25) / median), len(ratios), now, clear=clear)


def measure_bfloat16_speedup(batch=BATCH, rounds=ROUNDS) -> Reading:
  return paired_reading(*step_timers(batch), rounds)


def step_timers(batch=BATCH):
  """Timers of the dcgan's own training step (its default recipe, on one
  constant batch), in float32 and in bfloat16."""
  import tensorflow as tf

  from gan_tf.config import Config
  from gan_tf.gan import GAN

  images = tf.random.stateless_uniform([batch, 28, 28, 1], seed=[0, 1], minval=-1, maxval=1)
  batches = iter(tf.data.Dataset.from_tensors((images, tf.zeros([batch], tf.int32))).repeat())
  one = tf.constant(1)

  def timer(precision):
    cpu = dict(jit_compile="false", steps_per_execution=1, fused_discriminator="false")
    gan = GAN(Config(arch="dcgan", batch_size=batch, precision=precision, progress=False, **cpu).resolved(), (28, 28, 1))

    def seconds():
      start = time.perf_counter()
      tf.nest.map_structure(lambda t: t.numpy(), gan.train_steps(batches, one))  # Waits for the step.
      return time.perf_counter() - start

    seconds()  # Compiles.
    return seconds

  return timer("float32"), timer("mixed_bfloat16")


def read_cache() -> dict:
  """Trusted readings by device key; entries of another form or method (older
  versions cached a bare number, or timed two convolutions) count as absent."""
  try:
    raw = json.loads(cache_path().read_text())
  except (OSError, ValueError):
    return {}
  readings = {}
  for key, entry in raw.items() if isinstance(raw, dict) else ():
    try:
      reading = Reading(**entry)
    except TypeError:
      continue
    if reading.trusted and reading.method == METHOD:
      readings[key] = reading
  return readings


def write_cache(reading: Reading) -> None:
  from gan_tf.fileio import atomic_write_text

  entries = {key: dataclasses.asdict(r) for key, r in read_cache().items()}
  entries[device_key()] = dataclasses.asdict(reading)
  try:
    cache_path().parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache_path(), json.dumps(entries, indent=2, sort_keys=True) + "\n")
  except OSError:
    pass  # An unwritable cache only means measuring again next time.


def forget() -> None:
  """Drops this device's cached reading, so the next choice measures."""
  entries = {key: dataclasses.asdict(r) for key, r in read_cache().items() if key != device_key()}
  if cache_path().exists():
    from gan_tf.fileio import atomic_write_text

    atomic_write_text(cache_path(), json.dumps(entries, indent=2, sort_keys=True) + "\n")


def _cpu_model() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown CPU"
