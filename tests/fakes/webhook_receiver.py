"""A webhook endpoint on 127.0.0.1 that records deliveries; tests wait on it directly.

with WebhookReceiver() as hooks:
    ...  # hand hooks.url to a provider as the callback URL
    [delivery] = hooks.wait_for(1, timeout=10)
    delivery.headers, delivery.body

Given a Standard Webhooks `secret`, it verifies each delivery with the reference
`standardwebhooks` package first: a bad signature or a stale timestamp is answered 401 and
kept in `refused`, and a `webhook-id` seen before is answered 200 but not recorded again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from standardwebhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import FakeServer, Fault

__all__ = ["Delivery", "WebhookReceiver"]


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)


class WebhookReceiver(FakeServer):
    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.deliveries: list[Delivery] = []
        self.refused: list[Delivery] = []
        self._verifier = Webhook(secret) if secret else None
        self._arrived = threading.Condition()

    @property
    def ids(self) -> list[str]:
        """The `webhook-id` of each delivery accepted, in arrival order."""
        with self._arrived:
            return [delivery.headers.get("webhook-id", "") for delivery in self.deliveries]

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hooks/provider"

    def reset(self) -> None:
        super().reset()
        with self._arrived:
            self.deliveries.clear()
            self.refused.clear()

    def routes(self) -> list[Route]:
        return [Route("/hooks/{name:path}", self._receive, methods=["POST"])]

    def render_fault(self, fault: Fault, key: str | None) -> Response:
        return Response(fault.message, fault.status or 500, headers=fault.headers)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Block until `count` deliveries have arrived (or fail after `timeout` seconds)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.deliveries) >= count, timeout):
                raise TimeoutError(f"{len(self.deliveries)} of {count} webhooks arrived")
            return list(self.deliveries)

    async def _receive(self, request: Request) -> Response:
        _, body, fault = await self.intercept(request)
        if fault is not None:
            return fault
        delivery = Delivery(
            request.url.path, dict(request.headers), body, dict(request.query_params)
        )
        with self._arrived:
            if self._verifier is not None:
                try:
                    self._verifier.verify(body, delivery.headers)
                except WebhookVerificationError:
                    self.refused.append(delivery)
                    self._arrived.notify_all()
                    return Response("signature refused", 401)
                if delivery.headers.get("webhook-id") in {
                    seen.headers.get("webhook-id") for seen in self.deliveries
                }:
                    return Response(status_code=200)  # a retry of one already received
            self.deliveries.append(delivery)
            self._arrived.notify_all()
        return Response(status_code=204)
