"""SIMULATED reviewers, for the demo and the tests only: never use them for real review.

Each simulated worker is a background thread that behaves like a person in a browser, through the
worker portal's HTTP interface only (sign in, claim the next task, open the task page, submit the
answer). It never touches the review service's store.

Policies:
- ``agree``: answer exactly what the model predicted;
- ``correct``: deterministically correct the model: drop moderation labels under 50% confidence;
  drop boxes under 50% confidence and nudge the others by a few pixels;
- ``mixed``: per loop name, about 70% ``agree`` and 30% ``correct`` (deterministic given the seed).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from human_review.a2i import MODERATION_ANSWER_KEY as MODERATION_KEY

log = logging.getLogger(__name__)

POLICIES = ("agree", "correct", "mixed")
DEFAULT_BOX_NAME = "annotatedResult"
_BOX_NAME = re.compile(r"<crowd-bounding-box\b[^>]*?\bname\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Submission:
    worker_id: str
    flow_definition_name: str
    human_loop_name: str
    policy: str  # the policy applied to this loop: agree or correct
    answer_content: dict[str, Any]


def _fraction(seed: int, loop_name: str, salt: str = "") -> float:
    digest = hashlib.sha256(f"{seed}:{salt}:{loop_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def decide(policy: str, loop_name: str, seed: int = 0) -> str:
    """The policy applied to one loop: 'agree' or 'correct'."""
    if policy == "mixed":
        return "agree" if _fraction(seed, loop_name, "mixed") < 0.7 else "correct"
    return policy


def build_answer(task_input: dict[str, Any], applied: str, loop_name: str, seed: int = 0,
                 box_name: str = DEFAULT_BOX_NAME) -> dict[str, Any]:
    """The answerContent a reviewer following `applied` ('agree'/'correct') would submit."""
    if "initialValue" in task_input:
        width, height = task_input.get("imageWidth") or 0, task_input.get("imageHeight") or 0
        boxes = []
        for i, b in enumerate(task_input.get("initialValue") or []):
            box = {k: int(round(b[k])) for k in ("left", "top", "width", "height")}
            modified = False
            if applied == "correct":
                if float(b.get("confidence", 100)) < 50:
                    continue
                dx = int(_fraction(seed, loop_name, f"dx{i}") * 9) - 4 or 2
                dy = int(_fraction(seed, loop_name, f"dy{i}") * 9) - 4 or -2
                box["left"] = max(0, box["left"] + dx)
                box["top"] = max(0, box["top"] + dy)
                if width:
                    box["width"] = max(1, min(box["width"], width - box["left"]))
                if height:
                    box["height"] = max(1, min(box["height"], height - box["top"]))
                modified = True
            boxes.append({"label": b.get("label", "object"), **box, "initialValueModified": modified})
        return {box_name: {"boundingBoxes": boxes, "inputImageProperties": {"width": width, "height": height}}}
    labels = task_input.get("modelLabels") or []
    if applied == "correct":
        labels = [lab for lab in labels if float(lab.get("confidence", 100)) >= 50]
    return {MODERATION_KEY: {"moderationLabels": [{"name": lab["name"], "parentName": lab.get("parentName", "")} for lab in labels]}}


class SimulatedReviewers:
    """Background simulated reviewers working the given queues through the worker portal (demo/test only)."""

    def __init__(
        self,
        review_url: str,
        flow_definition_names: list[str],
        *,
        policy: str = "agree",
        delay_seconds: float = 0.0,
        workers: int = 1,
        seed: int = 0,
        poll_seconds: float = 0.1,
        auth_headers: dict[str, str] | None = None,
    ):
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; use one of {', '.join(POLICIES)}")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.review_url = review_url.rstrip("/")
        self.flow_definition_names = list(flow_definition_names)
        self.policy, self.delay_seconds, self.workers, self.seed = policy, delay_seconds, workers, seed
        self.poll_seconds = poll_seconds
        # e.g. {"Authorization": "Bearer ..."} behind Airflow's auth, where the Airflow user is the worker
        self.auth_headers = dict(auth_headers or {})
        self.submissions: list[Submission] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def answered(self) -> int:
        with self._lock:
            return len(self.submissions)

    @property
    def worker_ids(self) -> list[str]:
        return [f"simulated-reviewer-{i}" for i in range(1, self.workers + 1)]

    def start(self) -> "SimulatedReviewers":
        if self._threads:
            return self
        self._stop.clear()
        for worker_id in self.worker_ids:
            t = threading.Thread(target=self._run, args=(worker_id,), name=worker_id, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    def __enter__(self) -> "SimulatedReviewers":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until at least `count` answers were submitted."""
        deadline = time.monotonic() + timeout
        while self.answered < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    # ---- one simulated person ---------------------------------------------------------------

    def _run(self, worker_id: str) -> None:
        with httpx.Client(base_url=self.review_url, timeout=30.0, headers=self.auth_headers) as client:
            signed_in = bool(self.auth_headers)
            while not self._stop.is_set():
                try:
                    if not signed_in:
                        r = client.post("/worker/login", data={"worker_id": worker_id})
                        if r.status_code not in (200, 303):
                            raise RuntimeError(f"sign-in failed: HTTP {r.status_code}")
                        signed_in = True
                    worked = False
                    for name in self.flow_definition_names:
                        if self._stop.is_set():
                            return
                        worked |= self._work_one(client, worker_id, name)
                    if not worked:
                        self._stop.wait(self.poll_seconds)
                except (httpx.HTTPError, RuntimeError) as e:
                    with self._lock:
                        self.errors.append(f"{worker_id}: {e}")
                    log.debug("simulated reviewer %s: %s", worker_id, e)
                    signed_in = bool(self.auth_headers)
                    self._stop.wait(max(self.poll_seconds, 0.2))

    def _work_one(self, client: httpx.Client, worker_id: str, flow_name: str) -> bool:
        r = client.post(f"/worker/api/queues/{flow_name}/claim")
        if r.status_code == 204:
            return False
        if r.status_code == 401:
            raise RuntimeError("not signed in")
        r.raise_for_status()
        task = r.json()
        # Read the task as a browser would, and take the bounding-box answer's name from the page.
        page = client.get(httpx.URL(self.review_url + "/").join(task["taskUrl"]))
        box_name = DEFAULT_BOX_NAME
        if page.status_code == 200:
            m = _BOX_NAME.search(page.text)
            if m:
                box_name = m.group(1)
        loop_name = task["humanLoopName"]
        applied = decide(self.policy, loop_name, self.seed)
        answer = build_answer(task["input"] if isinstance(task["input"], dict) else {}, applied, loop_name, self.seed, box_name)
        if self.delay_seconds:
            if self._stop.wait(self.delay_seconds):
                client.post(f"/worker/api/tasks/{task['taskId']}/release")
                return False
        r = client.post(f"/worker/api/tasks/{task['taskId']}/submit", json={"answerContent": answer})
        if r.status_code != 200:
            with self._lock:
                self.errors.append(f"{worker_id}: submit {loop_name}: HTTP {r.status_code} {r.text[:200]}")
            return False
        with self._lock:
            self.submissions.append(Submission(worker_id, flow_name, loop_name, applied, answer))
        return True
