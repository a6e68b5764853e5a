"""Pipeline configuration: one YAML file per pipeline in include/pipelines/, loaded into typed models.

Every mistake is reported as `PipelineConfigError` naming the file and the field
(`include/pipelines/x.yaml: review.flow_definition.task_count: must be between 1 and 3`).
Strings may use `${VAR}` / `${VAR:-default}` so the same file serves the laptop and AWS.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from human_review.exceptions import PipelineConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PIPELINES_DIR = Path(os.environ.get("HUMAN_REVIEW_PIPELINES_DIR", PROJECT_ROOT / "include" / "pipelines"))
TEMPLATES_DIR = Path(os.environ.get("HUMAN_REVIEW_TEMPLATES_DIR", PROJECT_ROOT / "include" / "templates"))

PIPELINE_ID = re.compile(r"^[a-z0-9](-?[a-z0-9])*$")
FLOW_DEFINITION_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9])*$")
FLOW_DEFINITION_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:flow-definition/(.+)$")
WORKTEAM_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:workteam/.+$")
ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$")
LOCAL_ACCOUNT = "000000000000"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Model):
    """Where the night's images land."""

    bucket: str = Field(min_length=3, max_length=63)
    # May be templated from the data interval (partitions.py): incoming/{data_interval_start:%Y-%m-%d}/
    prefix: str = ""
    extensions: tuple[str, ...] = (".jpg", ".jpeg", ".png")
    max_bytes: int = Field(default=15 * 1024 * 1024, gt=0)
    # None: sized from the run (stages/batching.py): few task instances, every worker busy, within
    # Airflow's max_map_length. A number fixes the images per batch.
    batch_size: int | None = Field(default=None, ge=1, le=10_000)
    # How many batches run at once (infer's and route's max_active_tis_per_dagrun); the model's
    # requests_per_second is split between them.
    parallel_batches: int = Field(default=4, ge=1, le=64)
    max_items: int = Field(default=10_000, ge=1)
    # True: only objects whose LastModified falls in the run's data interval.
    filter_by_last_modified: bool = True

    @field_validator("extensions")
    @classmethod
    def _dotted_lowercase(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("list at least one extension, e.g. ['.jpg', '.png']")
        return tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in v)

    @field_validator("prefix")
    @classmethod
    def _no_leading_slash(cls, v: str) -> str:
        if v.startswith("/"):
            raise ValueError("a key prefix has no leading '/'")
        from human_review.partitions import validate

        return validate(v)


class ModelConfig(_Model):
    """Which model backend runs, and how hard it may be driven."""

    backend: str
    options: dict[str, Any] = Field(default_factory=dict)
    concurrency: int = Field(default=2, ge=1, le=64)
    retries: int = Field(default=2, ge=0, le=10)
    # Remote backends only: calls per second across the batch's threads (a shared token bucket),
    # so a nightly run stays under the account's quota; None = no limit. `burst`: bucket size.
    requests_per_second: float | None = Field(default=None, gt=0, le=10_000)
    burst: float | None = Field(default=None, ge=1, le=10_000)
    # Remote backends only: the AWS region of the model (default: the connection's).
    region: str | None = None
    # What the model *claims* (claims.py): a label or box with confidence >= the threshold is a claim,
    # one below it a score only (Rekognition's MinConfidence semantics). Metrics compare people with
    # the claims; reviewers see the claims pre-checked. `label_thresholds` overrides it per label.
    decision_threshold: float = Field(default=50.0, ge=0, le=100)
    label_thresholds: dict[str, float] = Field(default_factory=dict)

    @field_validator("label_thresholds")
    @classmethod
    def _percent(cls, v: dict[str, float]) -> dict[str, float]:
        for label, t in v.items():
            if not 0 <= t <= 100:
                raise ValueError(f"{label}: {t} is not a confidence between 0 and 100")
        return v

    @property
    def thresholds(self):
        from human_review.claims import Thresholds

        return Thresholds(self.decision_threshold, dict(self.label_thresholds))

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        from human_review.inference import BACKENDS

        if v not in BACKENDS:
            raise ValueError(f"unknown backend {v!r}; known: {', '.join(sorted(BACKENDS))}")
        return v

    @model_validator(mode="after")
    def _valid_options(self) -> "ModelConfig":
        from human_review.inference.base import backend_class, split_max_side

        _, options = split_max_side(self.backend, self.options)
        backend_class(self.backend).validate_options(options)
        return self

    @property
    def batch_transform(self) -> bool:
        """Whether infer runs as a SageMaker Batch Transform job per batch (the DAG's transform branch)."""
        from human_review.inference import BATCH_TRANSFORM

        return self.backend == BATCH_TRANSFORM

    def remote_settings(self, aws_conn_id: str) -> dict[str, Any]:
        """What a remote backend gets besides its options (ignored by local models)."""
        return {"aws_conn_id": aws_conn_id, "region_name": self.region, "requests_per_second": self.requests_per_second,
                "burst": self.burst, "retries": self.retries, "concurrency": self.concurrency}


