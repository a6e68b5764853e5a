"""Signed tokens of the worker portal: the session cookie and the image-proxy links.

A token is ``base64url(JSON payload) "." base64url(HMAC-SHA256)`` under the service's secret; it is
readable by anyone and forgeable by no one who lacks the secret. An image token names one object,
expires, and is bound to the reviewer and the task whose page carried it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def unsign(secret: bytes, token: str) -> dict[str, Any] | None:
    """The payload of a token signed with `secret`, or None if it was not, or is malformed."""
    try:
        body, mac = token.split(".", 1)
        expected = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac, expected):
            return None
        data = json.loads(_unb64(body))
        return data if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None


# ---- sessions ---------------------------------------------------------------------------------


def session_token(secret: bytes, worker_id: str, ttl_seconds: int = 8 * 3600) -> str:
    """A session for `worker_id` with its own id (what sign-out revokes) and an expiry."""
    import secrets

    return sign(secret, {"w": worker_id, "s": secrets.token_hex(16), "e": int(time.time()) + ttl_seconds})


def session_data(secret: bytes, token: str) -> dict[str, Any] | None:
    """A signed, unexpired session's payload (``w`` worker, ``s`` id, ``e`` expiry), or None."""
    data = unsign(secret, token)
    if not data or not isinstance(data.get("w"), str) or not isinstance(data.get("s"), str):
        return None
    if not isinstance(data.get("e"), int) or data["e"] < time.time():
        return None
    return data


def session_worker(secret: bytes, token: str) -> str | None:
    """The worker id an unexpired session token was issued to (not yet checked against WORKER_ID), or None."""
    data = session_data(secret, token)
    return data["w"] if data else None


# ---- images -----------------------------------------------------------------------------------


def image_token(secret: bytes, s3_uri: str, ttl_seconds: int, *, worker_id: str = "", task_id: str = "") -> str:
    """A short-lived token for one object, bound to the reviewer and the task that references it."""
    bucket, _, key = s3_uri.removeprefix("s3://").partition("/")
    return sign(secret, {"b": bucket, "k": key, "e": int(time.time()) + ttl_seconds, "w": worker_id, "t": task_id})
