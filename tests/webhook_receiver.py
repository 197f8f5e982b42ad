"""A real HTTP receiver of outgoing webhooks (notifications) on loopback, for tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: The path of the receiver's URL: shaped like a Slack webhook's secret part.
SECRET_PATH = "/services/T000/B000/not-a-real-secret-token"


class Receiver:
    """A webhook receiver that fails its first ``fail`` requests with 500, then takes them."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.received: list[dict[str, Any]] = []
        self.refused = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.fail > 0:
                    outer.fail -= 1
                    outer.refused += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                outer.received.append(
                    {"body": json.loads(body), "key": self.headers["Idempotency-Key"]}
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{SECRET_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
