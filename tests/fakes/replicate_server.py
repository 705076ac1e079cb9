"""A fake of Replicate's predictions API, scriptable per key (one key = one account).

    with WebhookReceiver() as hooks, FakeReplicateServer() as server:
        job = await adapter.create_generation(credential, request, hooks.hook_url)
        server.finish(job.id)               # or poll it `polls_to_finish` times
        [delivery] = hooks.wait_for(1)      # the Standard-Webhooks-signed prediction

Written from replicate.com/docs (predictions, webhooks) and replicate-python: predictions
belong to the account that made them (another key gets 404), move starting → processing →
succeeded, and POST themselves to `webhook` signed with the account's `whsec_` secret
(`GET /v1/webhooks/default/secret`). Nothing here honours an Idempotency-Key: Replicate
documents none. `hang_after_accept` makes a create record the prediction, then hang: the
moment between the provider's accept and the caller's persistence.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.webhooks import sign_standard_webhook
from tests.fakes.server import FakeServer, Fault, json_response

__all__ = ["FakePrediction", "FakeReplicateServer", "Fault", "account_secret"]


def account_secret(key: str) -> str:
    """Each account's webhook signing secret, derived from its key (stable across runs)."""
    return "whsec_" + base64.b64encode(hashlib.sha256(f"acct:{key}".encode()).digest()).decode()


@dataclass
class FakePrediction:
    id: str
    owner: str | None
    model: str | None
    version: str | None
    input: dict[str, Any]
    webhook: str | None
    events: list[str]
    created_at: str
    status: str = "starting"
    polls: int = 0
    output: Any = None
    error: str | None = None
    completed_at: str | None = None
    deliveries: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)


