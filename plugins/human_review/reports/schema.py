"""The report's row schema: one row per discovered image. Documented in docs/reports.md; pinned by a test."""

from __future__ import annotations

COLUMNS = {  # name -> pandas dtype
    "pipeline": "string",
    "run_key": "string",
    "object_key": "string",
    "image_uri": "string",
    "size_bytes": "Int64",
    "image_width": "Int64",
    "image_height": "Int64",
    "status": "string",
    "reason": "string",
    "flagged": "boolean",
    "flagged_by": "string",
    "audit_sample": "boolean",
    "model_summary": "string",
    "model_output": "string",
    "model_confidence": "Float64",
    "inference_ms": "Float64",
    "decode_note": "string",
    "loop_name": "string",
    "loop_status": "string",
    "answers": "Int64",
    "workers": "string",
    "worker_answers": "string",
    "human_answer": "string",
    "human_changed": "boolean",
    "disputed": "boolean",
    "agreement": "Float64",
    "label_changes": "string",
    "final_answer": "string",
    "final_source": "string",
    # what the model claimed (labels/boxes at or above the decision threshold; claims.py) and how
    # sure it was of its least sure decision (100 - score for a label it did not claim)
    "model_claims": "string",
    "decision_confidence": "Float64",
}

# final_source values: which answer `final_answer` holds
FINAL_HUMAN = "human"  # a loop completed: the consolidated human answer
FINAL_MODEL = "model"  # no review was needed (auto_accepted): the model's prediction
FINAL_UNREVIEWED = "model_unreviewed"  # review failed, expired or skipped (dry run): the model's, unchecked