class FlowDefinitionConfig(_Model):
    """The A2I flow definition: who reviews, with which template, where answers go."""

    name: str = Field(min_length=1, max_length=63)
    # On AWS: the ARN of the flow definition created from this block. Locally it is derived.
    arn: str | None = None
    region: str = "us-east-1"
    output_path: str
    template: str
    task_count: int = Field(default=1, ge=1, le=3)
    title: str = Field(min_length=1, max_length=128)
    description: str = Field(min_length=1, max_length=255)
    availability_lifetime_seconds: int = Field(default=86_400, ge=1, le=864_000)
    time_limit_seconds: int = Field(default=3_600, ge=30, le=28_800)
    keywords: tuple[str, ...] = ()
    # On AWS, for `human-review aws-setup`: the private workteam that reviews, and the IAM role A2I
    # assumes to read the images and write output.json (`${VAR:-}` unset = not given).
    workteam_arn: str | None = None
    role_arn: str | None = None

    @field_validator("name")
    @classmethod
    def _name_pattern(cls, v: str) -> str:
        if not FLOW_DEFINITION_NAME.match(v):
            raise ValueError("must be lowercase letters, digits and hyphens, e.g. 'content-moderation'")
        return v

    @field_validator("arn", mode="before")
    @classmethod
    def _arn_pattern(cls, v: str | None) -> str | None:
        if v == "":  # `arn: ${FLOW_ARN:-}` with the variable unset: derive the local ARN
            return None
        if v is not None and not FLOW_DEFINITION_ARN.match(v):
            raise ValueError("not a flow definition ARN (arn:aws:sagemaker:REGION:ACCOUNT:flow-definition/NAME)")
        return v

    @field_validator("workteam_arn", mode="before")
    @classmethod
    def _workteam_pattern(cls, v: str | None) -> str | None:
        if v is not None and v != "" and not WORKTEAM_ARN.match(v):
            raise ValueError("not a workteam ARN (arn:aws:sagemaker:REGION:ACCOUNT:workteam/private-crowd/NAME)")
        return v or None

    @field_validator("role_arn", mode="before")
    @classmethod
    def _role_pattern(cls, v: str | None) -> str | None:
        if v is not None and v != "" and not ROLE_ARN.match(v):
            raise ValueError("not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
        return v or None

    @field_validator("output_path")
    @classmethod
    def _s3_uri(cls, v: str) -> str:
        if not v.startswith("s3://") or len(v) <= len("s3://"):
            raise ValueError("must be an s3:// URI, where A2I writes each loop's output.json")
        return v.rstrip("/")

    @field_validator("template")
    @classmethod
    def _template_exists(cls, v: str) -> str:
        if not (TEMPLATES_DIR / v).is_file():
            raise ValueError(f"no template {v!r} in {TEMPLATES_DIR}")
        return v

    @property
    def flow_definition_arn(self) -> str:
        return self.arn or f"arn:aws:sagemaker:{self.region}:{LOCAL_ACCOUNT}:flow-definition/{self.name}"

    @property
    def template_path(self) -> Path:
        return TEMPLATES_DIR / self.template


class WaitConfig(_Model):
    """How the run waits for reviewers."""

    poll_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    timeout_seconds: int = Field(default=2 * 86_400, ge=1)
    # stop: stop open loops, report them as review_expired, the run succeeds. fail: keep them open,
    # write the report of what is known, then fail the run. stop-and-fail: stop them, report, fail.
    on_timeout: Literal["stop", "fail", "stop-and-fail"] = "stop"


class BudgetConfig(_Model):
    """The most reviewer time one run may spend: loops and/or money (with the task price)."""

    max_loops: int | None = Field(default=None, ge=0)
    # USD per run: answers (loops x task_count) x report.public_workforce_task_price_usd
    max_cost_usd: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _something(self) -> "BudgetConfig":
        if self.max_loops is None and self.max_cost_usd is None:
            raise ValueError("give max_loops, max_cost_usd or both (or leave budget out)")
        return self


class PriorityConfig(_Model):
    """Which flagged items go to people first when the budget cannot take them all."""

    # least_confident: the model's least sure decisions first; by_condition: in the order of
    # `conditions` (condition types), least confident first within each.
    by: Literal["least_confident", "by_condition"] = "least_confident"
    conditions: tuple[str, ...] = ()
    # The audit sample is what estimates the error of everything auto-accepted: keep it first.
    audit_sample_first: bool = True

    @model_validator(mode="after")
    def _conditions_given(self) -> "PriorityConfig":
        if self.by == "by_condition" and not self.conditions:
            raise ValueError("by_condition needs conditions: the condition types in priority order")
        return self


class ReviewConfig(_Model):
    """When a prediction goes to people, and to whom."""

    conditions: dict[str, Any]
    flow_definition: FlowDefinitionConfig
    wait: WaitConfig = WaitConfig()
    start_concurrency: int = Field(default=8, ge=1, le=64)
    # A night's reviews fit a budget (stages/route.py `budget_cut`); None = no limit.
    budget: BudgetConfig | None = None
    priority: PriorityConfig = PriorityConfig()

    @field_validator("conditions")
    @classmethod
    def _valid_conditions(cls, v: dict[str, Any]) -> dict[str, Any]:
        from human_review.conditions import validate

        validate(v)
        return v


class ReportConfig(_Model):
    """Where the morning report goes, and how it consolidates and prices the answers."""

    prefix: str
    # Boxes from different workers are the same box when IoU >= this (also model vs people).
    iou_threshold: float = Field(default=0.5, gt=0, le=1)
    # The flow definition's PublicWorkforceTaskPrice in USD per task (answer); set it to see cost.
    public_workforce_task_price_usd: float | None = Field(default=None, ge=0)
    # How many runs the trend shows (this one included), read from earlier summary.json files.
    trend_runs: int = Field(default=14, ge=1, le=100)
    # How many reviewed images the HTML gallery embeds as thumbnails (changed and disputed first).
    gallery_max_images: int = Field(default=60, ge=0, le=1000)
    # Ground Truth augmented manifest: the label attribute name (default: the pipeline's name).
    label_attribute_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,126}$")

    @field_validator("prefix")
    @classmethod
    def _uri(cls, v: str) -> str:
        if not re.match(r"^(s3|file)://", v):
            raise ValueError("must be an s3:// or file:// URI")
        return v.rstrip("/")