class FakeReplicateServer(FakeServer):
    def __init__(self, *, polls_to_finish: int = 2) -> None:
        super().__init__()
        self.polls_to_finish = polls_to_finish
        self.predictions: dict[str, FakePrediction] = {}
        self.outputs: dict[str, Any] = {}  # model → output; default: one PNG URL
        self.hang_after_accept = 0.0
        self.accepted = threading.Event()  # set when a create has recorded its prediction
        self._ids = itertools.count(1)
        self._state = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.url  # like https://api.replicate.com: the paths carry /v1

    def reset(self) -> None:
        super().reset()
        with self._state:
            self.predictions.clear()
            self.outputs.clear()
        self.hang_after_accept = 0.0
        self.accepted.clear()
        self.polls_to_finish = 2

    def routes(self) -> list[Route]:
        return [
            Route("/v1/models/{owner}/{name}/predictions", self._create, methods=["POST"]),
            Route("/v1/predictions", self._create, methods=["POST"]),
            Route("/v1/predictions/{id}", self._get, methods=["GET"]),
            Route("/v1/predictions/{id}/cancel", self._cancel, methods=["POST"]),
            Route("/v1/webhooks/default/secret", self._secret, methods=["GET"]),
        ]

    def render_fault(self, fault: Fault, key: str | None) -> Response:
        status = fault.status or 500
        body = {
            "title": fault.type or "Error",
            "detail": fault.message or "error",
            "status": status,
        }
        return json_response(body, status, fault.headers)

    def finish(self, prediction_id: str, *, succeed: bool = True) -> None:
        """End a prediction now and deliver its `completed` webhook from the calling thread."""
        with self._state:
            prediction = self.predictions[prediction_id]
            self._complete(prediction, succeed)
        self.deliver(prediction, "completed")

    def deliver(self, prediction: FakePrediction, event: str) -> None:
        if prediction.webhook is None or event not in prediction.events:
            return
        body = json.dumps(self._view(prediction)).encode()
        msg_id = f"msg_{prediction.id}_{prediction.status}"
        headers = {
            "content-type": "application/json",
            **sign_standard_webhook(msg_id, body, [account_secret(prediction.owner or "")]),
        }
        answer = httpx.post(prediction.webhook, content=body, headers=headers, timeout=10)
        prediction.deliveries.append((headers, body, answer.status_code))

    def created_count(self) -> int:
        return len(self.predictions)

    async def _create(self, request: Request) -> Response:
        key, body, fault = await self.intercept(request)
        if fault is not None:
            return fault
        payload = json.loads(body)
        if not isinstance(payload.get("input"), dict):
            return self.render_fault(Fault(422, "Invalid input", message="input is required"), key)
        owner_name = request.path_params.get("owner")
        model = f"{owner_name}/{request.path_params['name']}" if owner_name else None
        prediction = FakePrediction(
            id=f"rp{next(self._ids):04d}fake",
            owner=key,
            model=model,
            version=payload.get("version"),
            input=payload["input"],
            webhook=payload.get("webhook"),
            events=payload.get("webhook_events_filter") or ["start", "output", "logs", "completed"],
            created_at=_now(),
        )
        with self._state:
            self.predictions[prediction.id] = prediction
        self.accepted.set()
        if self.hang_after_accept:
            await self._hang(self.hang_after_accept)
        return json_response(self._view(prediction), 201)

    async def _get(self, request: Request) -> Response:
        key, _, fault = await self.intercept(request)
        if fault is not None:
            return fault
        prediction = self._owned(request, key)
        if prediction is None:
            return self.render_fault(Fault(404, "Not found", message="prediction not found"), key)
        with self._state:
            finished_now = self._poll(prediction)
            view = self._view(prediction)
        task = BackgroundTask(self.deliver, prediction, "completed") if finished_now else None
        return json_response(view, background=task)

    async def _cancel(self, request: Request) -> Response:
        key, _, fault = await self.intercept(request)
        if fault is not None:
            return fault
        prediction = self._owned(request, key)
        if prediction is None:
            return self.render_fault(Fault(404, "Not found", message="prediction not found"), key)
        with self._state:
            ended_now = prediction.status in {"starting", "processing"}
            if ended_now:
                prediction.status, prediction.completed_at = "canceled", _now()
            view = self._view(prediction)
        task = BackgroundTask(self.deliver, prediction, "completed") if ended_now else None
        return json_response(view, background=task)

    async def _secret(self, request: Request) -> Response:
        key, _, fault = await self.intercept(request)
        return fault or json_response({"key": account_secret(key or "")})

    def _owned(self, request: Request, key: str | None) -> FakePrediction | None:
        prediction = self.predictions.get(request.path_params["id"])
        return prediction if prediction is not None and prediction.owner == key else None

    def _poll(self, prediction: FakePrediction) -> bool:
        if prediction.status not in {"starting", "processing"}:
            return False
        prediction.polls += 1
        if prediction.polls >= self.polls_to_finish:
            self._complete(prediction, succeed=True)
            return True
        prediction.status = "processing"
        return False

    def _complete(self, prediction: FakePrediction, succeed: bool) -> None:
        prediction.completed_at = _now()
        if succeed:
            prediction.status = "succeeded"
            default = [f"https://replicate.delivery/fake/{prediction.id}/out-0.png"]
            prediction.output = self.outputs.get(prediction.model or "", default)
        else:
            prediction.status, prediction.error = "failed", "CUDA out of memory"

    def _view(self, prediction: FakePrediction) -> dict[str, Any]:
        base = f"{self.url}/v1/predictions/{prediction.id}"
        return {
            "id": prediction.id,
            "model": prediction.model,
            "version": prediction.version
            or "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
            "input": prediction.input,
            "logs": "",
            "output": prediction.output,
            "data_removed": False,
            "error": prediction.error,
            "status": prediction.status,
            "created_at": prediction.created_at,
            "started_at": prediction.created_at if prediction.status != "starting" else None,
            "completed_at": prediction.completed_at,
            "metrics": {"predict_time": 1.25} if prediction.completed_at else {},
            "urls": {"get": base, "cancel": f"{base}/cancel"},
        }


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
