"""docker-compose.yaml, Dockerfile and .env.example, checked without a Docker engine.

The compose file is loaded with PyYAML (merge keys resolved) and its structure checked: the
services of Airflow's official 3.x file plus local S3 and the review service, a health check and a
command on each, Celery with its broker and result backend, what Airflow 3 needs across
components, bind mounts that exist, and every environment variable the library reads (found by
scanning plugins/, asking PortalSettings.from_env which keys it reads, and the pipeline files'
${VAR} references) either set in the compose file or documented in .env.example.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker", "airflow-init"}
SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "local-s3", "review-service"}
COMMANDS = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler", "airflow-dag-processor": "dag-processor",
            "airflow-triggerer": "triggerer", "airflow-worker": "celery worker"}
# os.environ.get("X"), os.environ["X"], os.getenv("X"), and `env.get("X")` / `env["X"]` on an environ mapping
ENV_READ = re.compile(r"""(?:os\.environ\.get|os\.getenv|os\.environ\s*\[|\benv(?:iron)?\.get|\benv(?:iron)?\s*\[)\(?\s*["']([A-Z_][A-Z0-9_]*)["']""")
YAML_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def env_example_names() -> set[str]:
    """Names set (`NAME=`) or documented (`# NAME=`) in .env.example."""
    return set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))


def env_vars_the_code_reads() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        names |= set(ENV_READ.findall(path.read_text(encoding="utf-8")))

    # PortalSettings.from_env: ask it which keys it reads, whatever the code looks like
    from human_review.portal.settings import PortalSettings

    class Recording(dict):
        def get(self, key, default=None):
            names.add(key)
            return default

        def __getitem__(self, key):
            names.add(key)
            raise KeyError(key)

        def __contains__(self, key):
            names.add(key)
            return False

    PortalSettings.from_env(Recording())
    # the pipeline files' ${VAR} / ${VAR:-default} (values only: comments are not read)
    def strings(node):
        if isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)
        elif isinstance(node, str):
            yield node

    for path in sorted((ROOT / "include" / "pipelines").glob("*.y*ml")):
        for text in strings(yaml.safe_load(path.read_text(encoding="utf-8"))):
            names |= set(YAML_REF.findall(text))
    return names


def test_the_scan_finds_what_the_library_reads():
    names = env_vars_the_code_reads()
    # a sanity floor, so a broken scan cannot pass the test below vacuously
    assert {"HUMAN_REVIEW_PIPELINES_DIR", "HUMAN_REVIEW_TEMPLATES_DIR", "HUMAN_REVIEW_PORTAL_DB_URL",
            "HUMAN_REVIEW_S3_ENDPOINT_URL", "HUMAN_REVIEW_PORTAL_IN_AIRFLOW", "HUMAN_REVIEW_BUCKET"} <= names


def test_services_exist_with_health_checks_and_commands(services):
    assert SERVICES <= set(services)
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name}: no health check"
        if name not in ("postgres", "redis"):  # those two run their image's own server command
            assert service.get("command") or service.get("entrypoint"), f"{name}: no command"
    for name, command in COMMANDS.items():
        assert _command(services[name]) == command, name
    s3 = services["local-s3"]
    assert " ".join([*s3["entrypoint"], *s3["command"]]) == "moto_server -H 0.0.0.0 -p 5000"
    review = _command(services["review-service"])
    assert "human-review portal" in review and "--db-url" in review and "--host 0.0.0.0" in review


def test_airflow_services_share_the_common_anchor(compose, services):
    common = compose["x-airflow-common"]
    for name in AIRFLOW_SERVICES | {"review-service"}:
        service = services[name]
        assert service["image"] == common["image"] and service.get("build") == common["build"], name
        for key, value in _environment(common).items():
            assert _environment(service).get(key) == value, (name, key)


