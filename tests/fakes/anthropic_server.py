"""A fake Anthropic Messages API (POST /v1/messages), scriptable per `x-api-key`.

with FakeAnthropicServer() as server:                 # base URL: server.base_url
    server.script("sk-ant-a", Fault.overloaded())     # 529 overloaded_error
    server.replies["claude-test"] = "hello"

`stream: true` answers with the named events of the streaming docs: message_start,
content_block_start, ping, a content_block_delta per word, content_block_stop, message_delta
(stop reason, output tokens), message_stop; `Fault.stream_*` break it (`event: error`).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.openai_server import stream_pieces
from tests.fakes.server import FakeServer, Fault, json_response, sse

__all__ = ["FakeAnthropicServer", "Fault"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class FakeAnthropicServer(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.replies: dict[str, str] = {}
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return self.url  # like https://api.anthropic.com: the paths carry /v1

    def reset(self) -> None:
        super().reset()
        self.replies.clear()

    def routes(self) -> list[Route]:
        return [Route("/v1/messages", self._messages, methods=["POST"])]

    def key_of(self, request: Request) -> str | None:
        return request.headers.get("x-api-key")

    def render_fault(self, fault: Fault, key: str | None) -> Response:
        status = fault.status or 500
        kind = fault.type if fault.type in _ERROR_TYPES.values() else None
        error = {"type": kind or _ERROR_TYPES.get(status, "api_error"), "message": fault.message}
        if status == 400 and fault.code == "context_length_exceeded":
            error["message"] = "prompt is too long: 210000 tokens > 200000 maximum"
        body = {"type": "error", "error": error, "request_id": f"req_fake{next(self._ids)}"}
        return json_response(body, status, fault.headers)

    async def _messages(self, request: Request) -> Response:
        key, body, fault, stream_fault = await self.intercept_stream(request)
        if fault is not None:
            return fault
        if key is None:
            return self.render_fault(Fault(401, message="x-api-key header is required"), key)
        if "anthropic-version" not in request.headers:
            return self.render_fault(Fault(400, message="anthropic-version is required"), key)
        payload = json.loads(body)
        if not payload.get("messages") or "max_tokens" not in payload:
            return self.render_fault(Fault(400, message="messages and max_tokens required"), key)
        last = payload["messages"][-1]["content"]
        text = self.replies.get(payload["model"], f"echo: {last}")
        reset = (datetime.now(UTC) + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
        message = {
            "id": f"msg_fake{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": payload["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": len(str(payload["messages"]).split()), "output_tokens": 3},
        }
        headers = {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-reset": reset,
        }
        if payload.get("stream") is True:
            events = _events(message, text)
            return self.event_stream(events, stream_fault, self._error_event, headers=headers)
        return json_response(message, headers=headers)

    def _error_event(self, fault: Fault) -> bytes:
        kind = fault.type if fault.type in _ERROR_TYPES.values() else "api_error"
        body = {"type": "error", "error": {"type": kind, "message": fault.message}}
        return sse({**body, "request_id": f"req_fake{next(self._ids)}"}, "error")


def _events(message: dict[str, Any], text: str) -> list[bytes]:
    """The streamed form of `message`: usage split as the API reports it (input tokens at the
    start, the output count in message_delta)."""
    usage = message["usage"]
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
    }
    events = [
        sse({"type": "message_start", "message": start}, "message_start"),
        sse(
            _block("content_block_start", content_block={"type": "text", "text": ""}),
            "content_block_start",
        ),
        sse({"type": "ping"}, "ping"),
    ]
    for piece in stream_pieces(text):
        delta = {"type": "text_delta", "text": piece}
        events.append(sse(_block("content_block_delta", delta=delta), "content_block_delta"))
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    return [
        *events,
        sse(_block("content_block_stop"), "content_block_stop"),
        sse(
            {
                "type": "message_delta",
                "delta": stop,
                "usage": {"output_tokens": usage["output_tokens"]},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]


def _block(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "index": 0, **fields}
