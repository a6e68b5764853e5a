"""A private, throwaway Airflow for the demo and the tests: its own AIRFLOW_HOME and SQLite DB.

Call `use_local_airflow()` before anything imports airflow: Airflow reads its settings at import.
"""

from __future__ import annotations

import os
from pathlib import Path

from human_review.config import PROJECT_ROOT


# SQLite lets one writer in at a time; `airflow standalone` has several (api-server, scheduler,
# triggerer, tasks). Waiting up to 60 s for the lock beats failing with "database is locked".
SQLITE_CONNECT_ARGS = {"timeout": 60}


def local_airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "human_review_dev.local_airflow.SQLITE_CONNECT_ARGS",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }


def use_local_airflow(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(local_airflow_env(home))
    return home
