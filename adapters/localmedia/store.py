"""The local media provider's disk: job records, rendered outputs and its signing secret.

Under `data_dir/localmedia/`: `jobs/<id>.json` (replaced atomically), `outputs/<id>-<n>.<ext>`
and `webhook-secret` (0600, made on first use, as a provider account's secret would be).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from adapters.webhooks import new_webhook_secret

__all__ = ["JobRecord", "MediaStore", "OutputFile", "request_digest"]


class OutputFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    content_type: str
    size_bytes: int
    sha256: str
    duration_seconds: float | None = None


class JobRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    idempotency_key: str | None
    request: dict[str, JsonValue]
    request_sha256: str
    created_at: float  # epoch seconds
    ready_at: float
    callback_url: str | None = None
    cancelled: bool = False
    outputs: list[OutputFile] = Field(default_factory=list)


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._jobs = root / "jobs"
        self._outputs = root / "outputs"

    def job_id_for(self, idempotency_key: str | None) -> str:
        """`lm_` + sha256 of the idempotency key (a create is idempotent by construction)."""
        seed = idempotency_key if idempotency_key is not None else os.urandom(16).hex()
        return "lm_" + hashlib.sha256(seed.encode()).hexdigest()[:24]

    def read(self, job_id: str) -> JobRecord | None:
        path = self._jobs / f"{_safe(job_id)}.json"
        if not path.exists():
            return None
        return JobRecord.model_validate_json(path.read_bytes())

    def write(self, record: JobRecord) -> None:
        self._jobs.mkdir(parents=True, exist_ok=True)
        _replace(self._jobs / f"{_safe(record.id)}.json", record.model_dump_json().encode())

    def write_output(self, job_id: str, index: int, extension: str, content: bytes) -> Path:
        self._outputs.mkdir(parents=True, exist_ok=True)
        path = self._outputs / f"{_safe(job_id)}-{index}.{extension}"
        _replace(path, content)
        return path

    def output_path(self, output: OutputFile) -> Path:
        return self._outputs / Path(output.file).name

    def signing_secret(self) -> str:
        """The provider's webhook signing secret, made once (owner-only permissions)."""
        path = self.root / "webhook-secret"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return path.read_text().strip()  # another process made it first
            with os.fdopen(fd, "w") as out:
                out.write(new_webhook_secret())
        return path.read_text().strip()


def _safe(job_id: str) -> str:
    if not job_id.startswith("lm_") or not job_id[3:].isalnum():
        raise ValueError(f"{job_id!r} is not a local media job id")
    return job_id


def _replace(path: Path, content: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers see old or new, whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    os.replace(tmp, path)


def request_digest(request: dict[str, JsonValue]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
