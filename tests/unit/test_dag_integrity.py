"""Every pipeline file gives a DAG that imports cleanly, with tags, retries >= 2 and docs."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="module")
def dagbag(project_root):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(project_root / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_one_dag_per_pipeline(dagbag, project_root):
    files = sorted(p.stem for p in (project_root / "include" / "pipelines").glob("*.yaml"))
    expected = [f"human_review_{f}" for f in files] + [f"human_review_training_export_{f}" for f in files]
    expected.append("human_review_aws_setup")  # dags/aws_setup.py: one DAG for every pipeline
    assert sorted(dagbag.dag_ids) == sorted(expected)


def test_dags_are_production_ready(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 200, dag_id
        for t in dag.tasks:
            assert t.retries >= 2, (dag_id, t.task_id)
        if dag_id.startswith("human_review_training_export_"):
            assert dag.timetable.asset_condition is not None, dag_id  # scheduled on the report asset
            continue
        if dag_id == "human_review_aws_setup":
            assert dag.schedule is None, dag_id  # triggered by hand only
            continue
        assert {"prefix", "keys", "max_items", "dry_run"} <= set(dag.params), dag_id
        assert [t.task_id for t in dag.topological_sort()] == ["discover", "infer", "route", "wait_for_reviews", "report"]
        for t in dag.tasks:
            assert t.retries >= 2, (dag_id, t.task_id)
        assert dag.get_task("wait_for_reviews").deferrable
        # one XCom per task instance: `-> dict` would make TaskFlow push every key as well (one
        # execution-API call each, none read downstream)
        for task_id in ("infer", "route", "report"):
            assert dag.get_task(task_id).multiple_outputs is False, (dag_id, task_id)


def test_bad_pipeline_is_an_import_error_and_the_others_load(tmp_path, project_root, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    for p in (project_root / "include" / "pipelines").glob("*.yaml"):
        shutil.copy(p, tmp_path)
    text = (project_root / "include" / "pipelines" / "object_detection.yaml").read_text()
    (tmp_path / "face_boxes.yaml").write_text(
        text.replace("pipeline: object-detection", "pipeline: face-boxes").replace("task_count: 1", "task_count: 7")
    )
    import human_review.config as config

    monkeypatch.setattr(config, "PIPELINES_DIR", tmp_path)
    bag = DagBag(dag_folder=str(project_root / "dags"))
    review_dags = sorted(d for d in bag.dag_ids if not d.startswith("human_review_training_export_")
                         and d != "human_review_aws_setup")
    assert "human_review_aws_setup" in bag.dag_ids  # it sets up the good pipelines
    assert review_dags == ["human_review_content_moderation", "human_review_object_detection"]
    # both DAG files report the bad pipeline (the export file used to drop it silently)
    assert sorted(f.rsplit("/", 1)[-1] for f in bag.import_errors) == ["review_pipelines.py", "training_export.py"]
    for error in bag.import_errors.values():
        assert "face_boxes.yaml: review.flow_definition.task_count:" in error
    assert sorted(d for d in bag.dag_ids if d.startswith("human_review_training_export_")) == [
        "human_review_training_export_content_moderation", "human_review_training_export_object_detection"]
