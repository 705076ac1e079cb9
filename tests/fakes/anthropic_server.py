"""A fake Anthropic Messages API (POST /v1/messages), scriptable per `x-api-key`.

with FakeAnthropicServer() as server:                 # base URL: server.base_url
    server.script("sk-ant-a", Fault.overloaded())     # 529 overloaded_error
    server.replies["claude-test"] = "hello"
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import FakeServer, Fault, json_response

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
        key, body, fault = await self.intercept(request)
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
        return json_response(message, headers=headers)
