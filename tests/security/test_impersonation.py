"""Attack: on the standalone portal, claim and answer another reviewer's held task under their name.

Before: any name signed in without a password and ``X-Worker-Id: alice`` was accepted by default, so
anyone who reached the portal acted as alice. After: sign-in checks a hashed password from the users
file, X-Worker-Id is ignored unless a test flag turns it on, sessions expire and end at sign-out."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from human_review.portal.context import COOKIE
from human_review.portal.tokens import session_token

from .conftest import moderation_doc

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("security_portal")]


def test_a_name_alone_does_not_sign_in(portal):
    with httpx.Client(base_url=portal.url) as mallory:
        r = mallory.post("/worker/login", data={"worker_id": "alice"})
        assert r.status_code == 401 and COOKIE not in r.cookies
        r = mallory.post("/worker/login", data={"worker_id": "alice", "password": "guess"})
        assert r.status_code == 401 and COOKIE not in r.cookies
        # an unknown name costs the same refusal (no user enumeration)
        assert mallory.post("/worker/login", data={"worker_id": "zed", "password": "x"}).status_code == 401
        assert "Sign in" in mallory.get("/worker/").text


def test_x_worker_id_is_not_an_identity(portal):
    name = portal.start("content-moderation", moderation_doc(f"s3://{portal.bucket}/incoming/a.png"))
    alice = portal.sign_in("alice")
    task = portal.claim(alice, "content-moderation", name)
    with httpx.Client(base_url=portal.url, headers={"X-Worker-Id": "alice"}) as mallory:
        assert mallory.get("/worker/api/queues").status_code == 401
        r = mallory.post(f"/worker/api/tasks/{task['taskId']}/submit",
                         json={"answerContent": {"AWS/Rekognition/DetectModerationLabels/Image/V3": {"moderationLabels": []}}})
        assert r.status_code == 401
        assert mallory.get(f"/worker/tasks/{task['taskId']}", follow_redirects=False).status_code == 303
    # the real alice still holds it and answers it
    r = alice.post(f"/worker/api/tasks/{task['taskId']}/submit",
                   json={"answerContent": {"AWS/Rekognition/DetectModerationLabels/Image/V3": {"moderationLabels": []}}})
    assert r.status_code == 200, r.text
    alice.close()


def test_another_reviewer_cannot_answer_a_held_task(portal):
    name = portal.start("content-moderation", moderation_doc(f"s3://{portal.bucket}/incoming/b.png"))
    alice, bob = portal.sign_in("alice"), portal.sign_in("bob")
    task = portal.claim(alice, "content-moderation", name)
    r = bob.post(f"/worker/api/tasks/{task['taskId']}/submit",
                 json={"answerContent": {"AWS/Rekognition/DetectModerationLabels/Image/V3": {"moderationLabels": []}}})
    assert r.status_code in (403, 404, 409), r.text
    alice.post(f"/worker/api/tasks/{task['taskId']}/release")
    alice.close(), bob.close()


def test_sign_out_ends_the_session_even_for_a_copied_cookie(portal):
    alice = portal.sign_in("alice")
    stolen = alice.cookies[COOKIE]
    assert alice.get("/worker/api/queues").status_code == 200
    alice.post("/worker/logout")
    with httpx.Client(base_url=portal.url, cookies={COOKIE: stolen}) as thief:
        assert thief.get("/worker/api/queues").status_code == 401
    alice.close()


def test_sessions_expire(portal):
    svc = portal.service
    expired = session_token(svc.secret, "alice", ttl_seconds=-1)
    with httpx.Client(base_url=portal.url, cookies={COOKIE: expired}) as c:
        assert c.get("/worker/api/queues").status_code == 401
    # the cookie of a real sign-in carries an expiry no later than the configured TTL
    alice = portal.sign_in("alice")
    payload = json.loads(__import__("base64").urlsafe_b64decode(alice.cookies[COOKIE].split(".")[0] + "=="))
    assert payload["e"] <= time.time() + svc.settings.session_ttl_seconds + 1
    alice.close()


def test_an_old_unexpiring_session_cookie_is_refused(portal):
    # the cookie the old code issued: {"w": name}, no id, no expiry
    from human_review.portal.tokens import sign

    with httpx.Client(base_url=portal.url, cookies={COOKIE: sign(portal.service.secret, {"w": "alice"})}) as c:
        assert c.get("/worker/api/queues").status_code == 401


def test_a_portal_without_users_lets_nobody_in(tmp_path):
    from human_review_dev.stack import local_stack

    with local_stack(tmp_path, open_sign_in=False, allow_worker_id_header=False) as s:
        r = httpx.post(f"{s.review_url}/worker/login", data={"worker_id": "alice"})
        assert r.status_code == 403 and "no users configured" in r.text
        assert httpx.get(f"{s.review_url}/worker/api/queues", headers={"X-Worker-Id": "alice"}).status_code == 401


def test_defaults_are_closed():
    from human_review.portal.settings import PortalSettings

    s = PortalSettings.from_env({})
    assert not s.allow_worker_id_header and not s.open_sign_in and s.users_file is None
    assert not s.expose_docs


def test_proxy_header_only_when_configured(tmp_path):
    from human_review_dev.stack import local_stack

    with local_stack(tmp_path, open_sign_in=False, allow_worker_id_header=False,
                     proxy_user_header="X-Forwarded-User") as s:
        r = httpx.get(f"{s.review_url}/worker/api/queues", headers={"X-Forwarded-User": "carol"})
        assert r.status_code == 200 and r.json()["workerId"] == "carol"
        # with a proxy configured, the portal's own sign-in is off
        assert httpx.post(f"{s.review_url}/worker/login", data={"worker_id": "carol"}).status_code == 404
    with local_stack(tmp_path / "b", open_sign_in=False, allow_worker_id_header=False) as s:
        r = httpx.get(f"{s.review_url}/worker/api/queues", headers={"X-Forwarded-User": "carol"})
        assert r.status_code == 401
