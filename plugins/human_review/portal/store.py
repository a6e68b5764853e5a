"""Persistent state of the review service: human loops and their task slots (SQLAlchemy 2 Core).

SQLite by default (WAL, usable from uvicorn's thread pool); written so PostgreSQL works too:
claims run in a transaction, select with ``FOR UPDATE SKIP LOCKED`` (compiled away on SQLite) and
update conditionally, so two workers never get the same slot.

Lifecycle rules live here and are evaluated lazily (`refresh`) on every read and claim:
- an ``InProgress`` loop whose availability lifetime has passed with answers missing becomes
  ``Failed`` / ``Expired``;
- a claimed slot not submitted within the flow definition's time limit goes back to the queue;
- a worker never holds or answers two slots of the same loop; a slot is answered once.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from human_review.exceptions import HumanReviewError

IN_PROGRESS, COMPLETED, FAILED, STOPPING, STOPPED = "InProgress", "Completed", "Failed", "Stopping", "Stopped"

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
    UniqueConstraint("loop_name", "slot", name="uq_task_slots_loop_slot"),
    UniqueConstraint("loop_name", "worker_id", name="uq_task_slots_loop_worker"),
)


class StoreError(HumanReviewError):
    """A request the store refuses; `kind` tells the API layer which error to return."""

    def __init__(self, kind: str, message: str):
        self.kind, self.message = kind, message  # kind: not_found | conflict | invalid | forbidden | quota
        super().__init__(message)


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
    def from_row(cls, row: Any) -> "Loop":
        m = dict(row._mapping)
        for k in ("created_at", "expires_at", "completed_at"):
            m[k] = _aware(m[k])
        return cls(**m)

    @property
    def input(self) -> Any:
        return json.loads(self.input_content)


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
        )


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if database_url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(database_url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(database_url, pool_pre_ping=True)


class Store:
    def __init__(self, database_url: str, clock: Callable[[], datetime] | None = None):
        self.engine = make_engine(database_url)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        metadata.create_all(self.engine)

    def now(self) -> datetime:
        """Naive UTC, the form stored in the database."""
        return _naive(self._clock())

    def dispose(self) -> None:
        self.engine.dispose()

    # ---- lazy lifecycle ---------------------------------------------------------------------

    def _refresh(self, conn: Connection, now: datetime) -> None:
        conn.execute(
            update(human_loops)
            .where(
                human_loops.c.status == IN_PROGRESS,
                human_loops.c.expires_at <= now,
                human_loops.c.answered_count < human_loops.c.task_count,
            )
            .values(
                status=FAILED,
                failure_code="Expired",
                failure_reason="The human loop expired: its availability lifetime passed before every answer was submitted.",
            )
        )
        conn.execute(update(human_loops).where(human_loops.c.status == STOPPING).values(status=STOPPED))
        # Claims past their time limit go back to the queue.
        conn.execute(
            update(task_slots)
            .where(
                task_slots.c.submitted_at.is_(None),
                task_slots.c.claim_expires_at.is_not(None),
                task_slots.c.claim_expires_at <= now,
            )
            .values(worker_id=None, claim_token=None, claimed_at=None, claim_expires_at=None)
        )

    def refresh(self) -> None:
        with self.engine.begin() as conn:
            self._refresh(conn, self.now())

    # ---- the A2I runtime API -----------------------------------------------------------------

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
        for _ in range(3):
            existing = self.get_loop(name)
            if existing is not None:
                if existing.flow_definition_name == flow_definition_name and existing.input_content == input_content:
                    return existing, False
                raise StoreError(
                    "conflict",
                    f"A human loop named {name!r} already exists with a different flow definition or input content.",
                )
            if max_in_flight is not None:
                with self.engine.begin() as conn:
                    in_flight = conn.execute(
                        select(func.count()).select_from(human_loops).where(
                            human_loops.c.flow_definition_name == flow_definition_name,
                            human_loops.c.status == IN_PROGRESS,
                        )
                    ).scalar_one()
                if in_flight >= max_in_flight:
                    raise StoreError(
                        "quota",
                        f"You have reached the quota of {max_in_flight} human loops in progress for flow "
                        f"definition {flow_definition_name!r}; wait for loops to finish or stop some.",
                    )
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        insert(human_loops).values(
                            name=name,
                            arn=arn,
                            flow_definition_name=flow_definition_name,
                            flow_definition_arn=flow_definition_arn,
                            input_content=input_content,
                            status=IN_PROGRESS,
                            output_path=output_path,
                            task_count=task_count,
                            answered_count=0,
                            time_limit_seconds=time_limit_seconds,
                            created_at=now,
                            expires_at=now + timedelta(seconds=availability_lifetime_seconds),
                        )
                    )
                    conn.execute(insert(task_slots), [{"loop_name": name, "slot": i} for i in range(task_count)])
            except IntegrityError:
                continue  # a concurrent start with the same name won; compare with it
            loop = self.get_loop(name, refresh=False)
            assert loop is not None
            return loop, True
        raise StoreError("conflict", f"Could not start human loop {name!r}: concurrent starts with this name.")

    def get_loop(self, name: str, *, refresh: bool = True) -> Loop | None:
        with self.engine.begin() as conn:
            if refresh:
                self._refresh(conn, self.now())
            row = conn.execute(select(human_loops).where(human_loops.c.name == name)).first()
        return Loop.from_row(row) if row else None

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
        with self.engine.begin() as conn:
            self._refresh(conn, self.now())
            rows = conn.execute(q).all()
        loops = [Loop.from_row(r) for r in rows[:limit]]
        return loops, (loops[-1].id if len(rows) > limit else None)

    def stop_loop(self, name: str) -> Loop:
        with self.engine.begin() as conn:
            self._refresh(conn, self.now())
            row = conn.execute(select(human_loops).where(human_loops.c.name == name)).first()
            if row is None:
                raise StoreError("not_found", f"Human loop {name!r} does not exist.")
            loop = Loop.from_row(row)
            if loop.status in (STOPPED, STOPPING):
                return loop
            if loop.status != IN_PROGRESS:
                raise StoreError("invalid", f"Human loop {name!r} is {loop.status}; only an InProgress loop can be stopped.")
            conn.execute(
                update(human_loops)
                .where(human_loops.c.name == name, human_loops.c.status == IN_PROGRESS)
                .values(status=STOPPING)
            )
            # Unsubmitted claims are void.
            conn.execute(
                update(task_slots)
                .where(task_slots.c.loop_name == name, task_slots.c.submitted_at.is_(None))
                .values(worker_id=None, claim_token=None, claimed_at=None, claim_expires_at=None)
            )
        return self.get_loop(name, refresh=False)  # type: ignore[return-value]

    def delete_loop(self, name: str) -> None:
        with self.engine.begin() as conn:
            self._refresh(conn, self.now())
            row = conn.execute(select(human_loops).where(human_loops.c.name == name)).first()
            if row is None:
                raise StoreError("not_found", f"Human loop {name!r} does not exist.")
            if row.status in (IN_PROGRESS, STOPPING):
                raise StoreError(
                    "invalid", f"Human loop {name!r} is {row.status}; stop it before deleting it."
                )
            conn.execute(delete(task_slots).where(task_slots.c.loop_name == name))
            conn.execute(delete(human_loops).where(human_loops.c.name == name))

    # ---- completion -------------------------------------------------------------------------

    def loops_to_finalize(self) -> list[Loop]:
        """InProgress loops whose every slot is answered (output.json not written yet)."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(human_loops).where(
                    human_loops.c.status == IN_PROGRESS,
                    human_loops.c.answered_count >= human_loops.c.task_count,
                )
            ).all()
        return [Loop.from_row(r) for r in rows]

    def answers(self, loop_name: str) -> list[Task]:
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(task_slots)
                .where(task_slots.c.loop_name == loop_name, task_slots.c.submitted_at.is_not(None))
                .order_by(task_slots.c.submitted_at, task_slots.c.slot)
            ).all()
        return [Task.from_row(r) for r in rows]

    def mark_completed(self, loop_name: str, output_s3_uri: str) -> bool:
        with self.engine.begin() as conn:
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
        with self.engine.begin() as conn:
            self._refresh(conn, now)
            loops_q = (
                select(human_loops.c.flow_definition_name, func.count())
                .where(human_loops.c.status == IN_PROGRESS)
                .group_by(human_loops.c.flow_definition_name)
            )
            out: dict[str, dict[str, int]] = {
                name: {"inProgressLoops": n, "available": 0} for name, n in conn.execute(loops_q).all()
            }
            avail_q = (
                select(human_loops.c.flow_definition_name, func.count())
                .select_from(task_slots.join(human_loops, human_loops.c.name == task_slots.c.loop_name))
                .where(
                    human_loops.c.status == IN_PROGRESS,
                    task_slots.c.worker_id.is_(None),
                    task_slots.c.submitted_at.is_(None),
                )
                .group_by(human_loops.c.flow_definition_name)
            )
            if worker_id is not None:
                avail_q = avail_q.where(~self._worker_has_slot(worker_id))
            for name, n in conn.execute(avail_q).all():
                out.setdefault(name, {"inProgressLoops": 0, "available": 0})["available"] = n
        return out

    @staticmethod
    def _worker_has_slot(worker_id: str):
        other = task_slots.alias("other")
        return exists().where(and_(other.c.loop_name == human_loops.c.name, other.c.worker_id == worker_id))

    def claim(self, flow_definition_name: str, worker_id: str) -> tuple[Task, Loop] | None:
        """Give the worker the oldest open slot of this flow definition it may take, or None."""
        now = self.now()
        for _ in range(20):
            try:
                with self.engine.begin() as conn:
                    result = self._try_claim(conn, now, flow_definition_name, worker_id)
            except IntegrityError:
                continue  # the worker took another slot of this loop concurrently
            if result == "retry":
                continue  # someone else got that slot; try the next one
            return result  # type: ignore[return-value]
        return None

    def _try_claim(self, conn: Connection, now: datetime, flow_definition_name: str, worker_id: str):
        self._refresh(conn, now)
        # A claim the worker already holds in this queue comes back first (e.g. a reload).
        held = conn.execute(
            select(task_slots)
            .select_from(task_slots.join(human_loops, human_loops.c.name == task_slots.c.loop_name))
            .where(
                human_loops.c.flow_definition_name == flow_definition_name,
                human_loops.c.status == IN_PROGRESS,
                task_slots.c.worker_id == worker_id,
                task_slots.c.submitted_at.is_(None),
                task_slots.c.claim_token.is_not(None),
            )
            .order_by(human_loops.c.id)
            .limit(1)
        ).first()
        if held is not None:
            task = Task.from_row(held)
            loop = Loop.from_row(conn.execute(select(human_loops).where(human_loops.c.name == task.loop_name)).one())
            return task, loop
        candidate = conn.execute(
            select(task_slots.c.id, human_loops.c.name, human_loops.c.time_limit_seconds)
            .select_from(task_slots.join(human_loops, human_loops.c.name == task_slots.c.loop_name))
            .where(
                human_loops.c.flow_definition_name == flow_definition_name,
                human_loops.c.status == IN_PROGRESS,
                task_slots.c.worker_id.is_(None),
                task_slots.c.submitted_at.is_(None),
                ~self._worker_has_slot(worker_id),
            )
            .order_by(human_loops.c.id, task_slots.c.slot)
            .limit(1)
            .with_for_update(skip_locked=True, of=task_slots)
        ).first()
        if candidate is None:
            return None
        slot_id, loop_name, time_limit = candidate
        res = conn.execute(
            update(task_slots)
            .where(task_slots.c.id == slot_id, task_slots.c.worker_id.is_(None))
            .values(
                worker_id=worker_id,
                claim_token=secrets.token_urlsafe(18),
                claimed_at=now,
                claim_expires_at=now + timedelta(seconds=time_limit),
            )
        )
        if res.rowcount != 1:
            return "retry"
        row = conn.execute(select(task_slots).where(task_slots.c.id == slot_id)).one()
        loop_row = conn.execute(select(human_loops).where(human_loops.c.name == loop_name)).one()
        return Task.from_row(row), Loop.from_row(loop_row)

    def get_task(self, task_id: str, worker_id: str) -> tuple[Task, Loop]:
        """A task the worker currently holds (claimed, not submitted, claim still valid)."""
        with self.engine.begin() as conn:
            self._refresh(conn, self.now())
            row = conn.execute(select(task_slots).where(task_slots.c.claim_token == task_id)).first()
            if row is None:
                raise StoreError("not_found", "No such task: it was submitted, released, or its time limit passed.")
            task = Task.from_row(row)
            if task.worker_id != worker_id:
                raise StoreError("forbidden", "This task is assigned to another worker.")
            loop = Loop.from_row(conn.execute(select(human_loops).where(human_loops.c.name == task.loop_name)).one())
        if task.submitted_at is not None:
            raise StoreError("conflict", "This task was submitted already.")
        if loop.status != IN_PROGRESS:
            raise StoreError("conflict", f"The human loop is {loop.status}; it takes no more answers.")
        return task, loop

    def submit(self, task_id: str, worker_id: str, answer: Any) -> Loop:
        """Record the answer; returns the loop (answered_count updated)."""
        now = self.now()
        task, loop = self.get_task(task_id, worker_id)
        with self.engine.begin() as conn:
            res = conn.execute(
                update(task_slots)
                .where(
                    task_slots.c.id == task.slot_id,
                    task_slots.c.claim_token == task_id,
                    task_slots.c.worker_id == worker_id,
                    task_slots.c.submitted_at.is_(None),
                )
                .values(submitted_at=now, answer=json.dumps(answer), claim_expires_at=None)
            )
            if res.rowcount != 1:
                raise StoreError("conflict", "This task was submitted already or its claim lapsed.")
            conn.execute(
                update(human_loops)
                .where(human_loops.c.name == loop.name)
                .values(answered_count=human_loops.c.answered_count + 1)
            )
            row = conn.execute(select(human_loops).where(human_loops.c.name == loop.name)).one()
        return Loop.from_row(row)

    def release(self, task_id: str, worker_id: str) -> None:
        with self.engine.begin() as conn:
            res = conn.execute(
                update(task_slots)
                .where(
                    task_slots.c.claim_token == task_id,
                    task_slots.c.worker_id == worker_id,
                    task_slots.c.submitted_at.is_(None),
                )
                .values(worker_id=None, claim_token=None, claimed_at=None, claim_expires_at=None)
            )
        if res.rowcount != 1:
            raise StoreError("not_found", "No such task held by this worker.")
