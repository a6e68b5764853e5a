"""Each kind of mistake in a pipeline file gives an error naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from human_review.config import load_all, load_pipeline
from human_review.exceptions import PipelineConfigError

GOOD = Path(__file__).resolve().parents[2] / "include" / "pipelines" / "content_moderation.yaml"


def write(tmp_path: Path, mutate, name: str = "content_moderation.yaml") -> Path:
    doc = yaml.safe_load(GOOD.read_text())
    mutate(doc)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_shipped_pipelines_load():
    configs, errors = load_all()
    assert errors == []
    assert {c.pipeline for c in configs} == {"content-moderation", "object-detection"}
    for c in configs:
        assert c.review.flow_definition.flow_definition_arn.endswith(f"flow-definition/{c.review.flow_definition.name}")


def _set(path: str, value):
    def mutate(doc):
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[last] = value
    return mutate


def _delete(path: str):
    def mutate(doc):
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[p]
        del node[last]
    return mutate


@pytest.mark.parametrize(
    "mutate, field, words",
    [
        (_set("review.flow_definition.task_count", 4), "review.flow_definition.task_count", "less than or equal to 3"),
        (_set("source.batch_sise", 10), "source.batch_sise", "unknown setting"),
        (_delete("source"), "source", "required setting is missing"),
        (_set("model.backend", "gpt-vision"), "model.backend", "unknown backend 'gpt-vision'"),
        (_set("schedule", "every night"), "schedule", "not a cron expression"),
        (_set("review.flow_definition.output_path", "/tmp/out"), "review.flow_definition.output_path", "s3://"),
        (_set("review.flow_definition.template", "missing.html"), "review.flow_definition.template", "no template"),
        (_set("review.flow_definition.name", "Bad_Name"), "review.flow_definition.name", "lowercase"),
        (_set("review.flow_definition.arn", "arn:aws:s3:::bucket"), "review.flow_definition.arn", "not a flow definition ARN"),
        (_set("source.batch_size", "lots"), "source.batch_size", "valid integer"),
        (_set("report.prefix", "reports/"), "report.prefix", "s3:// or file://"),
        (_set("review.conditions", {"Conditions": [{"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": 500}}]}),
         "review.conditions", "$.Conditions[0].ConditionParameters.RandomSamplingPercentage: 500 is outside 0.01-100"),
        (_set("review.conditions", {"Conditions": [{"Or": [{"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": 5}}]}]}),
         "review.conditions", "$.Conditions[0].Or: needs a list of at least two conditions"),
    ],
)
def test_mistake_names_file_and_field(tmp_path, mutate, field, words):
    path = write(tmp_path, mutate)
    with pytest.raises(PipelineConfigError) as err:
        load_pipeline(path)
    assert err.value.file.endswith("content_moderation.yaml")
    assert err.value.field == field
    assert words in err.value.message
    assert str(err.value).startswith(f"{err.value.file}: {field}: ")


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "content_moderation.yaml"
    path.write_text("pipeline: content-moderation\nsource: [unclosed\n")
    with pytest.raises(PipelineConfigError) as err:
        load_pipeline(path)
    assert err.value.field.startswith("line ")
    assert "not valid YAML" in err.value.message


def test_file_name_must_match_pipeline(tmp_path):
    path = write(tmp_path, lambda d: None, name="moderation.yaml")
    with pytest.raises(PipelineConfigError, match="pipeline: 'content-moderation' does not match the file name"):
        load_pipeline(path)


def test_env_references(tmp_path, monkeypatch):
    monkeypatch.setenv("HUMAN_REVIEW_BUCKET", "night-images")
    config = load_pipeline(GOOD)
    assert config.source.bucket == "night-images"
    assert config.report.prefix == "s3://night-images/human-review/reports"
    path = write(tmp_path, _set("source.bucket", "${NO_SUCH_VARIABLE_HR}"))
    with pytest.raises(PipelineConfigError, match="NO_SUCH_VARIABLE_HR is not set"):
        load_pipeline(path)


def test_one_bad_file_does_not_stop_the_others(tmp_path):
    (tmp_path / "content_moderation.yaml").write_text(GOOD.read_text())
    write(tmp_path, _set("pipeline", "broken"), name="broken.yaml")
    bad_doc = yaml.safe_load((tmp_path / "broken.yaml").read_text())
    bad_doc["review"]["flow_definition"]["task_count"] = 0
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(bad_doc))
    configs, errors = load_all(tmp_path)
    assert [c.pipeline for c in configs] == ["content-moderation"]
    assert len(errors) == 1 and errors[0].field == "review.flow_definition.task_count"
