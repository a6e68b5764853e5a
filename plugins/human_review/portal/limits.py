"""A cap on request bodies, enforced before anything reads them.

The runtime API checks SigV4 only after reading the body it signs, so without a cap a 300 MB body
with a bad signature is read (and held) in full before it is refused. This ASGI middleware answers
413 at once when ``Content-Length`` exceeds the cap, and stops a chunked body the moment it
passes the cap, so at most `max_bytes` are ever read.
"""

from __future__ import annotations

import json


class BodyTooLarge(Exception):
    """The request body passed the cap while it was being read."""


def _is_a2i_api(path: str) -> bool:
    return "/worker" not in path


def refusal(path: str, max_bytes: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The 413 answer: an A2I ValidationException on the runtime API, ``{"detail": ...}`` on the portal."""
    message = f"The request body is larger than {max_bytes} bytes."
    if _is_a2i_api(path):
        body = json.dumps({"__type": "ValidationException", "message": message}).encode()
        ctype = b"application/x-amz-json-1.1"
    else:
        body = json.dumps({"detail": message}).encode()
        ctype = b"application/json"
    return 413, [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), (b"connection", b"close")], body


class BodySizeLimit:
    """Wrap an ASGI app: refuse bodies over `max_bytes` (413) before reading them."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope, send) -> None:
        status, headers, body = refusal(scope.get("path", ""), self.max_bytes)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    return await self._refuse(scope, send)
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send)
