"""`human-review portal --workers N`: several uvicorn worker processes over one database.

The database is the only state the workers share; everything else is per process:
- the A2I API's requests-per-second limit (`api_requests_per_second`): each worker has its own
  token bucket, so the service admits up to N times the rate (a single worker for an exact limit);
- the background sweep: each worker runs one (its writes are idempotent);
- the signing key of sessions and image links: shared through the environment (below), or a
  reviewer signed in by one worker would be a stranger to the next.

SQLite works with several workers (WAL lets readers run beside the one writer, busy_timeout makes
a writer wait for the lock instead of failing); an in-memory SQLite database cannot be shared, so it
is refused. PostgreSQL has no single-writer lock and is the choice for many workers.
"""

from __future__ import annotations

import os
import secrets

from human_review.portal.settings import PortalSettings
from human_review.portal.store import Store


class WorkersConfigError(ValueError):
    """The settings cannot be shared by several worker processes."""


def prepare_workers(settings: PortalSettings, workers: int) -> None:
    """Put `settings` where the workers' app factory reads them (the environment) and create the schema once."""
    url = settings.database_url
    if url in ("sqlite://", "sqlite:///:memory:") or ":memory:" in url or "mode=memory" in url:
        raise WorkersConfigError(
            f"--workers {workers} needs a database the worker processes can share; {url!r} is in memory "
            "(use a SQLite file or PostgreSQL, e.g. --db-url sqlite:////var/lib/review/state.sqlite)."
        )
    os.environ["HUMAN_REVIEW_PORTAL_DB_URL"] = url
    if settings.s3_endpoint_url:
        os.environ["HUMAN_REVIEW_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    if not os.environ.get("HUMAN_REVIEW_PORTAL_SECRET"):
        os.environ["HUMAN_REVIEW_PORTAL_SECRET"] = settings.secret_key or secrets.token_hex(32)
    # One process creates the tables and indexes, so the workers do not race to create them.
    Store(url).dispose()
