"""A fake task-based generation provider (Kie.ai Market style), scriptable per key.

    with WebhookReceiver() as hooks, FakeAsyncGenServer(webhook_secret=SECRET) as server:
        job = await adapter.create_generation(credential, request, hooks.url)
        server.finish(job.id)               # or poll recordInfo `polls_to_finish` times
        [delivery] = hooks.wait_for(1)      # the signed callback, as it arrived

createTask → `{code, msg, data: {taskId}}`; recordInfo → `{code, msg, data: record}`; the
callback body is `{code, msg, data: record}`, signed the Kie way (X-Webhook-Signature over
`{taskId}.{timestamp}`) or the Standard Webhooks way (`signing="standard"`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import FakeServer, Fault, json_response

__all__ = ["FakeAsyncGenServer", "Fault"]


@dataclass
class FakeTask:
    id: str
    owner: str | None
    model: str
    input: dict[str, Any]
    callback_url: str | None
    created_ms: int
    state: str = "waiting"
    polls: int = 0
    completed_ms: int | None = None
    deliveries: list[int] = field(default_factory=list)  # HTTP statuses of callback attempts


class FakeAsyncGenServer(FakeServer):
    def __init__(
        self,
        *,
        webhook_secret: str = "kie-hmac-test-secret",
        signing: Literal["kie", "standard"] = "kie",
        polls_to_finish: int = 2,
    ) -> None:
        super().__init__()
        self.webhook_secret = webhook_secret
        self.signing = signing
        self.polls_to_finish = polls_to_finish
        self.tasks: dict[str, FakeTask] = {}
        self._ids = itertools.count(1)
        self._state_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.url  # like https://api.kie.ai: the paths carry /api/v1

    def reset(self) -> None:
        super().reset()
        with self._state_lock:
            self.tasks.clear()

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/jobs/createTask", self._create, methods=["POST"]),
            Route("/api/v1/jobs/recordInfo", self._record_info, methods=["GET"]),
        ]

    def render_fault(self, fault: Fault, key: str | None) -> Response:
        status = fault.status or 500
        body = {"code": status, "msg": fault.message or "error", "data": None}
        return json_response(body, 200 if fault.in_body else status, fault.headers)

    def finish(self, task_id: str, *, succeed: bool = True) -> None:
        """Complete a task now and deliver its signed callback from the calling thread."""
        with self._state_lock:
            task = self.tasks[task_id]
            self._complete(task, succeed)
        self.deliver(task)

    def deliver(self, task: FakeTask) -> None:
        if task.callback_url is None:
            return
        body = json.dumps(
            {
                "code": 200 if task.state == "success" else 501,
                "msg": task.state,
                "data": self._record(task),
            }
        ).encode()
        headers = {"content-type": "application/json", **self.sign(task.id, body)}
        response = httpx.post(task.callback_url, content=body, headers=headers, timeout=10)
        task.deliveries.append(response.status_code)

    def sign(self, task_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        if self.signing == "kie":
            mac = hmac.new(
                self.webhook_secret.encode(), f"{task_id}.{stamp}".encode(), hashlib.sha256
            )
            signature = base64.b64encode(mac.digest()).decode()
            return {"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": signature}
        key = base64.b64decode(self.webhook_secret.removeprefix("whsec_"))
        msg_id = f"msg_{task_id}"
        mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256)
        signature = base64.b64encode(mac.digest()).decode()
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": stamp,
            "webhook-signature": f"v1,{signature}",
        }

    async def _create(self, request: Request) -> Response:
        key, body, fault = await self.intercept(request)
        if fault is not None:
            return fault
        payload = json.loads(body)
        if not payload.get("model") or not isinstance(payload.get("input"), dict):
            return self.render_fault(Fault(422, message="model and input are required"), key)
        task = FakeTask(
            id=f"task_fake_{next(self._ids)}",
            owner=key,
            model=payload["model"],
            input=payload["input"],
            callback_url=payload.get("callBackUrl"),
            created_ms=int(time.time() * 1000),
        )
        with self._state_lock:
            self.tasks[task.id] = task
        return json_response({"code": 200, "msg": "success", "data": {"taskId": task.id}})

    async def _record_info(self, request: Request) -> Response:
        key, _, fault = await self.intercept(request)
        if fault is not None:
            return fault
        task = self.tasks.get(request.query_params.get("taskId", ""))
        if task is None or task.owner != key:
            return self.render_fault(Fault(404, message="task not found"), key)
        with self._state_lock:
            finished_now = self._poll(task)
            record = self._record(task)
        background = BackgroundTask(self.deliver, task) if finished_now else None
        return json_response({"code": 200, "msg": "success", "data": record}, background=background)

    def _poll(self, task: FakeTask) -> bool:
        """Advance one state per poll; True when this poll finished the task."""
        if task.state in {"success", "fail"}:
            return False
        task.polls += 1
        if task.polls >= self.polls_to_finish:
            self._complete(task, succeed=True)
            return True
        task.state = "generating" if task.polls > 0 else "waiting"
        return False

    def _complete(self, task: FakeTask, succeed: bool) -> None:
        task.state = "success" if succeed else "fail"
        task.completed_ms = int(time.time() * 1000)

    def _record(self, task: FakeTask) -> dict[str, Any]:
        urls = [f"https://cdn.fake.test/{task.id}/0.png"] if task.state == "success" else []
        return {
            "taskId": task.id,
            "model": task.model,
            "state": task.state,
            "param": json.dumps(
                {"model": task.model, "callBackUrl": task.callback_url, "input": task.input}
            ),
            "resultJson": json.dumps({"resultUrls": urls}) if urls else "",
            "failCode": "" if task.state != "fail" else "500",
            "failMsg": "" if task.state != "fail" else "generation failed",
            "costTime": 1500,
            "completeTime": task.completed_ms,
            "createTime": task.created_ms,
            "updateTime": task.completed_ms or task.created_ms,
        }
