"""Issue 10, items 7-12: one bad pipeline file never takes the others down, and schedules that cannot
work are refused at validation (not discovered weeks later as unreviewed or twice-reviewed images)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from human_review.config import load_all, load_pipeline
from human_review.exceptions import PipelineConfigError

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "include" / "pipelines"


def copy_pipelines(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for p in PIPELINES.glob("*.yaml"):
        (tmp_path / p.name).write_text(p.read_text())
    return tmp_path


def edit(path: Path, **changes) -> None:
    doc = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = doc
        for p in parents:
            node = node[p]
        if value is ...:
            node.pop(last, None)
        else:
            node[last] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def load_error(path: Path) -> PipelineConfigError:
    with pytest.raises(PipelineConfigError) as err:
        load_pipeline(path)
    return err.value


# item 7 -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("description", ["", "   \n  "])
def test_an_empty_description_is_a_field_error_not_an_index_error(tmp_path, description):
    d = copy_pipelines(tmp_path)
    edit(d / "content_moderation.yaml", description=description)
    err = load_error(d / "content_moderation.yaml")
    assert err.field == "description" and "must say what the pipeline reviews" in err.message
    configs, errors = load_all(d)
    assert [c.pipeline for c in configs] == ["object-detection"]  # the other pipeline still loads


def test_a_config_that_cannot_be_built_costs_only_its_own_dag(tmp_path, monkeypatch):
    from human_review import dag_factory

    configs, _ = load_all(copy_pipelines(tmp_path))
    real = dag_factory.build_dag

    def build(config):
        if config.pipeline == "content-moderation":
            raise IndexError("list index out of range")  # what an empty description used to raise
        return real(config)

    errors: list[PipelineConfigError] = []
    dags = dag_factory._build_each(configs, build, errors)
    assert list(dags) == ["human_review_object_detection"]
    assert errors[0].file.endswith("content_moderation.yaml") and "IndexError" in errors[0].message


# item 8 -------------------------------------------------------------------------------------------

def test_a_file_that_is_not_utf8_is_named_and_the_others_load(tmp_path):
    d = copy_pipelines(tmp_path)
    (d / "latin.yaml").write_bytes("pipeline: latin\ndescription: caf\xe9 photos\n".encode("latin-1"))
    configs, errors = load_all(d)
    assert sorted(c.pipeline for c in configs) == ["content-moderation", "object-detection"]
    [err] = errors
    assert err.file.endswith("latin.yaml") and err.field == "(file)"
    assert "not UTF-8" in err.message and "0xe9" in err.message


def test_validate_reports_a_non_utf8_file_without_a_traceback(tmp_path):
    d = copy_pipelines(tmp_path)
    (d / "latin.yaml").write_bytes(b"pipeline: latin\ndescription: caf\xe9\n")
    proc = subprocess.run([sys.executable, "-m", "human_review.cli", "validate", str(d)],
                          capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "plugins"),
                                                                        "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "latin.yaml: (file): not UTF-8" in proc.stderr
    assert proc.stdout.count("ok ") == 2


def test_the_review_service_starts_with_a_non_utf8_file_beside_good_ones(tmp_path):
    from human_review.portal.app import create_app
    from human_review.portal.settings import PortalSettings

    d = copy_pipelines(tmp_path / "pipelines")
    (d / "latin.yaml").write_bytes(b"pipeline: latin\ndescription: caf\xe9\n")
    app = create_app(PortalSettings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", pipelines_dir=d))
    try:
        assert set(app.state.review_service.flow_definitions()) == {"content-moderation", "object-detection"}
    finally:
        app.state.review_service.store.dispose()


# item 9 -------------------------------------------------------------------------------------------

def test_a_misspelt_timezone_is_refused_with_its_field(tmp_path):
    d = copy_pipelines(tmp_path)
    edit(d / "content_moderation.yaml", timezone="Europe/Londn")
    err = load_error(d / "content_moderation.yaml")
    assert err.field == "timezone" and "'Europe/Londn' is not an IANA timezone" in err.message
    edit(d / "content_moderation.yaml", timezone="Europe/London")
    assert load_pipeline(d / "content_moderation.yaml").timezone == "Europe/London"


# item 11 ------------------------------------------------------------------------------------------

def test_two_pipelines_sharing_a_flow_definition_are_both_refused(tmp_path):
    d = copy_pipelines(tmp_path)
    edit(d / "object_detection.yaml", review__flow_definition__name="content-moderation")
    configs, errors = load_all(d)
    assert configs == []
    assert sorted(Path(e.file).name for e in errors) == ["content_moderation.yaml", "object_detection.yaml"]
    for e in errors:
        assert e.field == "review.flow_definition.name"
        assert "is also the flow definition of" in e.message


# item 12 ------------------------------------------------------------------------------------------

def test_env_reference_gives_a_number_inside_conditions(tmp_path, monkeypatch):
    d = copy_pipelines(tmp_path)
    path = d / "content_moderation.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["review"]["conditions"] = {"Conditions": [
        {"ConditionType": "ModerationLabelConfidenceCheck",
         "ConditionParameters": {"ModerationLabelName": "${LABEL:-Suggestive}", "ConfidenceLessThan": "${HR_MAX_CONF}"}},
        {"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": "${HR_SAMPLE:-2.5}"}},
    ]}
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("HR_MAX_CONF", "98")
    conditions = load_pipeline(path).review.conditions["Conditions"]
    assert conditions[0]["ConditionParameters"] == {"ModerationLabelName": "Suggestive", "ConfidenceLessThan": 98}
    assert conditions[1]["ConditionParameters"]["RandomSamplingPercentage"] == 2.5
    monkeypatch.setenv("HR_MAX_CONF", "ninety")
    err = load_error(path)
    assert err.field == "review.conditions" and "number" in err.message


# item 10 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cron", ["0 2 30 2 *", "0 2 31 4 *"])
def test_a_cron_that_never_fires_is_refused(tmp_path, cron):
    d = copy_pipelines(tmp_path)
    edit(d / "content_moderation.yaml", schedule=cron)
    err = load_error(d / "content_moderation.yaml")
    assert err.field == "schedule" and "never fires" in err.message


@pytest.mark.parametrize("cron, hours, words", [
    ("0 * * * *", 24, "longer than the 1 h between runs"),  # every image reviewed 24 times
    ("0 2 * * 1", 24, "shorter than the 168 h between runs"),  # six days of every week unreviewed
    ("0 2 * * 1-5", 24, "fires at uneven times (24 h, 72 h apart)"),
])
def test_an_interval_that_leaves_gaps_or_overlaps_is_refused(tmp_path, cron, hours, words):
    d = copy_pipelines(tmp_path)
    edit(d / "content_moderation.yaml", schedule=cron, interval_hours=hours)
    err = load_error(d / "content_moderation.yaml")
    assert err.field == "interval_hours" and words in err.message


def _intervals(config, runs: int = 3) -> list[tuple[dt.datetime, dt.datetime]]:
    """The data intervals the scheduler would give the DAG's next runs (the core timetable)."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    from human_review.dag_factory import timetable

    core = coerce_to_core_timetable(timetable(config))
    import pendulum

    restriction = TimeRestriction(earliest=pendulum.datetime(2026, 3, 1, tz="UTC"), latest=None, catchup=True)
    out, last = [], None
    for _ in range(runs):
        info = core.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        last = info.data_interval
        out.append((last.start, last.end))
    return out


