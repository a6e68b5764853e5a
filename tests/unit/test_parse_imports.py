"""Parsing the DAG files stays cheap: no AWS SDK, no pandas, no image or chart library at parse time.

A fresh interpreter imports every file in dags/ the way the dag-processor does and lists what it
loaded. Those libraries load inside the tasks that use them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("boto3", "botocore", "pandas", "PIL", "matplotlib", "numpy", "pyarrow", "onnxruntime", "dlib")

SCRIPT = """
import json, sys, importlib.util, pathlib
sys.path.insert(0, {plugins!r})
for path in sorted(pathlib.Path({dags!r}).glob("*.py")):
    spec = importlib.util.spec_from_file_location("dagfile_" + path.stem, path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


def test_dag_files_import_no_heavy_library(project_root):
    code = SCRIPT.format(plugins=str(project_root / "plugins"), dags=str(project_root / "dags"), heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    roots = sorted({m.split(".")[0] for m in loaded})
    assert roots == [], f"imported at DAG parse: {roots} ({loaded[:10]})"
