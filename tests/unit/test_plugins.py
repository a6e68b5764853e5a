"""Airflow's plugin loader sees only the *_plugin.py files, never the library's modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = r"""
import json, sys
from airflow import plugins_manager
plugins, errors = plugins_manager._get_plugins()
import html
print(json.dumps({
    "plugins": sorted(str(getattr(p, "source", "")) for p in plugins),
    "errors": errors,
    "html_is_stdlib": html.__file__.startswith(sys.base_prefix) or "site-packages" not in html.__file__ and "plugins" not in html.__file__,
    "leaked": sorted(n for n, m in sys.modules.items()
                     if getattr(m, "__file__", None) and "/plugins/human_review/" in m.__file__
                     and not n.startswith("human_review")),
}))
"""


def test_plugin_scan_loads_only_plugin_files(project_root):
    env = {**os.environ, "PYTHONPATH": str(project_root / "plugins")}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert result["plugins"], "no plugin loaded from plugins/"
    assert all(p.endswith("_plugin.py") for p in result["plugins"]), result["plugins"]
    assert result["html_is_stdlib"]
    assert result["leaked"] == []  # no library module imported under a bare name like `config`
