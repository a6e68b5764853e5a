"""Shared parts of the attack tests: a standalone review service configured as a real deployment
would be (no open sign-in, no X-Worker-Id), its users file, and helpers to start loops."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from human_review.portal.auth import hash_password

FLOW_ARN = "arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{}"
PASSWORDS = {"alice": "alice-correct-horse", "bob": "bob-battery-staple"}


def moderation_doc(task_object: str, **extra) -> dict:
    d = {"taskObject": task_object, "labelCategories": ["Suggestive", "Violence"], "modelSummary": "m",
         "flaggedBy": ["f"], "modelLabels": [], "objectKey": "k", "pipeline": "content-moderation", "prediction": {}}
    d.update(extra)
    return d


def detection_doc(task_object: str, **extra) -> dict:
    d = {"taskObject": task_object, "objectKey": "k", "pipeline": "object-detection", "flaggedBy": ["f"],
         "modelSummary": "m", "prediction": {}, "labels": ["face"], "imageWidth": 512, "imageHeight": 512,
         "initialValue": []}
    d.update(extra)
    return d


class Portal:
    """A running standalone review service plus what the tests need to drive it."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.url = stack.review_url
        self.bucket = stack.bucket

    @property
    def service(self):
        return self.stack.review_server._server.config.app.state.review_service

    def start(self, flow: str, doc: dict) -> str:
        name = f"sec-{uuid.uuid4().hex[:10]}"
        self.stack.a2i_client().start_human_loop(
            HumanLoopName=name, FlowDefinitionArn=FLOW_ARN.format(flow),
            HumanLoopInput={"InputContent": json.dumps(doc)})
        return name

    def sign_in(self, worker: str, password: str | None = None) -> httpx.Client:
        c = httpx.Client(base_url=self.url, timeout=15)
        r = c.post("/worker/login", data={"worker_id": worker, "password": password or PASSWORDS[worker]})
        assert r.status_code == 303, r.text
        return c

    def claim(self, client: httpx.Client, flow: str, loop: str) -> dict:
        """Claim tasks of `flow` until this loop's. Tasks come oldest first and a held task comes back
        on every claim, so one that is not this loop's is answered (emptily) to get past it."""
        for _ in range(200):
            r = client.post(f"/worker/api/queues/{flow}/claim")
            assert r.status_code == 200, (r.status_code, r.text)
            if r.json()["humanLoopName"] == loop:
                return r.json()
            r = client.post(f"/worker/api/tasks/{r.json()['taskId']}/submit", json={"answerContent": EMPTY[flow]})
            assert r.status_code == 200, r.text
        raise AssertionError(f"loop {loop} never came up in {flow}")


EMPTY = {"content-moderation": {"AWS/Rekognition/DetectModerationLabels/Image/V3": {"moderationLabels": []}},
         "object-detection": {"annotatedResult": {"boundingBoxes": []}}}


@pytest.fixture(scope="module")
def users_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("users") / "portal-users"
    path.write_text("# name:hash\n" + "".join(f"{u}:{hash_password(p)}\n" for u, p in PASSWORDS.items()))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def portal(tmp_path_factory, users_file):
    """The standalone portal as deployed: passwords from a users file, no name-only sign-in, no X-Worker-Id."""
    from human_review_dev.stack import local_stack

    with local_stack(tmp_path_factory.mktemp("secstack"), users_file=users_file, open_sign_in=False,
                     allow_worker_id_header=False, expose_docs=False, max_request_bytes=1024 * 1024,
                     max_answer_bytes=64 * 1024) as stack:
        yield Portal(stack)
