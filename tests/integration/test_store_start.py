"""StartHumanLoop in the store, on SQLite and on PostgreSQL (skipped without
HUMAN_REVIEW_TEST_POSTGRES_URL): PostgreSQL starts a loop with one statement outside a transaction,
SQLite with two INSERTs in one; both must leave the same rows and answer retries the same way. On
PostgreSQL, a pooled connection whose server process died while it sat idle is replaced on checkout."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

import sqlalchemy as sa  # noqa: E402

from human_review.portal import store as store_module  # noqa: E402
from human_review.portal.errors import Conflict, QuotaExceeded  # noqa: E402
from human_review.portal.store import Store, human_loops, task_slots  # noqa: E402

pytestmark = [pytest.mark.integration]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'review.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    s = Store(url)
    yield s
    s.dispose()


def _start(store: Store, name: str, *, content: str = '{"taskObject": "s3://b/a.jpg"}', flow: str = "flow-a",
           task_count: int = 3, max_in_flight: int | None = 100):
    return store.start_loop(
        name=name, arn=f"arn:aws:sagemaker:us-east-1:000000000000:human-loop/{name}", flow_definition_name=flow,
        flow_definition_arn=f"arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{flow}",
        input_content=content, output_path="s3://bucket/out", task_count=task_count,
        availability_lifetime_seconds=3600, time_limit_seconds=600, max_in_flight=max_in_flight,
    )


def _slots(store: Store, name: str) -> list[int]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(sa.select(task_slots.c.slot).where(task_slots.c.loop_name == name)).scalars())


def test_start_writes_the_loop_and_one_slot_per_task(store):
    loop, created = _start(store, "loop-1", task_count=3)
    assert created
    assert _slots(store, "loop-1") == [0, 1, 2]
    read = store.get_loop("loop-1")
    assert read.id == loop.id and read.status == "InProgress" and read.task_count == 3
    assert read.created_at == loop.created_at and read.expires_at == loop.expires_at
    assert read.input == {"taskObject": "s3://b/a.jpg"}

    _start(store, "loop-2", task_count=1)
    assert _slots(store, "loop-2") == [0]
    assert store.get_loop("loop-2").id > loop.id
    # the new slots are claimable: a worker gets loop-1's first task
    task, claimed_loop = store.claim("flow-a", "worker-1")
    assert claimed_loop.name == "loop-1" and task.slot == 0


def test_a_retry_is_idempotent_and_a_different_input_conflicts(store):
    _start(store, "warm-up")  # later starts take the quick path (on PostgreSQL, the one statement)
    first, _ = _start(store, "loop-1")
    again, created = _start(store, "loop-1")
    assert not created and again.id == first.id
    assert _slots(store, "loop-1") == [0, 1, 2]  # no second set of slots
    with pytest.raises(Conflict, match="loop-1"):
        _start(store, "loop-1", content='{"taskObject": "s3://b/other.jpg"}')
    with pytest.raises(Conflict):
        _start(store, "loop-1", flow="flow-b")
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(human_loops)).scalar_one() == 2
        assert conn.execute(sa.select(sa.func.count()).select_from(task_slots)).scalar_one() == 6


@pytest.mark.parametrize("max_in_flight", [None, 100])
def test_concurrent_starts_of_one_name_create_one_loop(store, max_in_flight):
    _start(store, "warm-up", max_in_flight=max_in_flight)  # the quota's count is cached: the quick path
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: _start(store, "same-name", max_in_flight=max_in_flight), range(16)))
    assert sum(created for _, created in results) == 1
    assert len({loop.id for loop, _ in results}) == 1
    assert _slots(store, "same-name") == [0, 1, 2]
    again, created = _start(store, "same-name", max_in_flight=max_in_flight)
    assert not created and again.id == results[0][0].id
    with pytest.raises(Conflict):
        _start(store, "same-name", content='{"taskObject": "s3://b/other.jpg"}', max_in_flight=max_in_flight)


def test_the_in_flight_quota_still_holds(store):
    for i in range(3):
        _start(store, f"q-{i}", max_in_flight=3)
    with pytest.raises(QuotaExceeded, match="quota of 3"):
        _start(store, "q-3", max_in_flight=3)
    loop, created = _start(store, "q-0", max_in_flight=3)  # a retry of a loop that exists still succeeds
    assert not created and loop.name == "q-0"


def _kill_pooled_connection(store: Store, url: str) -> None:
    """End the server process behind the store's one pooled connection (what a database restart or a
    firewall's idle timeout does to it)."""
    with store.engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture()
def store_with_a_dead_connection(postgres_url):
    """A store whose one pooled connection, used once, lost its server process."""
    store = Store(postgres_url)
    try:
        store.engine.pool.dispose()
        _start(store, "before")
        _kill_pooled_connection(store, postgres_url)
        yield store
    finally:
        store.dispose()


def test_a_connection_that_died_while_idle_is_replaced(store_with_a_dead_connection, monkeypatch):
    store = store_with_a_dead_connection
    monkeypatch.setattr(store_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    loop, created = _start(store, "after")  # the ping finds it dead; a new connection runs the start
    assert created and _slots(store, "after") == [0, 1, 2]


def test_without_the_idle_ping_the_dead_connection_fails_the_request(store_with_a_dead_connection, monkeypatch):
    """The counterpart of the test above: it is the ping that saves the request (and afterwards the
    pool is discarded, so the next request works again)."""
    store = store_with_a_dead_connection
    monkeypatch.setattr(store_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    with pytest.raises(sa.exc.OperationalError):
        _start(store, "after")
    loop, created = _start(store, "after")
    assert created
