"""A run's history.csv: one row per epoch; reading it back, checked; its plot (loss.png)."""

import csv
import io
from pathlib import Path

FIELDS = ["epoch", "step", "d_loss", "g_loss", "d_acc", "seconds", "images_per_sec"]


def read(path) -> tuple[list, str | None]:
  """The rows of a history.csv, and what is wrong with it (None: nothing).
  A damaged file's rows are those that read cleanly."""
  try:
    text = Path(path).read_bytes().decode("utf-8")
  except UnicodeDecodeError:
    return [], "not UTF-8 text"
  if "\x00" in text:
    return [], "NUL bytes"
  try:
    reader = csv.DictReader(io.StringIO(text))
    if not text.strip():
      return [], None
    if not reader.fieldnames or "epoch" not in reader.fieldnames:
      return [], "no epoch column in its header"
    rows, bad = [], 0
    for row in reader:
      if _clean(row):
        rows.append(row)
      else:
        bad += 1
  except csv.Error as e:
    return [], f"CSV: {e}"
  return rows, (f"{bad} unreadable row{'s' * (bad != 1)}" if bad else None)


def _clean(row) -> bool:
  if not (row.get("epoch") or "").isdigit() or None in row:
    return False
  try:
    for key, value in row.items():
      if key != "epoch" and value not in (None, ""):
        float(value)
  except ValueError:
    return False
  return True


def plot(rows) -> bytes:
  """PNG bytes of a history's losses (and FID, precision and recall if measured)."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  def series(key):
    points = [(int(r["epoch"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
    return [p[0] for p in points], [p[1] for p in points]

  measured = any(r.get("fid") not in (None, "") for r in rows)
  fig = Figure(figsize=(10, 4) if measured else (6, 4), dpi=100)
  FigureCanvasAgg(fig)
  axes = fig.subplots(1, 2 if measured else 1, squeeze=False)[0]
  for key, label in (("d_loss", "discriminator"), ("g_loss", "generator")):
    axes[0].plot(*series(key), label=label)
  axes[0].set(xlabel="epoch", ylabel="loss", title="Losses")
  axes[0].legend()
  if measured:
    axes[1].plot(*series("fid"), "o-", color="tab:red", label="FID")
    axes[1].set(xlabel="epoch", ylabel="FID (lower is better)", title="Sample quality")
    other = axes[1].twinx()
    for key, color in (("precision", "tab:green"), ("recall", "tab:purple")):
      other.plot(*series(key), "s--", color=color, label=key)
    other.set(ylabel="precision, recall", ylim=(0, 1))
    handles = axes[1].get_legend_handles_labels()
    more = other.get_legend_handles_labels()
    # Below the axes: inside, it hides the late points, where the curves end.
    axes[1].legend(
      handles[0] + more[0], handles[1] + more[1], loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3, frameon=False
    )
  for ax in axes:
    ax.grid(alpha=0.3)
  fig.tight_layout()
  out = io.BytesIO()
  fig.savefig(out, format="png")
  return out.getvalue()


def fmt(value):
  return f"{value:.6g}" if isinstance(value, float) else value
