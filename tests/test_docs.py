"""The documents stay true to the code: the flag reference is settings.py's, and no path of a development machine."""

import importlib.util
import re

from conftest import ROOT


def _flag_table():
  spec = importlib.util.spec_from_file_location("flag_table", ROOT / "tools" / "flag_table.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_usage_lists_every_flag_as_settings_define_it():
  flag_table = _flag_table()
  usage = (ROOT / "docs" / "usage.md").read_text()
  assert usage == flag_table.current(usage), "docs/usage.md is stale: run python tools/flag_table.py --write"
  from gan_tf import settings

  for s in settings.SETTINGS:
    assert re.search(rf"`--(\[no\])?{s.name}`", usage), s.name


def test_documents_use_no_development_paths():
  for path in [ROOT / "README.md", ROOT / "BUILD.md", *(ROOT / "docs").glob("*.md")]:
    assert "../shared" not in path.read_text(), path
