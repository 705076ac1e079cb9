"""Models and their lifecycle: versions and stages, the stage ledger, approvals; with links
to the Prefect runs that moved them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.dashboard.panels import Panel, View
from registry.approvals import ApprovalRepository
from registry.domain import Approval, ApprovalStatus, LedgerEntry, Model, ModelVersion
from registry.endpoints import EndpointRepository
from registry.ledger import LedgerRepository
from registry.model_repository import ModelRepository
from registry.stages import Stage

LEDGER_SHOWN = 50
APPROVALS_SHOWN = 20


@dataclass(frozen=True)
class ModelSummary:
    model: Model
    production: int | None
    versions: int
    stages: list[tuple[Stage, int]]  # pipeline order, stages with versions only
    pending_approvals: int


@dataclass(frozen=True)
class ModelDetail:
    model: Model
    versions: list[ModelVersion]  # newest first
    ledger: list[tuple[LedgerEntry, str | None]]  # newest first, with its run's link
    approvals: list[tuple[Approval, str | None]]
    endpoints: list[str]


def read_models(session: Session, view: View) -> list[ModelSummary]:
    models = ModelRepository(session, view.team)
    pending = Counter(
        a.model for a in ApprovalRepository(session, view.team).all(status=ApprovalStatus.PENDING)
    )
    summaries = []
    for model in models.all():
        versions = models.versions(model.name)
        stages = Counter(v.stage for v in versions)
        production = next((v.version for v in versions if v.stage is Stage.PRODUCTION), None)
        summaries.append(
            ModelSummary(
                model=model,
                production=production,
                versions=len(versions),
                stages=[(stage, stages[stage]) for stage in Stage if stages[stage]],
                pending_approvals=pending[model.name],
            )
        )
    return summaries


def read_model(session: Session, view: View) -> ModelDetail:
    """One model in full; another team's (or none) raises NotFoundError."""
    models = ModelRepository(session, view.team)
    model = models.get(view.subject)
    ledger = LedgerRepository(session, view.team).history(models.row(model.name))
    approvals = [a for a in ApprovalRepository(session, view.team).all() if a.model == model.name]
    endpoints = [
        e.name for e in EndpointRepository(session, view.team).list() if e.model == model.name
    ]
    link = view.prefect.flow_run
    return ModelDetail(
        model=model,
        versions=models.versions(model.name)[::-1],
        ledger=[(e, link(e.flow_run_id)) for e in ledger[::-1][:LEDGER_SHOWN]],
        approvals=[(a, link(a.flow_run_id)) for a in approvals[::-1][:APPROVALS_SHOWN]],
        endpoints=endpoints,
    )


OVERVIEW = Panel("models", "panels/models.html", read_models)
DETAIL = Panel("model", "panels/model.html", read_model)
