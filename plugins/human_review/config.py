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
LOCAL_ACCOUNT = "000000000000"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Model):
    """Where the night's images land."""

    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    extensions: tuple[str, ...] = (".jpg", ".jpeg", ".png")
    max_bytes: int = Field(default=15 * 1024 * 1024, gt=0)
    batch_size: int = Field(default=100, ge=1, le=10_000)
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
        return v


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

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        from human_review.inference import BACKENDS

        if v not in BACKENDS:
            raise ValueError(f"unknown backend {v!r}; known: {', '.join(sorted(BACKENDS))}")
        return v

    @model_validator(mode="after")
    def _valid_options(self) -> "ModelConfig":
        from human_review.inference.base import backend_class

        backend_class(self.backend).validate_options(self.options)
        return self

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
    # stop: stop open loops and report them as review_expired; fail: fail the wait task.
    on_timeout: Literal["stop", "fail"] = "stop"


class ReviewConfig(_Model):
    """When a prediction goes to people, and to whom."""

    conditions: dict[str, Any]
    flow_definition: FlowDefinitionConfig
    wait: WaitConfig = WaitConfig()
    start_concurrency: int = Field(default=8, ge=1, le=64)

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
    # Length of the data interval that ends at each scheduled time.
    interval_hours: int = Field(default=24, ge=1, le=24 * 31)
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

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from croniter import croniter

        if not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a cron expression (e.g. '0 2 * * *')")
        return v

    @field_validator("work_prefix")
    @classmethod
    def _work_uri(cls, v: str) -> str:
        if not re.match(r"^(s3|file)://", v):
            raise ValueError("must be an s3:// or file:// URI shared by every worker")
        return v.rstrip("/")

    @property
    def dag_id(self) -> str:
        return "human_review_" + self.pipeline.replace("-", "_")


def expand_env(value: Any) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of a loaded YAML document."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise KeyError(name)

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value


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
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise PipelineConfigError(shown, where, f"not valid YAML: {getattr(e, 'problem', e)}") from e
    if not isinstance(raw, dict):
        raise PipelineConfigError(shown, "(top level)", "must be a mapping of settings")
    try:
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
    """Load every pipeline file; a bad file is reported, the others still load."""
    good, bad = [], []
    for path in pipeline_files(directory):
        try:
            good.append(load_pipeline(path))
        except PipelineConfigError as e:
            bad.append(e)
    return good, bad


def find_pipeline(pipeline: str, directory: Path | None = None) -> PipelineConfig:
    path = (directory or PIPELINES_DIR) / f"{pipeline.replace('-', '_')}.yaml"
    return load_pipeline(path)
