"""A local receiver of signed notifications, for the demo: it checks each delivery's
Standard Webhooks signature and timestamp (adapters.webhooks), refuses what fails (401),
and keeps each `webhook-id` once, as the spec asks receivers to."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from adapters.errors import InvalidSignatureError
from adapters.webhooks import verify_standard_webhook

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Received:
    id: str
    type: str
    data: dict[str, Any]
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass
class AlertReceiver:
    """`with AlertReceiver(secret) as receiver:` listens on 127.0.0.1 at `receiver.url`."""

    secret: str = field(repr=False)
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why each refused delivery was refused
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the receiver is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    def __enter__(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def take(self, headers: dict[str, str], body: bytes) -> int:
        """Verify one delivery; the HTTP status to answer."""
        try:
            message_id = verify_standard_webhook(headers, body, self.secret)
        except InvalidSignatureError as exc:
            with self._lock:
                self.refused.append(str(exc))
            return 401
        document = json.loads(body)
        with self._lock:
            if all(seen.id != message_id for seen in self.received):
                self.received.append(
                    Received(message_id, document["type"], document["data"], headers, body)
                )
                self._lock.notify_all()
        return 204


def _handler(receiver: AlertReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = min(int(self.headers.get("content-length") or 0), MAX_BODY)
            status = receiver.take(dict(self.headers.items()), self.rfile.read(length))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the demo says what arrived."""

    return Handler
