"""The dev/demo/test tooling stays out of production: nothing Airflow loads imports it, the root
wheel does not ship it, and `human-review` gets its commands through an entry-point group."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

# what moved from plugins/human_review/ to dev/human_review_dev/ (issue 8): must never come back
MOVED = ("demo.py", "up.py", "bench.py", "local_stack.py", "local_airflow.py", "simulated_reviewers.py",
         "samples.py", "reports/bench.py", "inference/bench.py")


def _python_files(root: Path):
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" not in path.parts and not any(p.endswith(".egg-info") for p in path.parts):
            yield path


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_nothing_airflow_loads_imports_the_dev_package(project_root):
    """plugins/ and dags/ are on every Airflow component's path; the dev package is in no image."""
    offenders = []
    for folder in ("plugins", "dags"):
        for path in _python_files(project_root / folder):
            rel = path.relative_to(project_root)
            if any(m.split(".")[0] == "human_review_dev" for m in _imported_modules(path)):
                offenders.append(f"{rel}: imports human_review_dev")
            elif "human_review_dev" in path.read_text(encoding="utf-8"):  # importlib, entry-point strings...
                offenders.append(f"{rel}: names human_review_dev")
    assert offenders == []


def test_the_dev_modules_left_the_library(project_root):
    library = project_root / "plugins" / "human_review"
    assert [m for m in MOVED if (library / m).exists()] == []
    assert not (project_root / "plugins" / "human_review_dev").exists()


@pytest.fixture(scope="module")
def root_wheel(tmp_path_factory, project_root) -> zipfile.ZipFile:
    """The wheel the root pyproject builds (setuptools, as `pip wheel .` would), from a clean copy."""
    src = tmp_path_factory.mktemp("wheel-src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(project_root / name, src / name)
    shutil.copytree(project_root / "plugins", src / "plugins",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    # a stray dev package under plugins/ must not be picked up either
    (src / "plugins" / "human_review_dev").mkdir()
    (src / "plugins" / "human_review_dev" / "__init__.py").write_text("")
    out = src / "dist"
    proc = subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_wheel({str(out)!r}))"],
        cwd=src, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [wheel] = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        yield z


def test_root_wheel_ships_only_the_library(root_wheel):
    root_wheel = root_wheel.namelist()
    tops = {name.split("/", 1)[0] for name in root_wheel}
    assert tops == {"human_review", "airflow_human_review-0.1.0.dist-info"}, tops
    assert not [n for n in root_wheel if n.removeprefix("human_review/") in MOVED]
    # the library itself is all there: the CLI, the portal's static files, the conditions
    for needed in ("human_review/cli.py", "human_review/conditions.py", "human_review/portal/app.py",
                   "human_review/portal/static/crowd-html-elements.js"):
        assert needed in root_wheel


def test_root_wheel_requires_no_airflow_and_no_dev_tools(root_wheel):
    """Installing the wheel into an existing Airflow never upgrades it, and brings no demo or test tool."""
    from packaging.requirements import Requirement

    metadata = root_wheel.read(next(n for n in root_wheel.namelist() if n.endswith(".dist-info/METADATA")))
    requires = [Requirement(line.split(":", 1)[1].strip()) for line in metadata.decode().splitlines()
                if line.startswith("Requires-Dist:")]
    names = {r.name.lower() for r in requires}
    assert "apache-airflow-providers-amazon" in names
    assert not names & {"apache-airflow", "apache-airflow-core", "airflow-human-review-dev", "moto", "pytest",
                        "scikit-image", "scikit-learn", "playwright"}, names


def test_cli_commands_of_the_dev_package_come_from_entry_points(capsys):
    from importlib.metadata import entry_points

    from human_review import cli

    eps = {ep.name: ep.value for ep in entry_points(group=cli.COMMANDS_GROUP)}
    assert set(cli.DEV_COMMANDS) <= set(eps), eps
    assert all(eps[c].startswith("human_review_dev.") for c in cli.DEV_COMMANDS)
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    usage = capsys.readouterr().out.splitlines()[1]
    for command in ("portal", "render-template", "validate", "demo", "up", "bench"):
        assert command in usage


def test_cli_without_the_dev_package(monkeypatch, capsys):
    import importlib.metadata

    from human_review import cli

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: [])
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    positional = capsys.readouterr().out.split("positional arguments:", 1)[1]
    assert "portal" in positional and "validate" in positional
    assert not {"demo", "up", "bench"} & set(positional.split())
    for command in cli.DEV_COMMANDS:
        assert cli.main([command]) == 2
        assert "install the dev package: make venv" in capsys.readouterr().err.lower()
