"""The bfloat16 probe: a paired median that load cannot fool, and no cache of readings it cannot trust."""

import json

import numpy as np
import pytest

from gan_tf import probe

TRUE_SPEEDUP = 1.6  # Of the simulated CPU below: bfloat16 takes 1/1.6 of float32's time.


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  return tmp_path


def timers(load=0.0, factor=5.0, seed=0):
  """float32 and bfloat16 timers of a CPU on which bfloat16 runs TRUE_SPEEDUP
  times faster; `load` is the share of calls another tenant slows, each by a
  random factor up to `factor` (bursts that hit one precision and not the other)."""
  rng = np.random.default_rng(seed)

  def timer(seconds):
    return lambda: seconds * (rng.uniform(1.5, factor) if rng.random() < load else 1.0)

  return timer(1.0), timer(1.0 / TRUE_SPEEDUP)


def test_paired_median_reads_through_bursts_of_load():
  quiet = probe.paired_reading(*timers())
  assert quiet.speedup == pytest.approx(TRUE_SPEEDUP) and quiet.spread == 0 and quiet.trusted
  # A quarter of all calls slowed up to 5x: the best-of-each that was used
  # before could land anywhere; the median of paired ratios stays put.
  loaded = probe.paired_reading(*timers(load=0.25, seed=3))
  assert loaded.speedup == pytest.approx(TRUE_SPEEDUP, rel=0.05)


def test_a_reading_under_load_does_not_stick(cache_dir):
  calls = []

  def measure(load):
    def reading():
      calls.append(load)
      return probe.paired_reading(*timers(load=load, seed=len(calls)))

    return reading

  # Under heavy load the ratios spread wide: measured again (3 attempts),
  # then float32 for this run only, and nothing cached.
  choice = probe.choose(measure(0.6))
  assert calls == [0.6] * probe.ATTEMPTS
  assert choice.precision == "float32" and "measured again next run" in choice.reason
  assert probe.read_cache() == {} and not (cache_dir / "gan_tf" / "device.json").exists()
  # The next run, on a quiet machine, measures and gets bfloat16, and caches it.
  choice = probe.choose(measure(0.0))
  assert choice.precision == "mixed_bfloat16" and "measured now" in choice.reason
  entry = json.loads((cache_dir / "gan_tf" / "device.json").read_text())[probe.device_key()]
  assert entry["speedup"] == pytest.approx(TRUE_SPEEDUP) and entry["method"] == probe.METHOD
  assert entry["rounds"] == probe.ROUNDS and entry["measured"][:4].isdigit()
  # And every run after reads it back, with its date.
  calls.clear()
  choice = probe.choose(measure(0.6))
  assert calls == [] and choice.precision == "mixed_bfloat16"
  assert f"cached {entry['measured'][:10]}" in choice.reason


def test_a_training_run_stops_measuring_after_its_budget(monkeypatch):
  clock = [0.0]
  monkeypatch.setattr(probe.time, "monotonic", lambda: clock[0])

  def slow_unsteady():  # Each attempt on a loaded machine takes 40 s and spreads wide.
    clock[0] += 40.0
    return probe.paired_reading(*timers(load=0.6, seed=int(clock[0])))

  choice = probe.choose(slow_unsteady)
  assert clock[0] == 40.0 and choice.precision == "float32" and "measured again next run" in choice.reason
  # `gan-tf probe` has no budget: it takes every attempt it is given.
  clock[0] = 0.0
  probe.measure_until_trusted(slow_unsteady, attempts=3)
  assert clock[0] == 120.0


def test_a_cached_number_of_an_older_version_is_measured_again(cache_dir):
  # Older versions cached a bare ratio however it was measured (1.08x under load).
  (cache_dir / "gan_tf").mkdir()
  (cache_dir / "gan_tf" / "device.json").write_text(json.dumps({probe.device_key(): 1.08}))
  assert probe.read_cache() == {}
  choice = probe.choose(lambda: probe.paired_reading(*timers()))
  assert choice.precision == "mixed_bfloat16" and "measured now" in choice.reason
  (cache_dir / "gan_tf" / "device.json").write_text("not json")  # A damaged cache is measured again too.
  assert "measured now" in probe.choose(lambda: probe.paired_reading(*timers())).reason


