"""review.budget: when more images are flagged than a night's reviews allow, the most useful go to
people and the rest end as over_review_budget, the same ones on every rerun.

The route and report stages run for real on file:// storage (a dry run: no loop is started, so no
review service is needed); the predictions are hand-made so the ranking can be checked.
"""

from __future__ import annotations

import json

import pytest

from human_review import storage
from human_review.config import PipelineConfigError, load_pipeline
from human_review.records import PredictionsRef, Routing
from human_review.stages.run import RunContext

# Suggestive scores; the content-moderation conditions flag Suggestive < 98 (all of these) plus 20% sampling
SCORES = {f"incoming/img-{i:02d}.jpg": s for i, s in enumerate([97.0, 3.0, 55.0, 49.0, 75.0, 10.0, 70.0, 88.0, 60.0])}


def pipeline(tmp_path, project_root, budget: str, price: str = "") -> object:
    text = (project_root / "include/pipelines/content_moderation.yaml").read_text()
    text = text.replace("  wait:\n", f"{budget}  wait:\n", 1)
    text = text.replace("s3://${HUMAN_REVIEW_BUCKET:-human-review-demo}/human-review/work", f"file://{tmp_path}/work")
    text = text.replace("s3://${HUMAN_REVIEW_BUCKET:-human-review-demo}/human-review/reports", f"file://{tmp_path}/reports")
    if price:
        text = text.replace("report:\n", f"report:\n  public_workforce_task_price_usd: {price}\n")
    path = tmp_path / "content_moderation.yaml"
    path.write_text(text)
    return load_pipeline(path)


def write_predictions(run: RunContext) -> list[PredictionsRef]:
    refs = []
    keys = sorted(SCORES)
    for batch, chunk in enumerate((keys[:5], keys[5:])):
        records = [{"key": k, "size": 1, "status": "predicted",
                    "prediction": {"ModerationLabels": [{"Name": "Suggestive", "ParentName": "", "Confidence": SCORES[k]}]}}
                   for k in chunk]
        uri = storage.write_jsonl(run.batch_uri(batch, "predictions.jsonl"), records, run.conn_id)
        refs.append(PredictionsRef(batch=batch, predictions=uri))
    return refs


def route_all(run: RunContext, refs: list[PredictionsRef]) -> dict[str, object]:
    from human_review.stages.route import route

    items = {}
    for ref in reversed(refs):  # the order mapped tasks run in must not matter
        result = route(run, ref)
        items.update({i.key: i for i in Routing.from_dict(storage.read_json(result.routing, run.conn_id)).items})
    return items


def test_budget_keeps_the_least_confident_and_cuts_the_rest_the_same_way_on_rerun(tmp_path, project_root):
    config = pipeline(tmp_path, project_root, "  budget: {max_loops: 4}\n  priority: {audit_sample_first: false}\n")
    run = RunContext(config=config, run_key="2026-11-21T020000Z", params={"dry_run": True}, run_id="manual__x")
    refs = write_predictions(run)
    items = route_all(run, refs)
    kept = sorted(k for k, i in items.items() if i.flagged and not i.over_budget)
    cut = sorted(k for k, i in items.items() if i.over_budget)
    # least sure decisions (threshold 50): 49 -> 51, 55, 60, 70 | 75, 88, 10 -> 90, 97, 3 -> 97
    assert kept == sorted(k for k, s in SCORES.items() if s in (49.0, 55.0, 60.0, 70.0))
    assert len(cut) == 5 and all("over the review budget: 4 loop(s) per run, 9 flagged" in items[k].over_budget for k in cut)
    assert all(items[k].loop_name is None for k in cut)

    # a rerun (cleared tasks) cuts the same items, even if the predictions were rewritten in another order
    again = route_all(run, list(reversed(refs)))
    assert sorted(k for k, i in again.items() if i.over_budget) == cut

    from human_review.stages.report import report
    summary = report(run, [route_result(run, b) for b in (0, 1)])
    assert summary["status_counts"]["over_review_budget"] == 5
    assert summary["status_counts"]["review_skipped_dry_run"] == 4
    assert summary["budget"]["cut"] == 5 and summary["budget"]["max_loops"] == 4
    table = storage.path(summary["files"]["csv"], run.conn_id).read_text()
    assert table.count("over_review_budget") == 5
    html = storage.path(summary["files"]["html"], run.conn_id).read_text()
    assert 'id="budget"' in html and "did not go to people" in html
    assert "manual__x" in html  # the report names its DAG run


