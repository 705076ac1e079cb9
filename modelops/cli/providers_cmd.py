"""`modelops providers …`: the catalog's providers, and one real minimal call through the pool.

`check` sends a one-token chat (`max_tokens=1`, prompt "ping") with the given model, or the
newest version of a MODELOPS_TEAM model on the provider. Generation-only providers are refused:
their smallest real call is a paid media generation.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Annotated

import typer
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.call_rules import PROBE_ATTEMPT_TIMEOUT_SECONDS, PROBE_BUDGET_SECONDS
from adapters.errors import ConfigurationError
from dispatch.keyed_call import CallPolicy
from dispatch.providers import KEYLESS_KINDS, ProbeReport, open_provider, probe
from modelops.cli.context import runtime
from modelops.cli.errors import BadInput, CliError
from modelops.cli.output import Cell, print_json, print_table, say
from modelops.runtime import Runtime
from registry.domain import Provider, Team
from registry.keys import KeyRepository, MasterKeyring, ProviderKey
from registry.keys.tables import ModelCooldownRow
from registry.model_repository import ModelRepository
from registry.orm import utcnow
from registry.providers import ProviderRepository
from registry.tables import ProviderRow

app = typer.Typer(
    help="Providers of the catalog: list them with their keys, check one with a real call.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
STATUSES = ("active", "cooling", "disabled")


@app.command("list")
def list_cmd(json: JsonFlag = False) -> None:
    """Providers with their kind, base URL, MODELOPS_TEAM's keys by status and cooling models."""
    with runtime() as rt, rt.transaction() as session:
        team = _team(rt, session)
        providers = ProviderRepository(session).all()
        keys = KeyRepository(session, team).list()
        cooling = _cooling_models(session, team, utcnow())
    summaries = [_summary(p, keys, cooling.get(p.name, [])) for p in providers]
    if json:
        print_json(summaries)
        return
    columns = ["name", "kind", "base url", "keys", "cooling models"]
    print_table(
        f"providers (keys of team {rt.settings.team})", columns, [_row(s) for s in summaries]
    )


@app.command("check")
def check_cmd(
    provider: Annotated[str, typer.Argument(help="Provider name, e.g. openai.")],
    model: Annotated[
        str | None, typer.Option("--model", help="Provider model id (default: the team's).")
    ] = None,
    budget: Annotated[
        float, typer.Option("--budget", min=0.1, help="Seconds for the whole call, retries too.")
    ] = PROBE_BUDGET_SECONDS,
    attempt_timeout: Annotated[
        float,
        typer.Option(
            "--attempt-timeout", min=0.1, help="Seconds one key may stay silent before the next."
        ),
    ] = PROBE_ATTEMPT_TIMEOUT_SECONDS,
    json: JsonFlag = False,
) -> None:
    """One real minimal call through the key pool; says which key answered and what the
    others met. Exit 1 when no key answered."""
    policy = CallPolicy(budget_seconds=budget, attempt_timeout_seconds=attempt_timeout)
    with runtime() as rt:
        with rt.transaction() as session:
            team = _team(rt, session)
            found = ProviderRepository(session).get(provider)  # unknown: exit 2, lists known
            model_id = model or _default_model(session, team, found)
        report = asyncio.run(_probe(rt, team, found, model_id, policy))
    if json:
        print_json(_check_json(report))
    else:
        _print_check(report)
    if not report.ok:
        raise CliError(f"{provider} check failed: {report.error}")


async def _probe(
    rt: Runtime, team: Team, provider: Provider, model: str, policy: CallPolicy
) -> ProbeReport:
    async with open_provider(
        rt.sessions,
        team,
        provider.name,
        keyring=_keyring(rt, provider),
        data_dir=rt.settings.data_dir,
        policy=policy,
    ) as handle:
        try:
            return await probe(handle, model)
        except ConfigurationError as exc:
            raise BadInput(f"cannot check {provider.name}: {exc}") from None


def _keyring(rt: Runtime, provider: Provider) -> MasterKeyring | None:
    """The master keyring; a keyless provider is checked without MODELOPS_MASTER_KEY."""
    master = rt.settings.master_key
    if master is None and provider.kind in KEYLESS_KINDS:
        return None
    return MasterKeyring.from_setting(master)


