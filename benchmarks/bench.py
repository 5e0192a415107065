"""Measures training speed: the tutorial-style reference step, the project's
step with its defaults and with each speed option, the articles' MLP loop,
the input pipeline and a whole epoch's overhead. Each measurement runs in a
process of its own, so its peak memory is its own.

  bin/bench --mnist_dir=DIR                      # everything (~25 min on 2 CPU cores)
  bin/bench --mnist_dir=DIR --arch=mlp --steps=10  # less
"""

import sys
from pathlib import Path

# From a checkout: this folder (measure.py) and the checkout's gan_tf.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import json  # noqa: E402
import subprocess  # noqa: E402

from absl import flags  # noqa: E402

from gan_tf.cli import common  # noqa: E402
from gan_tf.errors import UserError  # noqa: E402

flags.DEFINE_string("mnist_dir", None, "A directory with t10k-images-idx3-ubyte[.gz]: the real-data measurements.")
flags.DEFINE_multi_enum("arch", ["dcgan", "mlp"], ["dcgan", "mlp"], "Architectures to measure.")
flags.DEFINE_integer("steps", 20, "Timed steps per measurement (after warm-up).")
flags.DEFINE_integer(
  "rounds",
  3,
  "Each timing is repeated this many times, interleaved with the others; the best "
  "counts (shared machines are noisy, and interference only ever slows a run down).",
)
flags.DEFINE_integer("batch_size", 256, "Batch size of the step measurements.")
flags.DEFINE_string("json", None, "Also write the results here.")
flags.DEFINE_string("one", None, "(internal) run one measurement, given as JSON, and print its result.")
flags.mark_flag_as_required("mnist_dir")
FLAGS = flags.FLAGS

# Epochs whose overhead is measured. mlp: a checkpoint every 15 epochs
# (--checkpoint_every) falls in the window at its share, and the loss plot
# (redrawn at most every 30 s) is redrawn once or more (more often per epoch
# than in a run, since the interleaved measurements double the time). dcgan:
# 20-30 s epochs; the share of a checkpoint (~0.3 s) every 15 is ~0.1%.
EPOCHS = {"dcgan": 2, "mlp": 30}

OPTIONS = [  # (name, Config fields): the project's step with one option changed from its defaults.
  ("project defaults", {}),
  ("--precision=float32", {"precision": "float32"}),
  ("--fused_discriminator=true", {"fused_discriminator": "true"}),
  ("--jit_compile=true", {"jit_compile": "true"}),
  ("--steps_per_execution=8", {"steps_per_execution": 8}),
  ("--precision=mixed_bfloat16", {"precision": "mixed_bfloat16"}),
  ("--precision=mixed_float16", {"precision": "mixed_float16"}),
]


def measure(spec):
  """Runs in the child process."""
  import tempfile

  import measure as bench

  kind, arch = spec["kind"], spec.get("arch")
  if kind == "matmul":
    result = {"flops": bench.matmul_flops_per_second()}
  elif kind == "reference":
    result = {"rate": bench.reference_step_rate(arch, spec["batch_size"], spec["steps"]), "precision": "float32"}
  elif kind == "articles":
    result = {"rate": bench.articles_mlp_iterations_per_second(spec["steps"])}
  elif kind == "project":
    result = {}
    if spec.get("time", True):
      result["rate"] = bench.project_rate(arch, spec["batch_size"], spec["steps"], **spec["options"])
    result["precision"], result["why"] = bench.precision_of(arch, spec["batch_size"], **spec["options"])
    if spec.get("check"):
      result["losses"] = bench.losses_after(arch, 20, FLAGS.mnist_dir, **spec["options"])
  elif kind == "steps_per_call":
    median, low, high = bench.steps_per_call_ratio(arch, spec["batch_size"], spec["steps"])
    result = {"ratio": median, "low": low, "high": high}
  elif kind == "pipeline":
    result = {"ratio": bench.pipeline_ratio(arch, spec["batch_size"], spec["steps"], FLAGS.mnist_dir)}
  elif kind == "epoch":
    with tempfile.TemporaryDirectory() as tmp:
      epoch, compute, saves, parts = bench.epoch_overhead(arch, FLAGS.mnist_dir, tmp, spec["epochs"])
    result = {"epoch": epoch, "compute": compute, "saves": saves, "parts": parts}
  result["peak_rss_mb"] = bench.peak_rss_mb()
  return result


