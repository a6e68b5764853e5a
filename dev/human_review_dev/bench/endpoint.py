"""A stand-in SageMaker real-time endpoint for the pipeline bench, in its own process.

`python -m human_review_dev.bench.endpoint --port 0 --latency-ms 20 --fault-rate 0.01` serves
InvokeEndpoint (`POST /endpoints/<name>/invocations`) like the built-in Object Detection
algorithm (SSD): it sleeps `latency-ms` (the model's time, not CPU), then answers
`{"prediction": [[class_id, score, xmin, ymin, xmax, ymax], ...]}`. The detections are a
function of the request's bytes, so a rerun gets the same answer; about `flag_rate` of the images
get a detection scored in [0.3, 0.6) (the pipeline's review threshold is 0.6). Bytes that are not
a JPEG/PNG get a 400 ModelError, like a real container; `fault-rate` of the calls get a 500
InternalFailure (transient: clients retry). The port it listens on is printed on stdout's first line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def detections(body: bytes, flag_rate: float) -> list[list[float]]:
    seed = int.from_bytes(hashlib.blake2b(body, digest_size=8).digest(), "big")
    rnd = random.Random(seed)
    out = []
    for _ in range(rnd.randint(1, 3)):
        x, y = rnd.uniform(0, 0.6), rnd.uniform(0, 0.6)
        out.append([float(rnd.randrange(20)), round(rnd.uniform(0.62, 0.99), 3), x, y, x + 0.3, y + 0.3])
    if rnd.random() < flag_rate:
        out[0][1] = round(rnd.uniform(0.3, 0.59), 3)
    return out


def make_handler(latency_s: float, fault_rate: float, flag_rate: float):
    faults = random.Random(7)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, status: int, doc: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not (self.path.startswith("/endpoints/") and self.path.endswith("/invocations")):
                return self._send(404, {"message": f"no such path {self.path}"})
            time.sleep(latency_s)
            if fault_rate and faults.random() < fault_rate:
                return self._send(500, {"message": "injected fault"}, {"x-amzn-ErrorType": "InternalFailure"})
            if not (body[:2] == b"\xff\xd8" and body[-2:] == b"\xff\xd9") and not body.startswith(b"\x89PNG"):
                return self._send(400, {"message": "unable to decode the input image", "OriginalStatusCode": 400},
                                  {"x-amzn-ErrorType": "ModelError"})
            self._send(200, {"prediction": detections(body, flag_rate)},
                       {"x-Amzn-Invoked-Production-Variant": "AllTraffic"})

    return Handler


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--flag-rate", type=float, default=0.05)
    args = p.parse_args(argv)
    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address) -> None:  # a client that went away: not news
            pass

    server = Server(("127.0.0.1", args.port),
                                 make_handler(args.latency_ms / 1000, args.fault_rate, args.flag_rate))
    server.daemon_threads = True
    server.request_queue_size = 128
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
