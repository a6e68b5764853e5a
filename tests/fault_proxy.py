"""A small fault-injecting HTTP proxy in front of a local service (moto's S3, the review service).

    with FaultProxy(stack.s3_endpoint_url) as proxy:
        proxy.fail(lambda method, path: method == "GET" and "photo.png" in path, times=2)  # two 503s
        ...   # point the AWS connection's endpoint at proxy.url

It answers what the rule matches with S3's real `503 SlowDown` error document (or a 500), and
forwards everything else unchanged. Used for faults a stopped server cannot produce: a service that
answers, but with "slow down".
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self._rule: Callable[[str, str], bool] | None = None
        self._times: int | None = None
        self._lock = threading.Lock()
        self.injected = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy._should_fail(self.command, self.path):
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(SLOW_DOWN)
                    return
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                head = self.command == "HEAD"  # no body, but the object's real length
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection") and (head or k.lower() != "content-length"):
                        self.send_header(k, v)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def fail(self, rule: Callable[[str, str], bool] | None, times: int | None = None) -> None:
        """Answer requests matching `rule(method, path)` with 503 SlowDown (`times` of them; None: all)."""
        with self._lock:
            self._rule, self._times = rule, times

    def _should_fail(self, method: str, path: str) -> bool:
        with self._lock:
            if self._rule is None or not self._rule(method, path):
                return False
            if self._times is not None:
                if self._times <= 0:
                    return False
                self._times -= 1
            self.injected += 1
            return True

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