def route_result(run: RunContext, batch: int):
    from human_review.records import RouteResult

    return RouteResult(batch=batch, routing=run.batch_uri(batch, "routing.json"), dry_run=True)


@pytest.mark.parametrize("audit_first, kept_key", [(True, "incoming/img-06.jpg"), (False, "incoming/img-03.jpg")])
def test_audit_sample_goes_first_by_default(tmp_path, project_root, audit_first, kept_key):
    # flag Suggestive < 50 only: img-06 (70%) is then flagged by the random audit sample alone
    config = pipeline(tmp_path, project_root, f"  budget: {{max_loops: 1}}\n  priority: {{audit_sample_first: {str(audit_first).lower()}}}\n")
    conditions = json.loads(json.dumps(config.review.conditions).replace('"ConfidenceLessThan": 98', '"ConfidenceLessThan": 50'))
    config = config.model_copy(update={"review": config.review.model_copy(update={"conditions": conditions})})
    run = RunContext(config=config, run_key="2026-11-22T020000Z", params={"dry_run": True})
    items = route_all(run, write_predictions(run))
    assert items["incoming/img-06.jpg"].audit_sample
    assert sorted(k for k, i in items.items() if i.flagged) == [
        "incoming/img-01.jpg", "incoming/img-03.jpg", "incoming/img-05.jpg", "incoming/img-06.jpg"]
    assert [k for k, i in items.items() if i.flagged and not i.over_budget] == [kept_key]


def test_a_cost_budget_counts_answers_at_the_task_price(tmp_path, project_root):
    config = pipeline(tmp_path, project_root, "  budget: {max_cost_usd: 0.25}\n", price="0.08")
    assert config.max_review_loops() == 3  # 0.25 / (0.08 x task_count 1)
    config = pipeline(tmp_path, project_root, "  budget: {max_loops: 2, max_cost_usd: 10}\n", price="0.08")
    assert config.max_review_loops() == 2


def test_budget_config_mistakes_name_the_field(tmp_path, project_root):
    with pytest.raises(PipelineConfigError, match="public_workforce_task_price_usd"):
        pipeline(tmp_path, project_root, "  budget: {max_cost_usd: 5}\n")
    with pytest.raises(PipelineConfigError, match=r"review\.budget.*max_loops, max_cost_usd"):
        pipeline(tmp_path, project_root, "  budget: {}\n")
    with pytest.raises(PipelineConfigError, match=r"review\.priority.*by_condition needs conditions"):
        pipeline(tmp_path, project_root, "  priority: {by: by_condition}\n")


def test_by_condition_priority(tmp_path, project_root):
    config = pipeline(tmp_path, project_root,
                      "  budget: {max_loops: 2}\n  priority: {by: by_condition, conditions: [Sampling], audit_sample_first: false}\n")
    run = RunContext(config=config, run_key="2026-11-23T020000Z", params={"dry_run": True})
    items = route_all(run, write_predictions(run))
    # img-01 (3%) and img-06 (70%) are in the random sample; least confident first would keep img-03 (49%) and img-02 (55%)
    kept = sorted(k for k, i in items.items() if i.flagged and not i.over_budget)
    assert kept == ["incoming/img-01.jpg", "incoming/img-06.jpg"]
    saved = json.loads((tmp_path / "work" / "content-moderation" / run.run_key / "review-budget.json").read_text())
    assert sorted(saved["cut"]) == sorted(k for k, i in items.items() if i.over_budget)
