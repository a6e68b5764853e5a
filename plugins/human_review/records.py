"""The typed records a run's stages hand each other, and the one status vocabulary.

A run writes these to object storage (one file per batch and stage) and passes only the small
references through XCom; docs/data-flow.md draws the flow. Every record round-trips through JSON
with `to_dict()` / `from_dict()`: `None` fields are left out of the JSON (a manifest of 10,000
images stays small), unknown keys are refused with the record and field named, so a file written
by another version of the code fails loudly instead of being half read.

    discover ─ BatchRef (XCom) ─────────> Manifest of ManifestItem          batch-NNNNN/manifest.json
    infer    ─ PredictionsRef (XCom) ───> PredictionRecord per image       batch-NNNNN/predictions.jsonl
    route    ─ RouteResult (XCom) ──────> RoutedItem per image             batch-NNNNN/routing.json
    wait     ─ WaitPlan (from the RouteResults), then the trigger's WaitEvent
    report   ─ LoopOutcome per loop, then one report row per image (reports/rows.py)

This module imports nothing but the standard library: DAG files, the sensor and the triggerer
load it at parse time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Iterable, Self

from human_review.exceptions import RecordError


class Status(StrEnum):
    """Where an image stands. The report's `status` column holds the terminal ones."""

    # intermediate: infer predicted, route has not decided yet
    PREDICTED = "predicted"
    # terminal
    AUTO_ACCEPTED = "auto_accepted"  # no activation condition fired: the model's answer stands
    REVIEWED = "reviewed"  # the loop completed: people's answer is final
    REVIEW_FAILED = "review_failed"  # the loop could not start, failed, or its answer cannot be read
    REVIEW_EXPIRED = "review_expired"  # nobody answered in time (expired or stopped at the deadline)
    INVALID = "invalid"  # not an image the model can read (extension, size, bytes)
    INFERENCE_FAILED = "inference_failed"  # the model failed on this image
    REVIEW_SKIPPED_DRY_RUN = "review_skipped_dry_run"  # would have gone to people; dry run started no loop
    NOT_PROCESSED_MAX_ITEMS = "not_processed_max_items"  # listed, but past the run's max_items
    SOURCE_GONE = "source_gone"  # an earlier attempt of this run reported it; deleted from the source since
    OVER_REVIEW_BUDGET = "over_review_budget"  # flagged, but past the run's review.budget: no loop


TERMINAL = frozenset(Status) - {Status.PREDICTED}
# the statuses every report counts, even at zero (the others show only when they occur)
ALWAYS_COUNTED = (Status.AUTO_ACCEPTED, Status.REVIEWED, Status.REVIEW_FAILED, Status.REVIEW_EXPIRED,
                  Status.INVALID, Status.INFERENCE_FAILED)
# an image the model never predicted on: no prediction, no routing
NOT_PREDICTED = frozenset({Status.INVALID, Status.INFERENCE_FAILED, Status.NOT_PROCESSED_MAX_ITEMS})


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


@dataclass(slots=True)
class Record:
    """Base of every record: JSON round-trip and a named error for a wrong shape."""

    #: fields holding another record (or a list of them), decoded by `from_dict`
    NESTED: ClassVar[dict[str, type[Record]]] = {}

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise RecordError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise RecordError(f"{cls.__name__}: unknown field {sorted(unknown)[0]!r} (written by another version?)")
        values = dict(data)
        for name, kind in cls.NESTED.items():
            v = values.get(name)
            if isinstance(v, list):
                values[name] = [kind.from_dict(x) for x in v]
            elif isinstance(v, dict):
                values[name] = kind.from_dict(v)
        if "status" in values:
            try:
                values["status"] = Status(values["status"])
            except ValueError:
                raise RecordError(f"{cls.__name__}.status: unknown status {values['status']!r}") from None
        try:
            return cls(**values)
        except TypeError as e:  # a required field is missing
            raise RecordError(f"{cls.__name__}: {e}") from None

    @classmethod
    def many(cls, items: Iterable[dict[str, Any]]) -> list[Self]:
        return [cls.from_dict(i) for i in items]


