"""A fake of OpenAI's videos API (`/v1/videos`), scriptable per key.

Written from openai-python 3.57 (`resources/videos.py`, `types/video.py`) and the webhook
events reference: create is multipart; a video belongs to the key that made it and moves
queued → in_progress → completed on each retrieve, which carries `openai-poll-after-ms`; its
MP4 is `GET /v1/videos/{id}/content`. The project's webhook endpoint (`webhook_url`) gets
`video.completed` / `video.failed` events signed the Standard Webhooks way, naming the video
only. There is no cancel: the API has none.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.webhooks import sign_standard_webhook
from tests.fakes.openai_server import multipart_parts
from tests.fakes.server import FakeServer, Fault, json_response

__all__ = ["FakeOpenAIVideoServer", "FakeVideo", "Fault", "video_bytes"]

PROJECT_SECRET = "whsec_cHJvamVjdC13ZWJob29rLXNlY3JldC1mb3ItdGVzdHM="


def video_bytes(video_id: str) -> bytes:
    """The 'MP4' of a video: an ftyp box and bytes derived from the id (not playable)."""
    return (
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
        + hashlib.sha256(video_id.encode()).digest() * 64
    )


@dataclass
class FakeVideo:
    id: str
    owner: str | None
    model: str
    form: dict[str, str]
    created_at: int
    status: str = "queued"
    polls: int = 0
    completed_at: int | None = None
    events: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)


class FakeOpenAIVideoServer(FakeServer):
    def __init__(self, *, polls_to_finish: int = 2, poll_after_ms: int = 2500) -> None:
        super().__init__()
        self.polls_to_finish = polls_to_finish
        self.poll_after_ms = poll_after_ms
        self.webhook_url: str | None = None
        self.webhook_secret = PROJECT_SECRET
        self.videos: dict[str, FakeVideo] = {}
        self._ids = itertools.count(1)
        self._state = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def reset(self) -> None:
        super().reset()
        with self._state:
            self.videos.clear()
        self.webhook_url = None
        self.polls_to_finish = 2

    def routes(self) -> list[Route]:
        return [
            Route("/v1/videos", self._create, methods=["POST"]),
            Route("/v1/videos/{id}", self._retrieve, methods=["GET"]),
            Route("/v1/videos/{id}/content", self._content, methods=["GET"]),
        ]

    def render_fault(self, fault: Fault, key: str | None) -> Response:
        body = {
            "error": {
                "message": fault.message or "error",
                "type": fault.type or "invalid_request_error",
                "param": None,
                "code": fault.code,
            }
        }
        return json_response(body, fault.status or 500, fault.headers)

    def finish(self, video_id: str, *, succeed: bool = True) -> None:
        """End a video now and send the project's webhook from the calling thread."""
        with self._state:
            self._complete(self.videos[video_id], succeed)
        self.notify(self.videos[video_id])

    def notify(self, video: FakeVideo) -> None:
        if self.webhook_url is None:
            return
        kind = "video.completed" if video.status == "completed" else "video.failed"
        event = {
            "id": f"evt_{video.id}",
            "object": "event",
            "created_at": video.completed_at,
            "type": kind,
            "data": {"id": video.id},
        }
        body = json.dumps(event).encode()
        headers = {
            "content-type": "application/json",
            **sign_standard_webhook(f"wh_{video.id}", body, [self.webhook_secret]),
        }
        answer = httpx.post(self.webhook_url, content=body, headers=headers, timeout=10)
        video.events.append((headers, body, answer.status_code))

    def view(self, video: FakeVideo) -> dict[str, Any]:
        progress = {"queued": 0, "in_progress": 50}.get(video.status, 100)
        error = (
            {"code": "video_generation_failed", "message": "The video could not be generated"}
            if video.status == "failed"
            else None
        )
        return {
            "id": video.id,
            "object": "video",
            "model": video.model,
            "status": video.status,
            "progress": progress,
            "created_at": video.created_at,
            "completed_at": video.completed_at,
            "expires_at": None if video.completed_at is None else video.completed_at + 3600,
            "prompt": video.form.get("prompt"),
            "seconds": video.form.get("seconds", "4"),
            "size": video.form.get("size", "720x1280"),
            "remixed_from_video_id": None,
            "error": error,
        }

    async def _create(self, request: Request) -> Response:
        key, body, fault = await self.intercept(request)
        if fault is not None:
            return fault
        parts = multipart_parts(request.headers.get("content-type", ""), body)
        form = {name: content.decode() for name, (_, content) in parts.items()}
        if not form.get("prompt"):
            return self.render_fault(
                Fault(400, message="Missing required parameter: 'prompt'."), key
            )
        video = FakeVideo(
            id=f"video_{next(self._ids):06d}",
            owner=key,
            model=form.get("model", "sora-2"),
            form=form,
            created_at=int(time.time()),
        )
        with self._state:
            self.videos[video.id] = video
        return json_response(self.view(video))

    async def _retrieve(self, request: Request) -> Response:
        key, _, fault = await self.intercept(request)
        if fault is not None:
            return fault
        video = self._owned(request, key)
        if video is None:
            return self.render_fault(Fault(404, message="Video not found"), key)
        with self._state:
            finished_now = self._poll(video)
            view = self.view(video)
        headers = (
            {}
            if view["status"] in {"completed", "failed"}
            else {"openai-poll-after-ms": str(self.poll_after_ms)}
        )
        task = BackgroundTask(self.notify, video) if finished_now else None
        return json_response(view, headers=headers, background=task)

    async def _content(self, request: Request) -> Response:
        key, _, fault = await self.intercept(request)
        if fault is not None:
            return fault
        video = self._owned(request, key)
        if video is None or video.status != "completed":
            return self.render_fault(Fault(404, message="Video content not found"), key)
        return Response(video_bytes(video.id), media_type="video/mp4")

    def _owned(self, request: Request, key: str | None) -> FakeVideo | None:
        video = self.videos.get(request.path_params["id"])
        return video if video is not None and video.owner == key else None

    def _poll(self, video: FakeVideo) -> bool:
        if video.status in {"completed", "failed"}:
            return False
        video.polls += 1
        if video.polls >= self.polls_to_finish:
            self._complete(video, succeed=True)
            return True
        video.status = "in_progress"
        return False

    def _complete(self, video: FakeVideo, succeed: bool) -> None:
        video.status = "completed" if succeed else "failed"
        video.completed_at = int(time.time())