class PipelineConfig(_Model):
    """One pipeline: source -> model -> activation conditions -> human loops -> report."""

    pipeline: str = Field(min_length=1, max_length=40)
    description: str
    owner: str = "ml-platform"
    tags: tuple[str, ...] = ()
    schedule: str | None = "0 2 * * *"
    timezone: str = "UTC"
    # Length of the data interval that ends at each scheduled time. Unset (the default): derived from
    # the schedule, each interval running from the previous schedule point to this one (Airflow's
    # CronDataIntervalTimetable), so no image falls between two runs and none is reviewed twice.
    # Set, it must equal the time between schedule points (schedules.py says why when it does not).
    interval_hours: int | None = Field(default=None, ge=1, le=24 * 31)
    # After the scheduler was down (catchup is off), a run's listing starts at the end of the
    # previous successful run's data interval instead of its own start, up to this many hours back,
    # so the nights nobody ran are still reviewed. 0 turns it off.
    cover_missed_hours: int = Field(default=7 * 24, ge=0, le=24 * 93)
    retries: int = Field(default=2, ge=0, le=20)
    retry_delay_seconds: int = Field(default=60, ge=0)
    aws_conn_id: str = "aws_default"
    work_prefix: str
    source: SourceConfig
    model: ModelConfig
    review: ReviewConfig
    report: ReportConfig
    # Set by the loader, not by the file.
    source_file: str = Field(default="", exclude=True)

    @field_validator("pipeline")
    @classmethod
    def _pipeline_id(cls, v: str) -> str:
        if not PIPELINE_ID.match(v):
            raise ValueError("must be lowercase letters, digits and single hyphens, e.g. 'content-moderation'")
        return v

    @field_validator("description")
    @classmethod
    def _has_text(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must say what the pipeline reviews (its first line is the DAG's description)")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from human_review.schedules import check_cron

        check_cron(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        from human_review.schedules import check_timezone

        check_timezone(v)
        return v

    @field_validator("work_prefix")
    @classmethod
    def _work_uri(cls, v: str) -> str:
        if not re.match(r"^(s3|file)://", v):
            raise ValueError("must be an s3:// or file:// URI shared by every worker")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _budget_priced(self) -> "PipelineConfig":
        budget = self.review.budget
        if budget and budget.max_cost_usd is not None and self.report.public_workforce_task_price_usd is None:
            raise ValueError("review.budget.max_cost_usd needs report.public_workforce_task_price_usd (the price per answer)")
        return self

    def max_review_loops(self) -> int | None:
        """The loops one run may start under review.budget (None: no limit)."""
        budget = self.review.budget
        if budget is None:
            return None
        limits = [] if budget.max_loops is None else [budget.max_loops]
        price = self.report.public_workforce_task_price_usd
        if budget.max_cost_usd is not None and price:
            per_loop = price * self.review.flow_definition.task_count
            limits.append(int(budget.max_cost_usd / per_loop + 1e-9))
        return min(limits) if limits else None

    @property
    def dag_id(self) -> str:
        return "human_review_" + self.pipeline.replace("-", "_")


def expand_env(value: Any, numbers: bool = False) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of a loaded YAML document.

    With `numbers`, a string that is one reference and nothing else (`${SAMPLE_PERCENT:-5}`) becomes
    the number its value spells, as if it had been written there: activation conditions want
    numbers, and the environment only has strings."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise KeyError(name)

        expanded = _ENV_REF.sub(sub, value)
        if numbers and expanded != value and _ENV_REF.fullmatch(value.strip()):
            return _as_number(expanded)
        return expanded
    if isinstance(value, dict):
        return {k: expand_env(v, numbers) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, numbers) for v in value]
    return value


def _as_number(text: str) -> Any:
    try:
        number = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return number if isinstance(number, (int, float)) and not isinstance(number, bool) else text


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Load and validate one pipeline file; every error names the file and the field."""
    path = Path(path)
    shown = _display_path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PipelineConfigError(shown, "(file)", f"cannot read: {e.strerror}") from e
    except UnicodeDecodeError as e:  # a file saved as Latin-1, UTF-16, or a binary named .yaml
        raise PipelineConfigError(shown, "(file)", f"not UTF-8 text: byte 0x{e.object[e.start]:02x} at offset "
                                  f"{e.start} cannot be decoded; save the file as UTF-8") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise PipelineConfigError(shown, where, f"not valid YAML: {getattr(e, 'problem', e)}") from e
    if not isinstance(raw, dict):
        raise PipelineConfigError(shown, "(top level)", "must be a mapping of settings")
    try:
        review = raw.get("review")
        if isinstance(review, dict) and "conditions" in review:  # numbers from the environment
            raw = {**raw, "review": {**review, "conditions": expand_env(review["conditions"], numbers=True)}}
        raw = expand_env(raw)
    except KeyError as e:
        raise PipelineConfigError(shown, "(file)", f"environment variable {e.args[0]} is not set and has no default")
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = _format_loc(first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown setting (check its spelling and indentation)"
        elif first["type"] == "missing":
            msg = "required setting is missing"
        more = len(e.errors()) - 1
        if more:
            msg += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise PipelineConfigError(shown, loc, msg) from None
    if config.schedule is not None and config.interval_hours is not None:
        from human_review.schedules import check_interval

        try:
            check_interval(config.schedule, config.interval_hours, config.timezone)
        except ValueError as e:
            raise PipelineConfigError(shown, "interval_hours", str(e)) from None
    stem = path.stem.replace("_", "-")
    if stem != config.pipeline:
        raise PipelineConfigError(
            shown, "pipeline", f"{config.pipeline!r} does not match the file name; name the file {config.pipeline.replace('-', '_')}.yaml"
        )
    return config.model_copy(update={"source_file": shown})


def pipeline_files(directory: Path | None = None) -> list[Path]:
    directory = directory or PIPELINES_DIR
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_all(directory: Path | None = None) -> tuple[list[PipelineConfig], list[PipelineConfigError]]:
    """Load every pipeline file; a bad file is reported, the others still load.

    Two files naming the same flow definition are both refused: the review service serves one
    template per flow definition name, so reviewers of one pipeline would get the other's tasks."""
    good, bad = [], []
    for path in pipeline_files(directory):
        try:
            good.append(load_pipeline(path))
        except PipelineConfigError as e:
            bad.append(e)
    by_flow: dict[str, list[PipelineConfig]] = {}
    for c in good:
        by_flow.setdefault(c.review.flow_definition.name, []).append(c)
    for name, sharing in by_flow.items():
        if len(sharing) < 2:
            continue
        for c in sharing:
            others = ", ".join(o.source_file for o in sharing if o is not c)
            bad.append(PipelineConfigError(c.source_file, "review.flow_definition.name",
                                           f"{name!r} is also the flow definition of {others}; each pipeline "
                                           "needs its own (reviewers would get the other pipeline's template)"))
    shared = {id(c) for s in by_flow.values() if len(s) > 1 for c in s}
    return [c for c in good if id(c) not in shared], bad


def find_pipeline(pipeline: str, directory: Path | None = None) -> PipelineConfig:
    path = (directory or PIPELINES_DIR) / f"{pipeline.replace('-', '_')}.yaml"
    return load_pipeline(path)
