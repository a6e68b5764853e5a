"""Persistent state of the review service: human loops and their task slots (SQLAlchemy 2 Core).

SQLite by default (WAL, busy_timeout, usable from uvicorn's thread pool and from several worker
processes); written so PostgreSQL works too: claims select with ``FOR UPDATE SKIP LOCKED``
(compiled away on SQLite) and update conditionally, so two workers never get the same slot.

Lifecycle rules are evaluated from the deadlines at read time, without writing:
- an ``InProgress`` loop whose availability lifetime has passed with answers missing reads as
  ``Failed`` / ``Expired``; a ``Stopping`` loop reads as ``Stopped``;
- a claimed slot not submitted within the flow definition's time limit is free again (its task id
  stops working);
- a worker never holds or answers two slots of the same loop; a slot is answered once.
`sweep` (run in the background by the app) writes those transitions down; nothing depends on when
it last ran.

A request the store refuses raises one of the `StoreError` kinds of ``errors.py`` (NotFound,
Conflict, ...), which carry their A2I error code and HTTP status.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import zlib
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, InvalidatePoolError
from sqlalchemy.pool import StaticPool

from human_review.portal.errors import StoreError  # noqa: F401 (re-exported: callers catch it)
from human_review.portal.errors import Conflict, InvalidState, NotFound, NotYours, QuotaExceeded

IN_PROGRESS, COMPLETED, FAILED, STOPPING, STOPPED = "InProgress", "Completed", "Failed", "Stopping", "Stopped"
EXPIRED_REASON = "The human loop expired: its availability lifetime passed before every answer was submitted."

# The in-flight quota is checked against a per-process count of open loops, recounted from the
# database when it is older than this or within QUOTA_MARGIN of the quota (so the exact COUNT runs
# near the limit, not on every start).
OPEN_COUNT_TTL_SECONDS = 1.0
QUOTA_MARGIN = 0.1

metadata = MetaData()

human_loops = Table(
    "human_loops",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("arn", String(1024), nullable=False),
    Column("flow_definition_name", String(63), nullable=False, index=True),
    Column("flow_definition_arn", String(1024), nullable=False),
    Column("input_content", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("failure_code", String(64)),
    Column("failure_reason", String(1024)),
    Column("output_s3_uri", String(2048)),
    Column("output_path", String(2048), nullable=False),
    Column("task_count", Integer, nullable=False),
    Column("answered_count", Integer, nullable=False, default=0),
    Column("time_limit_seconds", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),  # naive UTC
    Column("expires_at", DateTime, nullable=False),
    Column("completed_at", DateTime),
)

task_slots = Table(
    "task_slots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("loop_name", String(63), nullable=False, index=True),
    Column("slot", Integer, nullable=False),
    Column("worker_id", String(128)),
    # The task id handed to the worker: new for every claim, so a lapsed claim's id stops working.
    Column("claim_token", String(64), unique=True),
    Column("claimed_at", DateTime),
    Column("claim_expires_at", DateTime),
    Column("submitted_at", DateTime),
    Column("answer", Text),
    # Seconds the reviewer was active on the task page (its script measures them); NULL: not sent.
    Column("active_seconds", Float),
    UniqueConstraint("loop_name", "slot", name="uq_task_slots_loop_slot"),
    UniqueConstraint("loop_name", "worker_id", name="uq_task_slots_loop_worker"),
)

# Added for issue 9 (created on existing databases too, see Store.__init__): a queue's open loops
# in id order (claims, the quota count), the sweep's expired loops, the sweep's lapsed claims, a
# worker's slots.
PERFORMANCE_INDEXES = (
    Index("ix_human_loops_flow_status_id", human_loops.c.flow_definition_name, human_loops.c.status, human_loops.c.id),
    Index("ix_human_loops_status_expires", human_loops.c.status, human_loops.c.expires_at),
    Index("ix_task_slots_claim_expires", task_slots.c.claim_expires_at),
    # "does this worker hold or answer a slot of this loop": without it PostgreSQL scans every slot per loop.
    Index("ix_task_slots_worker", task_slots.c.worker_id, task_slots.c.loop_name),
)


# A slot joined with its loop, in one row: the slot's columns as `slot_<name>`, the loop's as they
# are (`_Prefixed` and `Loop.from_row(..., columns=LOOP_COLUMNS)` take the row apart).
LOOP_COLUMNS = tuple(human_loops.c.keys())
_SLOT_WITH_LOOP = (*(c.label(f"slot_{c.name}") for c in task_slots.c), *human_loops.c)


# StartHumanLoop's statements, built once: values go in as parameters, so SQLAlchemy compiles each
# statement once (its cache) instead of building and coercing a new INSERT per start.
_INSERT_LOOP = insert(human_loops)
_INSERT_SLOT = insert(task_slots)


def _start_in_one_statement():
    """PostgreSQL: the loop and its slots in one statement (one round trip, atomic on its own, so it
    runs without BEGIN and COMMIT); returns the loop's id. A taken name fails its unique constraint
    as the two INSERTs do."""
    new_loop = (
        insert(human_loops)
        .values({c: bindparam(c.name) for c in human_loops.c if c.name != "id"})
        .returning(human_loops.c.id, human_loops.c.name, human_loops.c.task_count)
        .cte("new_loop")
    )
    new_slots = insert(task_slots).from_select(
        ["loop_name", "slot"], select(new_loop.c.name, func.generate_series(0, new_loop.c.task_count - 1))
    ).cte("new_slots")
    return select(new_loop.c.id).add_cte(new_slots)


_START_IN_ONE_STATEMENT = _start_in_one_statement()


def _naive(dt: datetime) -> datetime:
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


@dataclass(frozen=True)
class Loop:
    id: int
    name: str
    arn: str
    flow_definition_name: str
    flow_definition_arn: str
    input_content: str
    status: str
    failure_code: str | None
    failure_reason: str | None
    output_s3_uri: str | None
    output_path: str
    task_count: int
    answered_count: int
    time_limit_seconds: int
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_row(cls, row: Any, now: datetime, columns: Any = None) -> "Loop":
        """The loop as of `now` (naive UTC): a passed deadline reads as Failed/Expired, Stopping as Stopped.
        `columns`: take only these of the row (a row that carries more than the loop's)."""
        m = dict(row._mapping) if columns is None else {k: row._mapping[k] for k in columns}
        if m["status"] == IN_PROGRESS and _naive(m["expires_at"]) <= now and m["answered_count"] < m["task_count"]:
            m.update(status=FAILED, failure_code="Expired", failure_reason=EXPIRED_REASON)
        elif m["status"] == STOPPING:
            m["status"] = STOPPED
        for k in ("created_at", "expires_at", "completed_at"):
            m[k] = _aware(m[k])
        return cls(**m)

    @property
    def input(self) -> Any:
        return json.loads(self.input_content)

    @property
    def awaiting_output(self) -> bool:
        """Every answer is in and output.json is not written yet (the loop still reads InProgress)."""
        return self.status == IN_PROGRESS and self.answered_count >= self.task_count


@dataclass(frozen=True)
class Task:
    task_id: str
    slot_id: int
    loop_name: str
    slot: int
    worker_id: str | None
    claimed_at: datetime | None
    claim_expires_at: datetime | None
    submitted_at: datetime | None
    answer: Any
    active_seconds: float | None = None

    @classmethod
    def from_row(cls, row: Any) -> "Task":
        m = row._mapping
        return cls(
            task_id=m["claim_token"],
            slot_id=m["id"],
            loop_name=m["loop_name"],
            slot=m["slot"],
            worker_id=m["worker_id"],
            claimed_at=_aware(m["claimed_at"]),
            claim_expires_at=_aware(m["claim_expires_at"]),
            submitted_at=_aware(m["submitted_at"]),
            answer=json.loads(m["answer"]) if m["answer"] is not None else None,
            active_seconds=m.get("active_seconds"),
        )


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if database_url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(pool_size=10, max_overflow=30)
        engine = create_engine(database_url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # uvicorn's thread pool runs up to 40 requests at once per process.
    engine = create_engine(database_url, pool_size=10, max_overflow=30)
    _ping_when_idle(engine)
    return engine


# A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's pool_pre_ping, only for connections that sat in the pool PING_AFTER_IDLE_SECONDS.

    A connection back in use within seconds is alive, and a ping per checkout is a round trip per
    request (a quarter of a StartHumanLoop's database time on PostgreSQL, measured). The idle ones
    are those a database restart or a firewall's idle timeout can have cut: they are tested, and a
    dead one is replaced, with every connection pooled before it (InvalidatePoolError on checkout
    makes the pool discard them and retry with a new connection). A connection that dies while in use fails its statement; SQLAlchemy then discards
    the whole pool, so the next request gets a fresh connection."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as e:
            alive = not engine.dialect.is_disconnect(e, dbapi_conn, None)
            if alive:
                raise
        if not alive:  # the server went away: every pooled connection is suspect, not only this one
            raise InvalidatePoolError("a pooled connection idle for a while no longer answers")


# A claim's slot is free again once its time limit passes; it is held while the limit has not passed.
def _slot_free(now: datetime):
    return and_(
        task_slots.c.submitted_at.is_(None),
        or_(task_slots.c.worker_id.is_(None), task_slots.c.claim_expires_at <= now),
    )


def _loop_open(now: datetime):
    return and_(human_loops.c.status == IN_PROGRESS, human_loops.c.expires_at > now)


_CLEAR_CLAIM = {"worker_id": None, "claim_token": None, "claimed_at": None, "claim_expires_at": None}


class Store:
    def __init__(self, database_url: str, clock: Callable[[], datetime] | None = None):
        self.engine = make_engine(database_url)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        metadata.create_all(self.engine)
        for index in PERFORMANCE_INDEXES:  # create_all adds no index to a table that exists already
            index.create(self.engine, checkfirst=True)
        # SQLite has one writer at a time: threads of this process queue here rather than in
        # SQLite's busy handler, which sleeps in steps up to 100 ms (other processes still do).
        self._write_lock = threading.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()
        # PostgreSQL starts a loop in one statement outside a transaction (see _start_in_one_statement).
        self._autocommit = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.engine.dialect.name == "postgresql" else None
        )
        self._open_counts: dict[str, tuple[int, float]] = {}  # flow -> (open loops, monotonic time counted)
        self._counts_lock = threading.Lock()
        self.closed = False
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """A database made by an older version lacks task_slots.active_seconds: add it (nullable)."""
        from sqlalchemy import inspect

        if "active_seconds" not in {c["name"] for c in inspect(self.engine).get_columns("task_slots")}:
            with self.engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE task_slots ADD COLUMN active_seconds FLOAT")

    def now(self) -> datetime:
        """Naive UTC, the form stored in the database."""
        return _naive(self._clock())

    def dispose(self) -> None:
        self.closed = True
        self.engine.dispose()

    def _write(self):
        """A write transaction (serialised per process on SQLite)."""
        return _Writing(self)

    # ---- the background sweep ---------------------------------------------------------------

    def sweep(self) -> dict[str, int]:
        """Write down what the deadlines decided: expired loops Failed, Stopping loops Stopped,
        lapsed claims released. Reads compute the same from the deadlines, so this only keeps the
        stored rows in step; returns how many rows each rule changed."""
        now = self.now()
        with self._write() as conn:
            expired = conn.execute(
                update(human_loops)
                .where(
                    human_loops.c.status == IN_PROGRESS,
                    human_loops.c.expires_at <= now,
                    human_loops.c.answered_count < human_loops.c.task_count,
                )
                .values(status=FAILED, failure_code="Expired", failure_reason=EXPIRED_REASON)
            ).rowcount
            stopped = conn.execute(
                update(human_loops).where(human_loops.c.status == STOPPING).values(status=STOPPED)
            ).rowcount
            released = conn.execute(
                update(task_slots)
                .where(
                    task_slots.c.claim_expires_at <= now,
                    task_slots.c.submitted_at.is_(None),
                )
                .values(**_CLEAR_CLAIM)
            ).rowcount
        return {"expired": expired, "stopped": stopped, "released": released}

    # ---- the A2I runtime API -----------------------------------------------------------------

    def _room_without_counting(self, flow_definition_name: str, max_in_flight: int) -> bool:
        """Whether a recent count leaves room well under the quota (the common case: no COUNT).

        When the count is stale, the first start to notice recounts; the starts arriving meanwhile
        go on with the cached count (plus their own starts), so a busy flow counts once a second,
        not once per concurrent start."""
        margin = max(1, int(max_in_flight * QUOTA_MARGIN))
        with self._counts_lock:
            cached = self._open_counts.get(flow_definition_name)
            if cached is None or cached[0] >= max_in_flight - margin:
                return False
            if time.monotonic() - cached[1] < OPEN_COUNT_TTL_SECONDS:
                return True
            self._open_counts[flow_definition_name] = (cached[0], time.monotonic())  # this caller recounts
            return False

    def _check_quota_in(self, conn: Connection, flow_definition_name: str, max_in_flight: int, now: datetime) -> None:
        """Near the quota, count in the start's own transaction, serialised per flow definition (the
        process's write lock on SQLite, an advisory lock on PostgreSQL), so concurrent starts cannot
        all see the last free place."""
        if self.engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(flow_definition_name.encode())})
        n = conn.execute(
            select(func.count())
            .select_from(human_loops)
            .where(human_loops.c.flow_definition_name == flow_definition_name, _loop_open(now))
        ).scalar_one()
        with self._counts_lock:
            self._open_counts[flow_definition_name] = (n, time.monotonic())
        if n >= max_in_flight:
            raise QuotaExceeded(
                f"You have reached the quota of {max_in_flight} human loops in progress for flow "
                f"definition {flow_definition_name!r}; wait for loops to finish or stop some.",
            )

    def _counted_start(self, flow_definition_name: str) -> None:
        with self._counts_lock:
            cached = self._open_counts.get(flow_definition_name)
            if cached is not None:
                self._open_counts[flow_definition_name] = (cached[0] + 1, cached[1])

    def start_loop(
        self,
        *,
        name: str,
        arn: str,
        flow_definition_name: str,
        flow_definition_arn: str,
        input_content: str,
        output_path: str,
        task_count: int,
        availability_lifetime_seconds: int,
        time_limit_seconds: int,
        max_in_flight: int | None = None,
    ) -> tuple[Loop, bool]:
        """Create the loop and its slots; returns (loop, created). Same name: idempotent or conflict."""
        now = self.now()
        # Millisecond precision, as the API reports it, so CreationTimeAfter/Before filters agree with it.
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        values = dict(
            name=name,
            arn=arn,
            flow_definition_name=flow_definition_name,
            flow_definition_arn=flow_definition_arn,
            input_content=input_content,
            status=IN_PROGRESS,
            failure_code=None,
            failure_reason=None,
            output_s3_uri=None,
            output_path=output_path,
            task_count=task_count,
            answered_count=0,
            time_limit_seconds=time_limit_seconds,
            created_at=now,
            expires_at=now + timedelta(seconds=availability_lifetime_seconds),
            completed_at=None,
        )
        for _ in range(3):
            # The common case is a new name: insert straight away; a name taken already fails the
            # unique constraint and is compared with the loop that holds it.
            existing = None
            quick = max_in_flight is None or self._room_without_counting(flow_definition_name, max_in_flight)
            try:
                if quick and self._autocommit is not None:
                    with self._autocommit.connect() as conn:
                        loop_id = conn.execute(_START_IN_ONE_STATEMENT, values).scalar_one()
                else:
                    with self._write() as conn:
                        if not quick:
                            self._check_quota_in(conn, flow_definition_name, max_in_flight, now)
                        loop_id = conn.execute(_INSERT_LOOP, values).inserted_primary_key[0]
                        conn.execute(_INSERT_SLOT, [{"loop_name": name, "slot": i} for i in range(task_count)])
            except QuotaExceeded:
                existing = self.get_loop(name)  # a retry of a loop that exists still succeeds
                if existing is None:
                    raise
            except IntegrityError:
                existing = self.get_loop(name)
                if existing is None:
                    continue  # deleted in between: try again
            else:
                self._counted_start(flow_definition_name)
                created = {**values, "created_at": _aware(now), "expires_at": _aware(values["expires_at"])}
                return Loop(id=loop_id, **created), True  # type: ignore[arg-type]
            if existing.flow_definition_name == flow_definition_name and existing.input_content == input_content:
                return existing, False
            raise Conflict(
                f"A human loop named {name!r} already exists with a different flow definition or input content."
            )
        raise Conflict(f"Could not start human loop {name!r}: concurrent starts with this name.")

    def get_loop(self, name: str) -> Loop | None:
        now = self.now()
        with self.engine.connect() as conn:
            row = conn.execute(select(human_loops).where(human_loops.c.name == name)).first()
        return Loop.from_row(row, now) if row else None

    def list_loops(
        self,
        flow_definition_name: str,
        *,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        ascending: bool = False,
        limit: int = 100,
        after_id: int | None = None,
    ) -> tuple[list[Loop], int | None]:
        """One page of loops; returns (loops, id to continue after or None)."""
        q = select(human_loops).where(human_loops.c.flow_definition_name == flow_definition_name)
        if created_after is not None:
            q = q.where(human_loops.c.created_at > _naive(created_after))
        if created_before is not None:
            q = q.where(human_loops.c.created_at < _naive(created_before))
        if after_id is not None:
            q = q.where(human_loops.c.id > after_id if ascending else human_loops.c.id < after_id)
        q = q.order_by(human_loops.c.id.asc() if ascending else human_loops.c.id.desc()).limit(limit + 1)
        now = self.now()
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        loops = [Loop.from_row(r, now) for r in rows[:limit]]
        return loops, (loops[-1].id if len(rows) > limit else None)

    def stop_loop(self, name: str) -> Loop:
        now = self.now()
        with self._write() as conn:
            row = conn.execute(select(human_loops).where(human_loops.c.name == name)).first()
            if row is None:
                raise NotFound(f"Human loop {name!r} does not exist.")
            loop = Loop.from_row(row, now)
            if loop.status == STOPPED:
                return loop
            if loop.status != IN_PROGRESS:
                raise InvalidState(f"Human loop {name!r} is {loop.status}; only an InProgress loop can be stopped.")
            conn.execute(
                update(human_loops)
                .where(human_loops.c.name == name, human_loops.c.status == IN_PROGRESS)
                .values(status=STOPPING)
            )
            # Unsubmitted claims are void.
            conn.execute(
                update(task_slots)
                .where(task_slots.c.loop_name == name, task_slots.c.submitted_at.is_(None))
                .values(**_CLEAR_CLAIM)
            )
        return self.get_loop(name)  # type: ignore[return-value]

    def delete_loop(self, name: str) -> None:
        now = self.now()
        with self._write() as conn:
            row = conn.execute(select(human_loops).where(human_loops.c.name == name)).first()
            if row is None:
                raise NotFound(f"Human loop {name!r} does not exist.")
            status = Loop.from_row(row, now).status
            if status == IN_PROGRESS:
                raise InvalidState(f"Human loop {name!r} is {status}; stop it before deleting it.")
            conn.execute(delete(task_slots).where(task_slots.c.loop_name == name))
            conn.execute(delete(human_loops).where(human_loops.c.name == name))

    # ---- completion -------------------------------------------------------------------------

    def loops_to_finalize(self) -> list[Loop]:
        """InProgress loops whose every slot is answered (output.json not written yet)."""
        now = self.now()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(human_loops).where(
                    human_loops.c.status == IN_PROGRESS,
                    human_loops.c.answered_count >= human_loops.c.task_count,
                )
            ).all()
        return [Loop.from_row(r, now) for r in rows]

    def answers(self, loop_name: str) -> list[Task]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(task_slots)
                .where(task_slots.c.loop_name == loop_name, task_slots.c.submitted_at.is_not(None))
                .order_by(task_slots.c.submitted_at, task_slots.c.slot)
            ).all()
        return [Task.from_row(r) for r in rows]

    def mark_completed(self, loop_name: str, output_s3_uri: str) -> bool:
        with self._write() as conn:
            res = conn.execute(
                update(human_loops)
                .where(human_loops.c.name == loop_name, human_loops.c.status == IN_PROGRESS)
                .values(status=COMPLETED, output_s3_uri=output_s3_uri, completed_at=self.now())
            )
        return res.rowcount == 1

    # ---- the worker portal ------------------------------------------------------------------

    def queue_counts(self, worker_id: str | None = None) -> dict[str, dict[str, int]]:
        """Per flow definition: open slots (available to this worker if given) and in-progress loops."""
        now = self.now()
        with self.engine.connect() as conn:
            loops_q = (
                select(human_loops.c.flow_definition_name, func.count())
                .where(_loop_open(now))
                .group_by(human_loops.c.flow_definition_name)
            )
            out: dict[str, dict[str, int]] = {
                name: {"inProgressLoops": n, "available": 0} for name, n in conn.execute(loops_q).all()
            }
            avail_q = (
                select(human_loops.c.flow_definition_name, func.count())
                .select_from(task_slots.join(human_loops, human_loops.c.name == task_slots.c.loop_name))
                .where(_loop_open(now), _slot_free(now))
                .group_by(human_loops.c.flow_definition_name)
            )
            if worker_id is not None:
                avail_q = avail_q.where(~self._worker_has_slot(worker_id, now))
            for name, n in conn.execute(avail_q).all():
                out.setdefault(name, {"inProgressLoops": 0, "available": 0})["available"] = n
        return out

    @staticmethod
    def _worker_has_slot(worker_id: str, now: datetime):
        """The worker answered a slot of this loop or holds a claim on one that has not lapsed."""
        other = task_slots.alias("other")
        return exists().where(
            and_(
                other.c.loop_name == human_loops.c.name,
                other.c.worker_id == worker_id,
                or_(other.c.submitted_at.is_not(None), other.c.claim_expires_at > now),
            )
        )

    def claim(self, flow_definition_name: str, worker_id: str) -> tuple[Task, Loop] | None:
        """Give the worker the oldest open slot of this flow definition it may take, or None."""
        now = self.now()
        for _ in range(20):
            try:
                with self._write() as conn:
                    result = self._try_claim(conn, now, flow_definition_name, worker_id)
            except IntegrityError:
                continue  # the worker took another slot of this loop concurrently
            if result == "retry":
                continue  # someone else got that slot; try the next one
            return result  # type: ignore[return-value]
        return None

    def _try_claim(self, conn: Connection, now: datetime, flow_definition_name: str, worker_id: str):
        # Each SELECT reads the slot and its loop in one go: the claim needs no read after its UPDATE.
        # A claim the worker already holds in this queue comes back first (e.g. a reload).
        held = conn.execute(
            select(*_SLOT_WITH_LOOP)
            .select_from(task_slots.join(human_loops, human_loops.c.name == task_slots.c.loop_name))
            .where(
                human_loops.c.flow_definition_name == flow_definition_name,
                _loop_open(now),
                task_slots.c.worker_id == worker_id,
                task_slots.c.submitted_at.is_(None),
                task_slots.c.claim_expires_at > now,
            )
            .order_by(human_loops.c.id)
            .limit(1)
        ).first()
        if held is not None:
            return self._claimed(held, worker_id, held.slot_claim_token, held.slot_claimed_at,
                                 held.slot_claim_expires_at, now)
        candidate = conn.execute(
            select(*_SLOT_WITH_LOOP)
            .select_from(task_slots.join(human_loops, human_loops.c.name == task_slots.c.loop_name))
            .where(
                human_loops.c.flow_definition_name == flow_definition_name,
                _loop_open(now),
                _slot_free(now),
                ~self._worker_has_slot(worker_id, now),
            )
            .order_by(human_loops.c.id, task_slots.c.slot)
            .limit(1)
            .with_for_update(skip_locked=True, of=task_slots)
        ).first()
        if candidate is None:
            return None
        # A lapsed claim of this worker on another slot of the loop gives way (one slot per worker per loop).
        conn.execute(
            update(task_slots)
            .where(
                task_slots.c.loop_name == candidate.name,
                task_slots.c.worker_id == worker_id,
                task_slots.c.submitted_at.is_(None),
                task_slots.c.claim_expires_at <= now,
            )
            .values(**_CLEAR_CLAIM)
        )
        token = secrets.token_urlsafe(18)
        expires = now + timedelta(seconds=candidate.time_limit_seconds)
        res = conn.execute(
            update(task_slots)
            .where(task_slots.c.id == candidate.slot_id, _slot_free(now))
            .values(worker_id=worker_id, claim_token=token, claimed_at=now, claim_expires_at=expires)
        )
        if res.rowcount != 1:
            return "retry"
        return self._claimed(candidate, worker_id, token, now, expires, now)

    @staticmethod
    def _claimed(row: Any, worker_id: str, token: str, claimed_at: datetime, expires: datetime,
                 now: datetime) -> tuple[Task, Loop]:
        """The claimed task and its loop, from a row of `_try_claim`'s SELECTs (slot columns + loop)."""
        task = Task(task_id=token, slot_id=row.slot_id, loop_name=row.name, slot=row.slot_slot,
                    worker_id=worker_id, claimed_at=_aware(claimed_at), claim_expires_at=_aware(expires),
                    submitted_at=None, answer=None, active_seconds=None)
        return task, Loop.from_row(row, now, columns=LOOP_COLUMNS)

    def _held_task(self, conn: Connection, task_id: str, worker_id: str, now: datetime) -> tuple[Task, Loop]:
        row = conn.execute(
            select(*_SLOT_WITH_LOOP)
            .select_from(task_slots.join(human_loops, human_loops.c.name == task_slots.c.loop_name))
            .where(task_slots.c.claim_token == task_id)
        ).first()
        if row is None or (row.slot_submitted_at is None
                           and (row.slot_claim_expires_at is None or _naive(row.slot_claim_expires_at) <= now)):
            raise NotFound("No such task: it was submitted, released, or its time limit passed.")
        task = Task.from_row(_Prefixed(row, "slot_"))
        if task.worker_id != worker_id:
            raise NotYours("This task is assigned to another worker.")
        loop = Loop.from_row(row, now, columns=LOOP_COLUMNS)
        if task.submitted_at is not None:
            raise Conflict("This task was submitted already.")
        if loop.status != IN_PROGRESS:
            raise Conflict(f"The human loop is {loop.status}; it takes no more answers.")
        return task, loop

    def get_task(self, task_id: str, worker_id: str) -> tuple[Task, Loop]:
        """A task the worker currently holds (claimed, not submitted, claim still valid)."""
        now = self.now()
        with self.engine.connect() as conn:
            return self._held_task(conn, task_id, worker_id, now)

    def submit(self, task_id: str, worker_id: str, answer: Any, active_seconds: float | None = None) -> Loop:
        """Record the answer (and the reviewer's active seconds, if known); returns the loop."""
        now = self.now()
        with self._write() as conn:
            task, loop = self._held_task(conn, task_id, worker_id, now)
            res = conn.execute(
                update(task_slots)
                .where(
                    task_slots.c.id == task.slot_id,
                    task_slots.c.claim_token == task_id,
                    task_slots.c.worker_id == worker_id,
                    task_slots.c.submitted_at.is_(None),
                    task_slots.c.claim_expires_at > now,
                )
                .values(submitted_at=now, answer=json.dumps(answer), claim_expires_at=None,
                        active_seconds=active_seconds)
            )
            if res.rowcount != 1:
                raise Conflict("This task was submitted already or its claim lapsed.")
            bump = (update(human_loops).where(human_loops.c.name == loop.name)
                    .values(answered_count=human_loops.c.answered_count + 1))
            if self.engine.dialect.update_returning:
                row = conn.execute(bump.returning(*human_loops.c)).one()
            else:  # an SQLite older than 3.35
                conn.execute(bump)
                row = conn.execute(select(human_loops).where(human_loops.c.name == loop.name)).one()
        return Loop.from_row(row, now)

    def release(self, task_id: str, worker_id: str) -> None:
        now = self.now()
        with self._write() as conn:
            res = conn.execute(
                update(task_slots)
                .where(
                    task_slots.c.claim_token == task_id,
                    task_slots.c.worker_id == worker_id,
                    task_slots.c.submitted_at.is_(None),
                    task_slots.c.claim_expires_at > now,
                )
                .values(**_CLEAR_CLAIM)
            )
        if res.rowcount != 1:
            raise NotFound("No such task held by this worker.")


class _Prefixed:
    """A row's columns named `<prefix>x`, seen as a row with columns `x` (for `Task.from_row`)."""

    def __init__(self, row: Any, prefix: str):
        m = row._mapping
        self._mapping = {k.removeprefix(prefix): m[k] for k in m.keys() if k.startswith(prefix)}


class _Writing:
    """``with store._write() as conn``: the process's SQLite write lock, then a transaction."""

    def __init__(self, store: Store):
        self._lock = store._write_lock
        self._begin = store.engine.begin()

    def __enter__(self) -> Connection:
        self._lock.__enter__()
        try:
            return self._begin.__enter__()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise

    def __exit__(self, *exc) -> None:
        try:
            self._begin.__exit__(*exc)
        finally:
            self._lock.__exit__(None, None, None)
