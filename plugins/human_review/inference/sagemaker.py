"""A SageMaker real-time endpoint (InvokeEndpoint on `sagemaker-runtime`), one call per image.

YAML (`model.options`):

    endpoint_name: my-detector          # required
    content_type: application/x-image   # what the container accepts (image/jpeg, application/json...)
    accept: application/json
    body: image                         # image: the raw bytes; json: {json_key: base64 of the bytes}
    json_key: image
    parser: sagemaker-ssd               # or json-layout (see parsers.py), with layout: {...}
    class_names: [aeroplane, bicycle, ...]
    min_score: 0.2                      # drop detections under this score (0-1) before review

Errors: a 4xx ModelError (the container refused the input) becomes `inference_failed` with the
container's message, after no retry; ThrottlingException, ServiceUnavailable and 5xx are
retried with jittered backoff under the batch's token bucket; an unparseable body is
`inference_failed` with the parser's reason.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from human_review.images import DecodedImage
from human_review.inference.parsers import PARSERS, validate_parser_options
from human_review.inference.remote import RemoteBackend

MAX_PAYLOAD_BYTES = 25 * 1024 * 1024  # InvokeEndpoint's request limit (real-time)
OPTIONS = {"endpoint_name", "content_type", "accept", "body", "json_key", "parser", "layout", "class_names",
           "min_score", "target_variant", "custom_attributes"}


class SageMakerEndpointBackend(RemoteBackend):
    kind = "detection"  # json-layout with kind: moderation yields ModerationLabels (see kind_of)
    client_type = "sagemaker-runtime"
    retryable = frozenset({"ThrottlingException", "ServiceUnavailable", "InternalFailure", "InternalServerError"})

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> None:
        unknown = set(options) - OPTIONS
        if unknown:
            raise ValueError(f"options.{sorted(unknown)[0]}: unknown option; known: {', '.join(sorted(OPTIONS))}")
        if not isinstance(options.get("endpoint_name"), str) or not options["endpoint_name"]:
            raise ValueError("options.endpoint_name: required (the SageMaker endpoint to invoke)")
        if options.get("body", "image") not in ("image", "json"):
            raise ValueError("options.body: must be 'image' (raw bytes) or 'json' ({json_key: base64})")
        validate_parser_options(options)

    @property
    def model_version(self) -> str:
        return f"SageMaker endpoint {self.options['endpoint_name']}"

    def request_body(self, image: DecodedImage) -> bytes:
        if self.options.get("body", "image") == "json":
            key = self.options.get("json_key", "image")
            return json.dumps({key: base64.b64encode(image.data).decode("ascii")}).encode("utf-8")
        return image.data

    def parse(self, raw: bytes | str, width: int, height: int) -> dict[str, Any]:
        body = json.loads(raw)
        prediction = PARSERS[self.options.get("parser", "sagemaker-ssd")](body, width, height, self.options)
        prediction["ModelVersion"] = self.model_version
        return prediction

    def predict(self, image: DecodedImage) -> dict[str, Any]:
        body = self.request_body(image)
        if len(body) > MAX_PAYLOAD_BYTES:
            from human_review.exceptions import InvalidImageError

            raise InvalidImageError(f"{len(body):,} bytes is over InvokeEndpoint's 25 MB payload limit")
        kwargs: dict[str, Any] = {
            "EndpointName": self.options["endpoint_name"],
            "Body": body,
            "ContentType": self.options.get("content_type", "application/x-image"),
            "Accept": self.options.get("accept", "application/json"),
        }
        for opt, arg in (("target_variant", "TargetVariant"), ("custom_attributes", "CustomAttributes")):
            if self.options.get(opt):
                kwargs[arg] = self.options[opt]
        response = self.call(lambda: self.client.invoke_endpoint(**kwargs), f"InvokeEndpoint {image.key}")
        return self.parse(response["Body"].read(), image.width, image.height)