def test_steady_load_that_hides_a_speedup_does_not_stick():
  # Another tenant's steady load slowed bfloat16's convolutions more than
  # float32's: a steady (trusted) 1.15x on a CPU that runs it 1.6x quiet.
  calls = []

  def measure(speedup):
    return lambda: calls.append(speedup) or probe.paired_reading(lambda: 1.0, lambda: 1.0 / speedup)

  choice = probe.choose(measure(1.15))
  assert choice.precision == "float32" and "1.15x" in choice.reason and "measured again next run" in choice.reason
  assert not probe.read_cache()[probe.device_key()].settled
  # The next run, quiet, measures again and gets bfloat16, cached for good.
  choice = probe.choose(measure(TRUE_SPEEDUP))
  assert choice.precision == "mixed_bfloat16" and calls == [1.15, TRUE_SPEEDUP]
  assert probe.choose(measure(1.15)).precision == "mixed_bfloat16" and len(calls) == 2


def test_a_cpu_where_bfloat16_barely_pays_settles_after_three_runs():
  calls = []

  def measure(speedup):
    return lambda: calls.append(speedup) or probe.paired_reading(lambda: 1.0, lambda: 1.0 / speedup)

  reasons = [probe.choose(measure(s)).reason for s in (1.1, 1.12, 1.05)]
  assert calls == [1.1, 1.12, 1.05]
  assert "reading 1 of 3" in reasons[0] and "reading 2 of 3" in reasons[1]
  cached = probe.read_cache()[probe.device_key()]
  assert cached.settled and cached.readings == 3 and cached.speedup == pytest.approx(1.12)  # The fastest.
  choice = probe.choose(measure(1.1))
  assert choice.precision == "float32" and len(calls) == 3 and "cached" in choice.reason


def test_slow_bfloat16_keeps_float32_at_once_and_forget_measures_again():
  emulated = lambda: probe.paired_reading(lambda: 1.0, lambda: 1.0 / 0.62)  # noqa: E731
  choice = probe.choose(emulated)
  assert choice.precision == "float32" and "0.62x" in choice.reason and "under 1.2x" in choice.reason
  assert probe.read_cache()[probe.device_key()].settled
  probe.forget()
  assert probe.read_cache() == {}


def test_emulated_bfloat16_stops_the_reading_early_and_settles_on_float32():
  calls = []

  def timer(seconds):
    return lambda: calls.append(seconds) or seconds

  # bfloat16 at a tenth of float32's speed, as where it is emulated: three rounds are enough.
  reading = probe.paired_reading(timer(1.0), timer(10.0))
  assert reading.clear and reading.trusted and reading.settled
  assert reading.rounds == probe.CLEAR_ROUNDS and len(calls) == 2 * probe.CLEAR_ROUNDS
  assert reading.speedup == pytest.approx(0.1)
  choice = probe.choose(lambda: probe.paired_reading(timer(1.0), timer(10.0)))
  assert choice.precision == "float32" and "0.10x" in choice.reason
  assert probe.read_cache()[probe.device_key()].clear
  # A burst of load on float32 in the third round, and the reading takes all its rounds.
  float32_times = iter([1.0, 1.0, 6.0] + [1.0] * probe.ROUNDS)
  reading = probe.paired_reading(lambda: next(float32_times), timer(10.0))
  assert not reading.clear and reading.rounds == probe.ROUNDS


def test_the_real_measurement(cache_dir):
  reading = probe.measure_bfloat16_speedup(batch=4, rounds=3)
  assert reading.rounds == 3 and 0.05 < reading.speedup < 20 and reading.spread >= 0
  probe.write_cache(reading) if reading.trusted else None
  assert (probe.device_key() in probe.read_cache()) == reading.trusted


def test_the_probe_command_measures_again(cache_dir):
  import os
  import subprocess
  import sys

  from conftest import ROOT

  (cache_dir / "gan_tf").mkdir()
  (cache_dir / "gan_tf" / "device.json").write_text(json.dumps({"another CPU": {"speedup": 1.0}}))
  env = {**os.environ, "XDG_CACHE_HOME": str(cache_dir)}
  command = [sys.executable, str(ROOT / "bin" / "probe"), "--attempts=1"]
  out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
  cache = json.loads((cache_dir / "gan_tf" / "device.json").read_text())
  if out.returncode == 0:  # A steady reading: printed, and cached with when and how.
    assert "bfloat16 ran" in out.stdout and "paired rounds" in out.stdout and str(cache_dir) in out.stdout
    (entry,) = cache.values()
    assert entry["method"] == probe.METHOD and (entry["spread"] <= probe.MAX_SPREAD or entry["clear"])
  else:  # A busy machine: one line, and nothing cached.
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1 and "too unsteady" in out.stderr
    assert cache == {}
