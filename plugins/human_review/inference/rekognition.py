"""Amazon Rekognition DetectModerationLabels, in both ways A2I supports.

- `human_loop: custom` (default): Rekognition only labels the image; the pipeline evaluates the
  activation conditions itself and the route stage starts the loops (StartHumanLoop).
- `human_loop: aws-managed`: each call carries `HumanLoopConfig` with the run's deterministic
  loop name and the flow definition's ARN; Rekognition evaluates the flow definition's
  conditions and starts the loop. The response's `HumanLoopActivationOutput` is recorded and the
  route stage records that loop (it starts none), so the wait and report stages find it by name
  like any other loop of the run. The infer stage describes the loop name before such a call
  (`ItemContext.existing_loop_arn`): a retried or re-run task finds the loop and calls
  Rekognition without `HumanLoopConfig`. This backend builds requests; it calls no A2I API.

Images go as `S3Object` (the source bucket must be in Rekognition's region; up to 15 MB) or,
with `image: bytes` for buckets Rekognition cannot read (another account, a local S3), as
`Bytes` (up to 5 MB). Rekognition reads JPEG and PNG only.

Errors: InvalidImageFormatException, ImageTooLargeException and InvalidS3ObjectException become
`invalid` rows with the service's message; ThrottlingException and
ProvisionedThroughputExceededException (and 5xx) are retried with jittered backoff under the
batch's token bucket. HumanLoopQuotaExceededException (too many loops in flight) loses nothing:
the image is labelled again without HumanLoopConfig and the route stage falls back to a custom
loop (it evaluates the same conditions and starts the loop with StartHumanLoop), recording the
quota error in the row's reason.
"""

from __future__ import annotations

import json
from typing import Any

from human_review.exceptions import InvalidImageError, error_code, error_message
from human_review.images import DecodedImage
from human_review.inference.base import ItemContext, ItemPrediction
from human_review.inference.local import MODERATION_CATEGORIES
from human_review.inference.remote import RemoteBackend
from human_review.records import ManagedLoop

MAX_S3_BYTES = 15 * 1024 * 1024
MAX_INLINE_BYTES = 5 * 1024 * 1024
FORMATS = ("JPEG", "PNG")
INVALID_IMAGE_ERRORS = frozenset({"InvalidImageFormatException", "ImageTooLargeException", "InvalidS3ObjectException"})
QUOTA_ERROR = "HumanLoopQuotaExceededException"


class RekognitionModerationBackend(RemoteBackend):
    kind = "moderation"
    labels = MODERATION_CATEGORIES
    client_type = "rekognition"
    retryable = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError"})

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> None:
        unknown = set(options) - {"min_confidence", "image", "human_loop"}
        if unknown:
            raise ValueError(f"options.{sorted(unknown)[0]}: unknown option; known: min_confidence, image, human_loop")
        if options.get("image", "s3") not in ("s3", "bytes"):
            raise ValueError("options.image: must be 's3' (S3Object) or 'bytes' (Bytes)")
        if options.get("human_loop", "custom") not in ("custom", "aws-managed"):
            raise ValueError("options.human_loop: must be 'custom' or 'aws-managed'")
        mc = options.get("min_confidence", 50)
        if not isinstance(mc, (int, float)) or not 0 <= mc <= 100:
            raise ValueError("options.min_confidence: must be a number between 0 and 100")

    @property
    def min_confidence(self) -> float:
        return float(self.options.get("min_confidence", 50))

    @property
    def managed(self) -> bool:
        return self.options.get("human_loop", "custom") == "aws-managed"

    @property
    def starts_loops(self) -> bool:
        return self.managed

    @property
    def model_version(self) -> str:
        return "Amazon Rekognition DetectModerationLabels"

    def _image(self, image: DecodedImage, item: ItemContext | None) -> dict[str, Any]:
        if image.format not in FORMATS:
            raise InvalidImageError(f"Rekognition reads JPEG and PNG only; this is {image.format}")
        if self.options.get("image", "s3") == "s3" and item is not None:
            if item.size > MAX_S3_BYTES:
                raise InvalidImageError(f"{item.size:,} bytes is over Rekognition's 15 MB limit for S3 images")
            return {"S3Object": {"Bucket": item.bucket, "Name": item.key}}
        if len(image.data) > MAX_INLINE_BYTES:
            raise InvalidImageError(f"{len(image.data):,} bytes is over Rekognition's 5 MB limit for image bytes")
        return {"Bytes": image.data}

    def _detect(self, request: dict[str, Any], key: str) -> dict[str, Any]:
        try:
            response = self.call(lambda: self.client.detect_moderation_labels(**request), f"DetectModerationLabels {key}")
        except Exception as e:
            code = error_code(e)
            if code in INVALID_IMAGE_ERRORS:
                message = getattr(e, "response", {}).get("Error", {}).get("Message") or str(e)
                raise InvalidImageError(f"Rekognition {code}: {message}") from e
            raise
        response.pop("ResponseMetadata", None)
        return response

    def predict(self, image: DecodedImage) -> dict[str, Any]:
        return self._detect({"Image": self._image(image, None), "MinConfidence": self.min_confidence}, image.key)

    def predict_item(self, image: DecodedImage, item: ItemContext) -> ItemPrediction:
        request = {"Image": self._image(image, item), "MinConfidence": self.min_confidence}
        if not (self.managed and item.loop_name and item.flow_definition_arn):
            return ItemPrediction(self._detect(request, item.key))
        loop = ManagedLoop(loop_name=item.loop_name)
        if item.existing_loop_arn is not None:  # a retry or a rerun: Rekognition started this loop before
            loop.loop_arn, loop.existing = item.existing_loop_arn, True
            return ItemPrediction(self._detect(request, item.key), loop)
        managed = {
            **request,
            "HumanLoopConfig": {
                "HumanLoopName": item.loop_name,
                "FlowDefinitionArn": item.flow_definition_arn,
                "DataAttributes": {"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]},
            },
        }
        try:
            response = self._detect(managed, item.key)
        except Exception as e:
            if error_code(e) != QUOTA_ERROR:
                raise
            loop.error = f"{QUOTA_ERROR}: {error_message(e)}"
            return ItemPrediction(self._detect(request, item.key), loop)
        output = response.pop("HumanLoopActivationOutput", None) or {}
        loop.loop_arn = output.get("HumanLoopArn")
        loop.reasons = output.get("HumanLoopActivationReasons") or []
        raw = output.get("HumanLoopActivationConditionsEvaluationResults")
        loop.results = json.loads(raw) if isinstance(raw, str) and raw else raw
        return ItemPrediction(response, loop)
