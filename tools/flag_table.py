#!/usr/bin/env python3
"""Prints the flag reference of docs/usage.md from gan_tf/settings.py, or with --write puts it in place.

python tools/flag_table.py --write
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_tf import settings  # noqa: E402

BEGIN, END = "<!-- flags: begin (tools/flag_table.py) -->", "<!-- flags: end -->"
USAGE = ROOT / "docs" / "usage.md"


def _default(s):
  if s.default is None:
    return "the recipe's" if s.from_recipe else "unset"
  if isinstance(s.default, bool):
    return "on" if s.default else "off"
  return f"`{s.default}`"


def table() -> str:
  lines = [BEGIN]
  for group in settings.GROUPS:
    lines += ["", f"**{group.capitalize()}**", "", "| flag | default | |", "|---|---|---|"]
    for s in settings.SETTINGS:
      if s.group == group:
        flag = f"`--{s.name}`" if s.type is not bool else f"`--[no]{s.name}`"
        text = s.help + (f" One of: {', '.join(map(str, s.choices))}." if s.choices else "")
        lines.append(f"| {flag} | {_default(s)} | {text.replace('|', '/')} |")
  lines += ["", END]
  return "\n".join(lines)


def current(text: str) -> str:
  """`text` (usage.md) with its flag reference replaced by the one settings.py gives."""
  start, end = text.index(BEGIN), text.index(END) + len(END)
  return text[:start] + table() + text[end:]


if __name__ == "__main__":
  if "--write" in sys.argv:
    USAGE.write_text(current(USAGE.read_text()))
  else:
    print(table())