def test_celery_and_what_airflow_3_needs(compose, services):
    env = _environment(compose["x-airflow-common"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:6379" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"  # the scheduler's health check needs it
    worker = services["airflow-worker"]
    # scalable with --scale airflow-worker=N: no fixed name, no host port
    assert "container_name" not in worker and "ports" not in worker
    assert _environment(worker)["DUMB_INIT_SETSID"] == "0"
    init = services["airflow-init"]
    assert _environment(init)["_AIRFLOW_DB_MIGRATE"] == "true"
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name


def test_bind_mounts_exist_in_the_repo(compose, services):
    mounts = []
    for name, service in [("x-airflow-common", compose["x-airflow-common"]), *services.items()]:
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                mounts.append((name, source))
                assert (ROOT / source).exists(), f"{name}: {source} does not exist in the repo"
            else:
                assert source in compose.get("volumes", {}), f"{name}: undeclared named volume {source}"
    assert ("x-airflow-common", "./include") in mounts  # the pipeline files and templates


def test_library_settings_point_at_the_mounts(compose):
    env = _environment(compose["x-airflow-common"])
    mounts = dict(v.split(":")[:2][::-1] for v in compose["x-airflow-common"]["volumes"] if v.startswith("./"))
    assert mounts[env["HUMAN_REVIEW_PIPELINES_DIR"].rsplit("/", 1)[0]] == "./include"
    assert env["HUMAN_REVIEW_TEMPLATES_DIR"] == "/opt/airflow/include/templates"
    assert env["HUMAN_REVIEW_PORTAL_DB_URL"].startswith("postgresql+psycopg://")


def test_every_variable_the_code_reads_is_set_or_documented(compose, services):
    in_compose = set(_environment(compose["x-airflow-common"]))
    for service in services.values():
        in_compose |= set(_environment(service))
    documented = env_example_names()
    missing = sorted(env_vars_the_code_reads() - in_compose - documented)
    assert not missing, f"set these in docker-compose.yaml or document them in .env.example: {missing}"


def test_secrets_and_connection_come_from_env_files(compose):
    env_files = compose["x-airflow-common"]["env_file"]
    paths = {f["path"]: f.get("required", True) for f in env_files}
    assert paths == {".env.example": True, ".env": False}  # committed defaults, then git-ignored overrides
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^AIRFLOW_CONN_AWS_DEFAULT='\{.*\"conn_type\": \"aws\"", example, re.M)
    assert "AIRFLOW__API_AUTH__JWT_SECRET=" in example and "POSTGRES_PASSWORD=" in example


def _pinned(name: str) -> str | None:
    for req in ("requirements-dev.txt", "requirements.txt"):  # the dev split pins Airflow in -dev
        path = ROOT / req
        if path.exists():
            m = re.search(rf"^{re.escape(name)}==([^\s;#]+)", path.read_text(), re.M)
            if m:
                return m.group(1)
    return None


def test_dockerfile_base_image_matches_the_pinned_airflow():
    text = (ROOT / "Dockerfile").read_text()
    version = re.search(r"^ARG AIRFLOW_VERSION=(\S+)", text, re.M).group(1)
    assert version == _pinned("apache-airflow")
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(f.startswith("apache/airflow:${AIRFLOW_VERSION}") for f in froms)
    assert re.search(r"constraints-\$\{AIRFLOW_VERSION\}/constraints-\$\{PYTHON_VERSION\}\.txt", text)
    assert re.search(r"^USER airflow$", text, re.M)
    assert "-r /tmp/requirements/requirements.txt" in text and "--no-cache-dir" in text


def test_dockerfile_copies_what_exists():
    text = (ROOT / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M):
        sources = [p for p in line.split() if not p.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), source
    for needed in ("dags/", "include/", "plugins/human_review", "plugins/review_portal_plugin.py"):
        assert needed in text


def test_local_s3_is_the_moto_the_tests_pin(services):
    image = services["local-s3"]["image"]
    assert image.startswith("motoserver/moto:")
    assert image.split(":", 1)[1] == _pinned("moto")
