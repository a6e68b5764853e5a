"""SIMULATED reviewers, for the demo and the tests only: never use them for real review.

Each simulated worker is a background thread that behaves like a person in a browser, through the
worker portal's HTTP interface only (sign in, claim the next task, open the task page, submit the
answer). It never touches the review service's store.

Policies:
- ``truth`` (the demo's): answer from the sample photos' answer key (samples.FACES, MODERATION):
  box every real face, tick only the categories the image shows, whatever the model said; with
  ``error_rate`` (deterministic per loop) a reviewer slips: misses a face or keeps the model's
  wrong box, ticks a category the image does not show. Images not in the key get ``agree``.
- ``agree``: answer exactly what the model claimed (labels and boxes at or above its threshold);
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

POLICIES = ("truth", "agree", "correct", "mixed")
# api: post answers through the worker JSON API; browser: answer through the real task page in
# Chromium (Playwright), so a page that does not work fails the run.
MODES = ("api", "browser")
CHROMIUM = "/usr/bin/chromium"
# headless Chromium as a container runs it: no sandbox, no GPU, nothing fetched in the background
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run")
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
    """The policy applied to one loop: 'truth', 'agree' or 'correct'."""
    if policy == "mixed":
        return "agree" if _fraction(seed, loop_name, "mixed") < 0.7 else "correct"
    return policy


def nudge(seed: int, loop_name: str, i: int) -> tuple[int, int]:
    """The few pixels a correcting reviewer moves the model's box `i` by (never zero)."""
    dx = int(_fraction(seed, loop_name, f"dx{i}") * 9) - 4 or 2
    dy = int(_fraction(seed, loop_name, f"dy{i}") * 9) - 4 or -2
    return dx, dy


def truthful_answer(task_input: dict[str, Any], truth: dict[str, list], loop_name: str, seed: int = 0,
                    error_rate: float = 0.0, box_name: str = DEFAULT_BOX_NAME) -> dict[str, Any]:
    """What a careful reviewer answers from the answer key; with `error_rate`, one slip per loop."""
    slip = _fraction(seed, loop_name, "slip") < error_rate
    if "initialValue" in task_input:
        width, height = task_input.get("imageWidth") or 0, task_input.get("imageHeight") or 0
        boxes = [{"label": "face", **b} for b in truth["faces"]]
        if slip and boxes:
            boxes = boxes[1:]  # missed a face
        elif slip and task_input.get("initialValue"):  # kept the model's wrong box
            b = task_input["initialValue"][0]
            boxes = [{"label": b.get("label", "face"), **{k: int(round(b[k])) for k in ("left", "top", "width", "height")}}]
        from human_review.reports.consolidation import iou

        model = [{k: int(round(b[k])) for k in ("left", "top", "width", "height")} for b in task_input.get("initialValue") or []]
        for i, box in enumerate(boxes):  # a pre-drawn box that fits the face well is left where it is
            fit = next((m for m in model if iou(m, box) >= 0.7), None)
            if fit is not None:
                boxes[i] = {"label": box["label"], **fit}
        # crowd-bounding-box's shape: initialValueModified on the answer, not on each box
        modified = bool(model) and sorted(map(str, model)) != sorted(
            str({k: b[k] for k in ("left", "top", "width", "height")}) for b in boxes)
        return {box_name: {"boundingBoxes": boxes, "initialValueModified": modified,
                           "inputImageProperties": {"width": width, "height": height}}}
    labels = list(truth["moderation"])
    if slip:
        categories = list(task_input.get("labelCategories") or ["Suggestive"])
        extra = categories[int(_fraction(seed, loop_name, "which") * len(categories))]
        labels = sorted(set(labels) ^ {extra})
    return {MODERATION_KEY: {"moderationLabels": [{"name": n, "parentName": ""} for n in labels]}}


