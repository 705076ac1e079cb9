"""Shared by the fine-tune and register-model flow tests: environment, registry reads, scoring."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Credential
from adapters.chat import ClassificationRequest
from adapters.local.adapter import LocalAdapter
from adapters.local.dataset import parse_chat_jsonl
from adapters.local.store import JobRecord, LocalStore
from registry.database import make_engine, make_session_factory
from registry.domain import LedgerEntry, ModelVersion
from registry.finetune_jobs import FineTuneJobRow
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.teams import TeamRepository
from tasks import context

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "catalog"
DATA = REPO / "examples" / "support_tickets"
MODEL = "support-intent"


@dataclass
class Env:
    """The registry database and data directory the flows under test write to."""

    db_url: str
    data_dir: Path
    sessions: sessionmaker[Session]

    def job_rows(self) -> list[FineTuneJobRow]:
        with self.sessions() as session:
            rows = session.scalars(select(FineTuneJobRow).order_by(FineTuneJobRow.id)).all()
            session.expunge_all()
            return list(rows)

    def versions(self, model: str = MODEL) -> list[ModelVersion]:
        with self.sessions.begin() as session:
            team = TeamRepository(session).find("default")
            return ModelRepository(session, team).versions(model) if team else []

    def ledger(self, version: int) -> list[LedgerEntry]:
        with self.sessions.begin() as session:
            team = TeamRepository(session).find("default")
            assert team is not None
            row = ModelRepository(session, team).row(MODEL)
            return [e for e in LedgerRepository(session, team).history(row) if e.version == version]

    def local_jobs(self) -> list[JobRecord]:
        """Every job the local provider holds on disk (read without resuming any)."""
        store = LocalStore(self.data_dir / "local")
        jobs_dir = self.data_dir / "local" / "jobs"
        names = sorted(jobs_dir.glob("*.json")) if jobs_dir.exists() else []
        return [job for path in names if (job := store.job(path.stem)) is not None]

    def uploaded_files(self) -> list[Path]:
        files_dir = self.data_dir / "local" / "files"
        return sorted(files_dir.glob("*.jsonl")) if files_dir.exists() else []


@pytest.fixture
def flow_env(registry_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """Tasks read the repository's catalog, and write to this test's database and data dir."""
    monkeypatch.setenv("MODELOPS_CATALOG_DIR", str(CATALOG))
    # tasks.context.provider builds the keyring even for the keyless local provider.
    monkeypatch.setenv("MODELOPS_MASTER_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    context.settings.cache_clear()
    engine = make_engine(registry_env)
    yield Env(registry_env, tmp_path / "data", make_session_factory(engine))
    engine.dispose()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def eval_accuracy(data_dir: Path, model_id: str) -> float:
    """Accuracy of a local model on examples/support_tickets/eval.jsonl (640 tickets)."""
    adapter = LocalAdapter(data_dir)
    examples = parse_chat_jsonl((DATA / "eval.jsonl").read_bytes())

    async def score() -> int:
        hits = 0
        for example in examples:
            request = ClassificationRequest(model=model_id, text=example.text)
            hits += (await adapter.classify(Credential(), request)).label == example.label
        return hits

    return asyncio.run(score()) / len(examples)
