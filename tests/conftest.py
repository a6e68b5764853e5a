"""Test settings that must exist before anything imports Airflow.

Each pytest process (and each xdist worker) gets its own AIRFLOW_HOME with a SQLite metadata DB,
so tests never touch a user's Airflow. Services are real and local: moto's server for S3 and the
local review service for A2I, started by `human_review_dev.stack` (the dev package, dev/).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(1, str(ROOT / "dev"))  # human_review_dev: demo, local stack, samples (installed editable too)

from human_review_dev.local_airflow import use_local_airflow  # noqa: E402  (imports no airflow)

_HOME = use_local_airflow(Path(tempfile.mkdtemp(prefix="human-review-airflow-")))
os.environ.update(
    {
        # no real AWS credentials ever reach the tests
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)
os.environ.pop("AWS_PROFILE", None)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh Airflow metadata DB (SQLite) for this test process."""
    from airflow.utils import db

    db.resetdb()
    return _HOME


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright, one per test module (the browser tests skip
    themselves when /usr/bin/chromium is missing)."""
    from playwright.sync_api import sync_playwright

    from human_review_dev.reviewers import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        yield b
        b.close()


@pytest.fixture()
def postgres_url():
    """A schema of its own in the database HUMAN_REVIEW_TEST_POSTGRES_URL names (nothing else there is
    touched), as a SQLAlchemy URL whose search_path is that schema; dropped after. Skips, saying so,
    when the variable is unset."""
    raw = os.environ.get("HUMAN_REVIEW_TEST_POSTGRES_URL")
    if not raw:
        pytest.skip("HUMAN_REVIEW_TEST_POSTGRES_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test): "
                    "the PostgreSQL cases are skipped")
    import uuid

    import sqlalchemy as sa

    base = raw.replace("postgresql://", "postgresql+psycopg://", 1) if raw.startswith("postgresql://") else raw
    schema = f"hr_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()