def child(spec):
  cmd = [sys.executable, __file__, f"--one={json.dumps(spec)}", f"--mnist_dir={FLAGS.mnist_dir}"]
  out = subprocess.run(cmd, capture_output=True, text=True)
  if out.returncode:
    raise UserError(f"measurement {spec} failed: {out.stderr.strip().splitlines()[-1:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def best_of_rounds(specs):
  """Runs every spec FLAGS.rounds times, interleaved; keeps the best rate
  (and the first round's loss check, and the largest peak memory)."""
  results = [None] * len(specs)
  for round_ in range(FLAGS.rounds):
    for i, spec in enumerate(specs):
      r = child({**spec, "check": spec.get("check", False) and round_ == 0})
      if results[i] is None:
        results[i] = r
      else:
        if "rate" in r:
          results[i]["rate"] = max(results[i]["rate"], r["rate"])
        results[i]["peak_rss_mb"] = max(results[i]["peak_rss_mb"], r["peak_rss_mb"])
  return results


def _deviation(got, reference):
  if got is None:
    return ""
  return f"{max(abs(got[k] - reference[k]) / abs(reference[k]) for k in ('d_loss', 'g_loss')):.1%}"


def main(argv):
  common.import_tensorflow()
  if FLAGS.one:
    print(json.dumps(measure(json.loads(FLAGS.one))))
    return
  import measure as bench
  import tensorflow as tf

  gpu = bool(tf.config.list_physical_devices("GPU"))
  results = {"matmul": max((child({"kind": "matmul"}) for _ in range(FLAGS.rounds)), key=lambda r: r["flops"])}
  print(f"float32 matmul (2048x2048): {results['matmul']['flops'] / 1e9:.1f} GFLOP/s")
  for arch in FLAGS.arch:
    flops = bench.step_flops_per_image(arch)
    print(
      f"\n{arch}: forward G {flops['g_forward'] / 1e6:.1f} MFLOP, D {flops['d_forward'] / 1e6:.1f} MFLOP per image; "
      f"step 3G + 5D = {flops['step'] / 1e6:.1f} MFLOP per image; batch {FLAGS.batch_size}"
    )
    base = dict(arch=arch, batch_size=FLAGS.batch_size, steps=FLAGS.steps)
    names = ["reference (tutorial-style step)"]
    specs = [{**base, "kind": "reference"}]
    for name, options in OPTIONS:
      # float16 is emulated on a CPU (hundreds of times slower): checked, not timed.
      timed = not (options.get("precision") == "mixed_float16" and not gpu)
      names.append(name)
      specs.append({**base, "kind": "project", "options": options, "check": True, "time": timed})
    measured = best_of_rounds(specs)
    # The loss check's reference: the project's step computed as the tutorial does (float32, two calls).
    reference_losses = child(
      {
        **base,
        "kind": "project",
        "check": True,
        "time": False,
        "options": {"precision": "float32", "jit_compile": "false", "fused_discriminator": "false"},
      }
    )["losses"]
    rows = [(n, r, r.get("losses")) for n, r in zip(names, measured)]
    ref_rate = rows[0][1]["rate"]
    print(
      "| step | precision | images/s | vs reference | GFLOP/s | of matmul rate | peak RSS MB "
      "| losses after 20 steps vs float32 (batch 16) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r, got in rows:
      if "rate" not in r:
        print(
          f"| {name} | {r['precision']} | not timed (emulated on CPU) | | | | {r['peak_rss_mb']:.0f} | "
          f"{_deviation(got, reference_losses)} |"
        )
        continue
      gflops = r["rate"] * flops["step"] / 1e9
      print(
        f"| {name} | {r['precision']} | {r['rate']:.0f} | {r['rate'] / ref_rate:.2f}x | {gflops:.1f} | "
        f"{gflops * 1e9 / results['matmul']['flops']:.0%} | {r['peak_rss_mb']:.0f} | "
        f"{_deviation(got, reference_losses)} |"
      )
    print(f"project defaults' precision: {rows[1][1]['precision']} ({rows[1][1]['why']})")
    pipeline = child({**base, "kind": "pipeline"})
    print(
      f"input pipeline: real data runs at {pipeline['ratio']:.1%} of the constant-batch rate "
      f"(the same step, fed from each in turn; median of 15)"
    )
    if arch == "mlp":
      articles, compiled, single = best_of_rounds(
        [
          {"kind": "articles", "steps": 5 * FLAGS.steps},
          {**base, "batch_size": 32, "steps": 5 * FLAGS.steps, "kind": "project", "options": {}},
          {**base, "batch_size": 32, "steps": 5 * FLAGS.steps, "kind": "project", "options": {"steps_per_execution": 1}},
        ]
      )
      print(
        f"articles' loop at batch 32 (predict + 3 train_on_batch): {articles['rate']:.1f} iterations/s; "
        f"project defaults at batch 32: {compiled['rate'] / 32:.1f}/s ({compiled['rate'] / 32 / articles['rate']:.1f}x), "
        f"with 1 step per call {single['rate'] / 32:.1f}/s ({single['rate'] / 32 / articles['rate']:.1f}x)"
      )
      results["mlp_articles"] = {"articles": articles, "project": compiled, "steps_per_execution_1": single}
      paired = child({**base, "steps": 4 * FLAGS.steps, "kind": "steps_per_call"})
      print(
        f"8 steps per call against 1 at batch {FLAGS.batch_size}, the same compiled step in one process, "
        f"in turn: {paired['ratio']:.3f}x (median of 15; lowest {paired['low']:.3f}x, highest {paired['high']:.3f}x)"
      )
      results["mlp_steps_per_call"] = paired
    # Each run interleaves epochs and compute in one process (see
    # bench.epoch_overhead); the runs are pooled, since a short mlp epoch
    # still moves by a few points from run to run.
    runs = [child({"kind": "epoch", "arch": arch, "epochs": EPOCHS[arch]}) for _ in range(FLAGS.rounds)]
    epoch = {
      "epoch": sum(r["epoch"] for r in runs),
      "compute": sum(r["compute"] for r in runs),
      "saves": sum(r["saves"] for r in runs),
      "runs": runs,
      "parts": {name: sum(r["parts"].get(name, 0.0) for r in runs) for name in runs[0]["parts"]},
    }
    saves = f", {epoch['saves']} checkpoint{'s' * (epoch['saves'] != 1)} included" if epoch["saves"] else ""
    each = ", ".join(f"{r['epoch'] / r['compute'] - 1:+.1%}" for r in runs)
    print(
      f"{len(runs)} x {EPOCHS[arch]} epochs of train() on 10,000 digits: {epoch['epoch']:.2f} s{saves}, against "
      f"{epoch['compute']:.2f} s of step compute, measured beside each epoch: "
      f"{epoch['epoch'] / epoch['compute'] - 1:+.1%} overhead (each run: {each})"
    )
    parts = sorted(epoch["parts"].items(), key=lambda kv: -kv[1])
    rest = (epoch["epoch"] - epoch["compute"] - sum(epoch["parts"].values())) / epoch["compute"]
    print(
      "  of which: "
      + ", ".join(f"{name} {seconds / epoch['compute']:.1%}" for name, seconds in parts)
      + f"; the rest (input, loop) {rest:+.1%}"
    )
    results[arch] = {
      "flops": flops,
      "rows": [(n, r) for n, r, _ in rows],
      "epoch": epoch,
      "pipeline": pipeline,
      "reference_losses": reference_losses,
    }
  if FLAGS.json:
    from gan_tf.fileio import atomic_write_text

    atomic_write_text(FLAGS.json, json.dumps(results, indent=2))


if __name__ == "__main__":
  common.run(sys.modules[__name__], sys.argv[1:], "bench")