def build_answer(task_input: dict[str, Any], applied: str, loop_name: str, seed: int = 0,
                 box_name: str = DEFAULT_BOX_NAME, error_rate: float = 0.0) -> dict[str, Any]:
    """The answerContent a reviewer following `applied` ('truth'/'agree'/'correct') would submit."""
    if applied == "truth":
        from human_review_dev.samples import answer_key

        truth = answer_key(str(task_input.get("objectKey") or task_input.get("taskObject") or ""))
        if truth is not None:
            return truthful_answer(task_input, truth, loop_name, seed, error_rate, box_name)
        applied = "agree"
    if "initialValue" in task_input:
        width, height = task_input.get("imageWidth") or 0, task_input.get("imageHeight") or 0
        boxes = []
        for i, b in enumerate(task_input.get("initialValue") or []):
            box = {k: int(round(b[k])) for k in ("left", "top", "width", "height")}
            if applied == "correct":
                if float(b.get("confidence", 100)) < 50:
                    continue
                dx, dy = nudge(seed, loop_name, i)
                box["left"] = max(0, box["left"] + dx)
                box["top"] = max(0, box["top"] + dy)
                if width:
                    box["width"] = max(1, min(box["width"], width - box["left"]))
                if height:
                    box["height"] = max(1, min(box["height"], height - box["top"]))
            boxes.append({"label": b.get("label", "object"), **box})
        # crowd-bounding-box's shape: initialValueModified on the answer, not on each box
        return {box_name: {"boundingBoxes": boxes, "initialValueModified": applied == "correct",
                           "inputImageProperties": {"width": width, "height": height}}}
    # the model's claims (labels at or above its decision threshold) are pre-checked; agree keeps them
    labels = [lab for lab in task_input.get("modelLabels") or [] if lab.get("claimed", True)]
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
        error_rate: float = 0.05,
        delay_seconds: float = 0.0,
        workers: int = 1,
        seed: int = 0,
        poll_seconds: float = 0.1,
        auth_headers: dict[str, str] | None = None,
        mode: str = "api",
        chromium: str = CHROMIUM,
    ):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; use one of {', '.join(POLICIES)}")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.review_url = review_url.rstrip("/")
        self.flow_definition_names = list(flow_definition_names)
        if not 0 <= error_rate <= 1:
            raise ValueError("error_rate must be between 0 and 1")
        self.policy, self.delay_seconds, self.workers, self.seed = policy, delay_seconds, workers, seed
        self.error_rate = error_rate
        self.poll_seconds = poll_seconds
        # e.g. {"Authorization": "Bearer ..."} behind Airflow's auth, where the Airflow user is the worker
        self.auth_headers = dict(auth_headers or {})
        self.mode, self.chromium = mode, chromium
        self.submissions: list[Submission] = []
        self.errors: list[str] = []
        # set when the portal refuses to sign a reviewer in (401/403): retrying cannot help, so the
        # reviewers stop and `raise_if_refused()` tells the caller why instead of a silent empty queue
        self.refused: str | None = None
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
            target = self._run_browser if self.mode == "browser" else self._run
            t = threading.Thread(target=target, args=(worker_id,), name=worker_id, daemon=True)
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

    def raise_if_refused(self) -> None:
        """Raise if the portal refused sign-in: nobody will answer, so waiting for answers is pointless."""
        if self.refused:
            raise RuntimeError(f"simulated reviewers cannot work at {self.review_url}: {self.refused}")

    def _refuse(self, worker_id: str, status: int) -> None:
        msg = (f"sign-in refused (HTTP {status}) for {worker_id}: name-only sign-in is off on this portal "
               "(a dev stack sets HUMAN_REVIEW_PORTAL_OPEN_SIGN_IN=true; a shared portal needs auth_headers)")
        with self._lock:
            self.refused = msg
            self.errors.append(msg)
        log.error("simulated reviewers: %s", msg)
        self._stop.set()

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until at least `count` answers were submitted."""
        deadline = time.monotonic() + timeout
        while self.answered < count:
            self.raise_if_refused()
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
                        if r.status_code in (401, 403):
                            return self._refuse(worker_id, r.status_code)
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

    def _run_browser(self, worker_id: str) -> None:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=self.chromium, args=list(CHROMIUM_ARGS))
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 1000},
                                              extra_http_headers=self.auth_headers or None)
                page = context.new_page()
                page_errors: list[str] = []
                page.on("pageerror", lambda e: page_errors.append(str(e)))
                signed_in = bool(self.auth_headers)
                while not self._stop.is_set():
                    try:
                        if not signed_in:
                            page.goto(f"{self.review_url}/worker/")
                            page.fill("input[name=worker_id]", worker_id)
                            page.click("button[type=submit]")
                            page.wait_for_selector("text=Queues")
                            signed_in = True
                        worked = False
                        for name in self.flow_definition_names:
                            if self._stop.is_set():
                                return
                            worked |= self._work_one_in_page(page, page_errors, worker_id, name)
                        if not worked:
                            self._stop.wait(self.poll_seconds)
                    except (PlaywrightError, RuntimeError) as e:
                        with self._lock:
                            self.errors.append(f"{worker_id}: {e}")
                        log.debug("simulated reviewer %s: %s", worker_id, e)
                        signed_in = bool(self.auth_headers)
                        self._stop.wait(max(self.poll_seconds, 0.2))
            finally:
                browser.close()

    def _work_one_in_page(self, page, page_errors: list[str], worker_id: str, flow_name: str) -> bool:
        """Claim the queue's next task (the JSON API, with the page's session) and answer it on its page."""
        from playwright.sync_api import Error as PlaywrightError

        r = page.request.post(f"{self.review_url}/worker/api/queues/{flow_name}/claim")
        if r.status == 204:
            return False
        if r.status == 401:
            raise RuntimeError("not signed in")
        if not r.ok:
            raise RuntimeError(f"claim {flow_name}: HTTP {r.status}")
        task = r.json()
        loop_name = task["humanLoopName"]
        task_input = task["input"] if isinstance(task["input"], dict) else {}
        page.goto(self.review_url + task["taskUrl"].removeprefix(self._prefix()))
        page.wait_for_function("() => window.__humanReviewCrowdReady === true")
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('#hr-task img')).every(i => i.complete && i.naturalWidth > 0)")
        if page.locator(".hr-unsupported").count():
            raise RuntimeError(f"{flow_name}: the task page warns: {page.inner_text('.hr-unsupported')}")
        applied = decide(self.policy, loop_name, self.seed)
        if self.delay_seconds and self._stop.wait(self.delay_seconds):
            page.request.post(f"{self.review_url}/worker/api/tasks/{task['taskId']}/release")
            return False
        if page.locator("crowd-bounding-box").count():
            self._answer_boxes(page, task_input, applied, loop_name)
        elif page.locator("crowd-rekognition-detect-moderation-labels").count():
            self._answer_moderation(page, task_input, applied)
        else:
            raise RuntimeError(f"{flow_name}: no element the simulated reviewer knows how to answer")
        answer = page.evaluate("() => document.querySelector('crowd-form').collect()")
        task_page = page.url
        page.click("button.hr-submit")
        try:
            # submitted: the page moves on (to the next task it claims, or to the queues)
            page.wait_for_url(lambda url: url != task_page, timeout=15000)
        except PlaywrightError:
            pass
        if page.url == task_page:
            with self._lock:
                self.errors.append(f"{worker_id}: submit {loop_name}: {page.inner_text('.hr-status')}")
            return False
        if page_errors:
            with self._lock:
                self.errors.extend(f"{worker_id}: {loop_name}: page error: {e}" for e in page_errors)
            page_errors.clear()
        with self._lock:
            self.submissions.append(Submission(worker_id, flow_name, loop_name, applied, answer))
        return True

    def _prefix(self) -> str:
        """The path the review service is mounted under (taskUrl starts with it)."""
        from urllib.parse import urlsplit

        return urlsplit(self.review_url).path.rstrip("/")

    def _answer_boxes(self, page, task_input: dict[str, Any], applied: str, loop_name: str) -> None:
        """agree: keep the model's boxes; correct: delete those under 50% confidence, nudge the rest."""
        if applied != "correct":
            return
        initial = task_input.get("initialValue") or []
        scale = page.evaluate("() => document.querySelector('crowd-bounding-box').scale()")
        stage = page.locator("crowd-bounding-box .hr-stage")
        stage.scroll_into_view_if_needed()
        # delete from the last so the page's box indexes stay those of the input
        for i in reversed(range(len(initial))):
            if float(initial[i].get("confidence", 100)) < 50:
                page.evaluate("(i) => { const e = document.querySelector('crowd-bounding-box'); e.selected = i; e.deleteSelected(); }", i)
        kept = [b for b in initial if float(b.get("confidence", 100)) >= 50]
        for j, b in enumerate(kept):
            i = initial.index(b)
            dx, dy = nudge(self.seed, loop_name, i)
            box = page.locator("crowd-bounding-box .hr-box").nth(j).bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + dx * scale, y + dy * scale, steps=4)
            page.mouse.up()

    def _answer_moderation(self, page, task_input: dict[str, Any], applied: str) -> None:
        """Tick the model's labels (correct: only those at 50% confidence or more), or None of these."""
        labels = task_input.get("modelLabels") or []
        if applied == "correct":
            labels = [lab for lab in labels if float(lab.get("confidence", 100)) >= 50]
        names = [lab["name"] for lab in labels]
        ticked = page.evaluate("""(names) => {
            const el = document.querySelector('crowd-rekognition-detect-moderation-labels');
            let n = 0;
            el.checkboxes.forEach(cb => { if (names.includes(cb.dataset.name)) { cb.click(); n++; } });
            if (!n) el.none.click();
            return n; }""", names)
        if ticked != len(set(names)):
            raise RuntimeError(f"the moderation task does not offer every label the model found: {names}")

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
        answer = build_answer(task["input"] if isinstance(task["input"], dict) else {}, applied, loop_name, self.seed,
                              box_name, self.error_rate)
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