@pytest.mark.parametrize("cron", ["0 * * * *", "0 2 * * *", "0 2 * * 1", "0 2 * * 1-5", "@monthly"])
def test_the_default_interval_runs_from_one_schedule_point_to_the_next(tmp_path, cron):
    d = copy_pipelines(tmp_path)
    edit(d / "content_moderation.yaml", schedule=cron, interval_hours=...)
    config = load_pipeline(d / "content_moderation.yaml")
    assert config.interval_hours is None
    intervals = _intervals(config)
    for (_, end), (start, _) in zip(intervals, intervals[1:]):
        assert start == end  # no gap, no overlap between consecutive runs


def test_a_matching_explicit_interval_is_kept(tmp_path):
    config = load_pipeline(copy_pipelines(tmp_path) / "content_moderation.yaml")
    assert config.interval_hours == 24
    [(s1, e1), (s2, e2)] = _intervals(config, 2)
    assert e1 - s1 == dt.timedelta(hours=24) and s2 == e1


def test_after_downtime_a_run_covers_back_to_the_last_successful_run():
    from human_review.schedules import covered_start

    day = dt.timedelta(days=1)
    start = dt.datetime(2026, 11, 20, 2, tzinfo=dt.timezone.utc)
    assert covered_start(start, None, 168) == start  # first run ever
    assert covered_start(start, start, 168) == start  # the usual night
    assert covered_start(start, start - 3 * day, 168) == start - 3 * day  # scheduler down for three nights
    assert covered_start(start, start - 30 * day, 168) == start - 7 * day  # bounded by cover_missed_hours
    assert covered_start(start, start - 3 * day, 0) == start  # turned off
    assert covered_start(start, start + day, 168) == start  # a later manual run succeeded