# discover ---------------------------------------------------------------------------------------

@dataclass(slots=True)
class ManifestItem(Record):
    """One listed object, as discover saw it. At most one of the two reasons is set."""

    key: str
    size: int
    last_modified: str | None = None
    invalid_reason: str | None = None  # failed a cheap check (extension, size): never read
    skipped_reason: str | None = None  # over max_items: reported, never read

    @property
    def to_process(self) -> bool:
        return self.invalid_reason is None and self.skipped_reason is None


@dataclass(slots=True)
class Manifest(Record):
    """What one batch holds (object storage; never XCom)."""

    NESTED: ClassVar[dict[str, type[Record]]] = {"items": ManifestItem}

    pipeline: str
    run_key: str
    batch: int
    bucket: str
    items: list[ManifestItem] = field(default_factory=list)


@dataclass(slots=True)
class BatchRef(Record):
    """discover's XCom, one per batch: where the manifest is, and how many images it holds."""

    batch: int
    manifest: str
    items: int
    batches: int | None = None  # how many batches the run has (the rate limit is split between them)


# infer ------------------------------------------------------------------------------------------

@dataclass(slots=True)
class ManagedLoop(Record):
    """A loop Rekognition started itself (`human_loop: aws-managed`), or why it did not."""

    loop_name: str
    loop_arn: str | None = None  # set when a loop exists (started now, or by an earlier try)
    existing: bool = False  # an earlier try started it: this call did not
    reasons: list[str] | None = None  # HumanLoopActivationReasons
    results: dict[str, Any] | None = None  # HumanLoopActivationConditionsEvaluationResults
    error: str | None = None  # Rekognition could not start it (quota): route starts it instead


@dataclass(slots=True)
class PredictionRecord(Record):
    """One image after infer: `predicted` with the model's response, or why there is none."""

    NESTED: ClassVar[dict[str, type[Record]]] = {"managed_loop": ManagedLoop}

    key: str
    size: int
    status: Status
    last_modified: str | None = None
    reason: str | None = None
    prediction: dict[str, Any] | None = None
    managed_loop: ManagedLoop | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    inference_ms: float | None = None
    decode_note: str | None = None  # what decoding changed: "rotated 90° (EXIF orientation 6)", "downscaled ..."

    @classmethod
    def not_predicted(cls, item: ManifestItem, status: Status, reason: str) -> PredictionRecord:
        return cls(key=item.key, size=item.size, last_modified=item.last_modified, status=status, reason=reason)

    @classmethod
    def from_manifest(cls, item: ManifestItem) -> PredictionRecord | None:
        """The record of an item discover already decided about, or None when it must be read."""
        if item.invalid_reason is not None:
            return cls.not_predicted(item, Status.INVALID, item.invalid_reason)
        if item.skipped_reason is not None:
            return cls.not_predicted(item, Status.NOT_PROCESSED_MAX_ITEMS, item.skipped_reason)
        return None


@dataclass(slots=True)
class PredictionsRef(Record):
    """infer's (or collect_transform's) XCom, one per batch."""

    batch: int
    predictions: str
    counts: dict[str, int] = field(default_factory=dict)


# route ------------------------------------------------------------------------------------------

