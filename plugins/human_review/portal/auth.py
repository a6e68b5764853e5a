"""Who may sign in to the standalone portal, and the CSRF rule of every state-changing request.

Standalone sign-in takes a name and a password checked against a users file of ``name:hash`` lines
(hashes from `hash_password`: scrypt, salted); or, only when `proxy_user_header` is configured, the
user a trusted reverse proxy (OIDC, mTLS) names in that header; or, in dev stacks only, any name
(`open_sign_in`). Inside Airflow none of this applies: the auth manager decides.

A session is a signed cookie with an id and an expiry; signing out revokes the id (kept in memory
until the cookie would have expired anyway, so a revoked session stays revoked while the process
runs; a restart with a fixed secret leaves it valid until its expiry at most).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Request

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`` for a users file line ``name:<this>``."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt)}${b64(digest)}"


def check_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(base64.b64decode(digest)))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


class UsersFileError(ValueError):
    """A users file line that is not ``name:scrypt$...``."""


def read_users(path: Path) -> dict[str, str]:
    """``{name: hash}`` from a users file; blank lines and ``#`` comments are skipped."""
    users: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, encoded = line.partition(":")
        if not sep or not encoded.startswith("scrypt$"):
            raise UsersFileError(f"{path}:{number}: expected name:scrypt$... (make one with human_review.portal.auth.hash_password; see docs/security.md)")
        users[name.strip()] = encoded.strip()
    return users


# A fixed hash to compare against when the name is unknown, so a wrong name costs as long as a
# wrong password (no user enumeration by timing).
_DUMMY = hash_password("not-a-password", salt=b"\0" * 16)


def authenticate(users: dict[str, str], name: str, password: str) -> bool:
    encoded = users.get(name)
    ok = check_password(password, encoded or _DUMMY)
    return ok and encoded is not None


class Revoked:
    """Session ids signed out before their expiry (in memory; entries leave once they expire)."""

    def __init__(self) -> None:
        self._ids: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, session_id: str, expires_at: float) -> None:
        now = time.time()
        with self._lock:
            self._ids = {k: v for k, v in self._ids.items() if v > now}
            self._ids[session_id] = expires_at

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._ids


# ---- CSRF -----------------------------------------------------------------------------------------

def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site_refusal(request: Request, trusted_origins: tuple[str, ...] = ()) -> str | None:
    """Why a state-changing request is refused as cross-site, or None when it may proceed.

    Browsers send ``Origin`` on every POST and ``Sec-Fetch-Site`` on every request; a form or fetch
    from another site carries that site's origin. Scripts (httpx, boto3) send neither and carry no
    ambient credentials a third-party page could borrow, so they pass."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}".lower()
    allowed = {own, *(o.lower().rstrip("/") for o in trusted_origins)}
    if origin is not None and (origin == "null" or _origin_of(origin) not in allowed):
        return f"Cross-site request refused: Origin {origin} is not this portal ({own})."
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none") and origin is None:
        return f"Cross-site request refused (Sec-Fetch-Site: {site})."
    return None
