"""Run an ASGI app with uvicorn in a daemon thread (tests, the demo, `local_stack`)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn


class RunningServer:
    def __init__(self, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket, host: str, port: int):
        self._server, self._thread, self._sock = server, thread, sock
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}"

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, timeout: float = 15.0) -> RunningServer:
    """Start uvicorn on host:port (0 = a free port) in a daemon thread; return once it accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, host=host, port=bound_port, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as e:  # noqa: BLE001 - reported to the caller below
            errors.append(e)

    thread = threading.Thread(target=run, name=f"uvicorn-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if errors or not thread.is_alive():
            sock.close()
            raise RuntimeError(f"the server did not start: {errors[0] if errors else 'thread exited'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise TimeoutError(f"the server on {host}:{bound_port} did not start within {timeout} s")
        time.sleep(0.01)
    return RunningServer(server, thread, sock, host, bound_port)
