"""What the model *claimed*, as opposed to the scores it returned.

A score is not a claim: "Suggestive 3.2%" says the image is probably NOT suggestive. A pipeline-level
decision threshold per label decides which labels and boxes count as the model's claims, with
Rekognition's MinConfidence semantics: a label or box whose confidence is at least the threshold
(default 50) is claimed; one below it is a score only ("model: 3%, unlikely").

Agreement, precision/recall, "changed by people" and calibration compare people's answers with the
claims; the raw scores stay in the report's `model_output` column. The reviewer's task pre-checks
the claimed labels and pre-draws the claimed boxes, so the task and the report agree.

Standard library only: the route stage, the report and the inference backends all use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_THRESHOLD = 50.0


@dataclass(frozen=True)
class Thresholds:
    """The decision threshold (0-100) of every label, with per-label overrides (matched case-insensitively)."""

    default: float = DEFAULT_THRESHOLD
    per_label: dict[str, float] = field(default_factory=dict)

    def of(self, label: str) -> float:
        folded = {k.casefold(): v for k, v in self.per_label.items()}
        return float(folded.get(str(label).casefold(), self.default))

    def claimed(self, label: str, confidence: float | None) -> bool:
        """Whether a label/box with this confidence is one of the model's claims (None counts as claimed:
        a model that gives no score claims what it returns)."""
        return confidence is None or float(confidence) >= self.of(label)

    def decision_confidence(self, label: str, confidence: float | None) -> float | None:
        """How sure the model is of what it decided about this label: the score for a claim,
        100 - score for a label it did not claim (3.2% Suggestive = 96.8% sure it is absent)."""
        if confidence is None:
            return None
        c = float(confidence)
        return round(c if self.claimed(label, c) else 100.0 - c, 3)

    def hint(self, label: str, confidence: float | None) -> str:
        """The words a reviewer sees next to a label or box: "model: 87%, claimed" / "model: 3%, unlikely"."""
        if confidence is None:
            return "model: claimed"
        c = float(confidence)
        shown = f"{c:.0f}%" if c >= 1 else f"{c:.1f}%"
        return f"model: {shown}, claimed" if self.claimed(label, c) else f"model: {shown}, unlikely"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Thresholds:
        data = data or {}
        return cls(default=float(data.get("default", DEFAULT_THRESHOLD)),
                   per_label={str(k): float(v) for k, v in (data.get("per_label") or {}).items()})

    def to_dict(self) -> dict[str, Any]:
        return {"default": self.default, "per_label": dict(self.per_label)}


DEFAULT = Thresholds()