@dataclass(slots=True)
class RoutedItem(Record):
    """One image after route: whether it went to people, why, and which loop."""

    key: str
    size: int
    status: Status
    reason: str | None = None
    prediction: dict[str, Any] | None = None
    width: int | None = None
    height: int | None = None
    inference_ms: float | None = None
    decode_note: str | None = None
    flagged: bool = False
    flagged_by: list[str] | None = None  # condition types that fired (Sampling for the audit sample)
    reasons: list[str] | None = None  # why, in words
    audit_sample: bool = False  # flagged by the random audit sample only
    activation_results: dict[str, Any] | None = None  # the evaluated condition tree
    loop_name: str | None = None
    loop_arn: str | None = None
    loop_created: str | None = None  # CreationTime, or for a loop this run started its lower bound (run start)
    start_error: str | None = None  # the loop could not start: the report's review_failed reason
    over_budget: str | None = None  # flagged, but cut by review.budget (why, in words): no loop

    @classmethod
    def from_prediction(cls, r: PredictionRecord) -> RoutedItem:
        return cls(key=r.key, size=r.size, status=r.status, reason=r.reason, prediction=r.prediction,
                   width=r.width, height=r.height, inference_ms=r.inference_ms, decode_note=r.decode_note)

    @property
    def has_loop(self) -> bool:
        """A loop exists (or was meant to and could not start: see start_error)."""
        return self.loop_name is not None and self.start_error is None


@dataclass(slots=True)
class Routing(Record):
    """What one batch's route decided (object storage)."""

    NESTED: ClassVar[dict[str, type[Record]]] = {"items": RoutedItem}

    batch: int
    dry_run: bool
    items: list[RoutedItem] = field(default_factory=list)


@dataclass(slots=True)
class RouteResult(Record):
    """route's XCom, one per batch: what the wait needs to know."""

    batch: int
    routing: str
    loops: int = 0  # loops this batch has (started now, found from an earlier try, or AWS-managed)
    started: int = 0  # loops this try started
    loop_prefix: str = ""  # every loop name of the run starts with it
    earliest_loop: str | None = None  # ISO time of the batch's earliest loop creation
    latest_loop: str | None = None  # ISO time of the batch's newest loop creation (the wait's deadline)
    dry_run: bool = False


# wait -------------------------------------------------------------------------------------------

@dataclass(slots=True)
class WaitPlan(Record):
    """What the wait counts: the run's loops, found in ListHumanLoops by name prefix and time."""

    expected: int
    name_prefix: str
    created_after: str | None = None  # ISO; one second before the run's earliest loop
    dry_run: bool = False
    newest_loop: str | None = None  # ISO; when the run's newest loop started: the wait's deadline counts from it

    @classmethod
    def from_routes(cls, routes: Iterable[RouteResult | dict[str, Any] | None], name_prefix: str | None = None
                    ) -> WaitPlan:
        results = [RouteResult.from_dict(r) for r in routes if r]
        prefixes = {r.loop_prefix for r in results if r.loop_prefix}
        if name_prefix is None:
            if len(prefixes) > 1:
                raise RecordError(f"WaitPlan: the batches name their loops with {len(prefixes)} prefixes; expected one")
            name_prefix = prefixes.pop() if prefixes else ""
        starts = [dt.datetime.fromisoformat(r.earliest_loop) for r in results if r.earliest_loop]
        created_after = (min(starts) - dt.timedelta(seconds=1)).isoformat() if starts else None
        newest = [dt.datetime.fromisoformat(r.latest_loop or r.earliest_loop) for r in results
                  if r.latest_loop or r.earliest_loop]
        return cls(expected=sum(r.loops for r in results), name_prefix=name_prefix, created_after=created_after,
                   dry_run=any(r.dry_run for r in results), newest_loop=max(newest).isoformat() if newest else None)

    @property
    def created_after_time(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.created_after) if self.created_after else None


# report -----------------------------------------------------------------------------------------

@dataclass(slots=True)
class LoopOutcome(Record):
    """How one loop ended, as the report reads it."""

    status: Status
    loop_status: str | None = None  # A2I's HumanLoopStatus
    reason: str | None = None
    answers: list[dict[str, Any]] | None = None  # output.json's humanAnswers
    # workerId -> the reviewer's name, from reviewers.json next to output.json (the local review
    # service writes it; A2I does not, and then the report shows A2I's opaque workerId)
    reviewers: dict[str, str] | None = None