def _default_model(session: Session, team: Team, provider: Provider) -> str:
    """The newest version's provider model id among the team's models on the provider."""
    models = ModelRepository(session, team if team.id >= 0 else None)
    mine = [m for m in models.all() if m.provider == provider.name]
    versions = [v for m in mine for v in models.versions(m.name)]
    if versions:
        return max(versions, key=lambda v: v.created_at).provider_model_id
    if mine:
        return mine[0].base_model
    raise BadInput(
        f"no model of team {team.name!r} runs on {provider.name}; pass --model ID "
        "(a model id the provider knows)"
    )


def _team(rt: Runtime, session: Session) -> Team:
    """The CLI's team; one not created yet owns no keys (id -1 matches nothing)."""
    team = rt.team(session)
    return team if team is not None else Team(id=-1, name=rt.settings.team)


# -- list -----------------------------------------------------------------------------


class KeyCounts(BaseModel):
    total: int
    active: int
    cooling: int
    disabled: int


class ModelCooling(BaseModel):
    model: str
    cooldown_until: datetime
    reason: str


class ProviderSummary(BaseModel):
    name: str
    kind: str
    base_url: str | None
    needs_key: bool
    keys: KeyCounts
    model_cooldowns: list[ModelCooling]


def _cooling_models(session: Session, team: Team, now: datetime) -> dict[str, list[ModelCooling]]:
    """Models cooling now on each provider, for the team."""
    M = ModelCooldownRow
    query = (
        select(ProviderRow.name, M.provider_model_id, M.cooldown_until, M.reason)
        .join(ProviderRow, ProviderRow.id == M.provider_id)
        .where(M.team_id == team.id, M.cooldown_until > now)
        .order_by(ProviderRow.name, M.provider_model_id)
    )
    found: dict[str, list[ModelCooling]] = {}
    for name, model, until, reason in session.execute(query):
        found.setdefault(name, []).append(
            ModelCooling(model=model, cooldown_until=until, reason=reason)
        )
    return found


def _summary(
    provider: Provider, keys: list[ProviderKey], cooling: list[ModelCooling]
) -> ProviderSummary:
    counts = Counter(str(key.status) for key in keys if key.provider == provider.name)
    return ProviderSummary(
        name=provider.name,
        kind=provider.kind,
        base_url=provider.base_url,
        needs_key=provider.kind not in KEYLESS_KINDS,
        keys=KeyCounts(total=sum(counts.values()), **{s: counts.get(s, 0) for s in STATUSES}),
        model_cooldowns=cooling,
    )


def _row(item: ProviderSummary) -> tuple[Cell, ...]:
    keys = item.keys
    shown = f"{keys.active} active, {keys.cooling} cooling, {keys.disabled} disabled"
    if not item.needs_key:
        shown = "no key needed"
    elif not keys.total:
        shown = "none (`modelops keys add`)"
    models = ", ".join(
        f"{c.model} until {c.cooldown_until:%Y-%m-%d %H:%M:%S} UTC" for c in item.model_cooldowns
    )
    return (item.name, item.kind, item.base_url, shown, models or None)


# -- check ----------------------------------------------------------------------------


def _check_json(report: ProbeReport) -> dict[str, object]:
    answered = report.answered_by
    return {
        "provider": report.provider,
        "model": report.model,
        "ok": report.ok,
        "needs_key": report.needs_key,
        "answered_by": None
        if answered is None
        else {"id": answered.key_id, "label": answered.label, "last4": answered.last4},
        "attempts": [
            {
                "key_id": a.key_id,
                "label": a.label,
                "last4": a.last4,
                "outcome": a.outcome,
                "detail": a.detail,
                "seconds": a.seconds,
            }
            for a in report.attempts
        ],
        "error": report.error,
    }


def _print_check(report: ProbeReport) -> None:
    head = f"{report.provider} (model {report.model})"
    answered = report.answered_by
    if answered is not None:
        line = f"{head}: answered by key {answered.key_id} ({answered.label} …{answered.last4})"
    elif report.ok:
        line = f"{head}: answered (no key needed)"
    else:
        line = f"{head}: no answer"
    # Escaped: rich would take "[redacted]" in a provider's message for markup and drop it.
    say(line)
    rows = [
        (a.key_id, f"{a.label} …{a.last4}", a.outcome, f"{a.seconds:.3f}", a.detail)
        for a in report.attempts
    ]
    if report.needs_key:
        print_table("attempts", ["key", "label", "outcome", "seconds", "detail"], rows)
