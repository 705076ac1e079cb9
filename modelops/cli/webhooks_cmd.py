"""`modelops webhooks …`: the webhook secrets of MODELOPS_TEAM (the ones providers sign their
webhooks with, and the ones job callbacks are signed with) and the webhooks received.

Secrets come in on stdin (a hidden prompt on a terminal) or from a named environment variable,
never as arguments; a callback secret is printed once, when made. All are stored sealed under
the master key; listings never show them.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from modelops.cli.arguments import single_line
from modelops.cli.context import runtime
from modelops.cli.errors import BadInput
from modelops.cli.output import print_json, print_table, say, stderr
from registry.errors import InvalidInputError
from registry.keys.crypto import MasterKeyring

app = typer.Typer(
    help="Webhook secrets of MODELOPS_TEAM (providers' and callbacks'); webhooks received.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Label = Annotated[
    str, typer.Option("--label", help="A name for the secret.", callback=single_line(64))
]
MAX_SECRET_BYTES = 4096


@app.command("add-secret")
def add_secret_cmd(
    provider: Annotated[str, typer.Argument(help="The catalog provider that signs with it.")],
    label: Label,
    from_env: Annotated[
        str | None, typer.Option("--from-env", help="Read it from this environment variable.")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Add a provider's webhook signing secret (stdin); during a rotation add the new one
    first, then retire the old one with an overlap."""
    from registry.generation.secrets import WebhookSecretRepository
    from registry.providers import ProviderRepository

    with runtime() as rt:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        secret = _read_secret(provider, from_env).strip()
        with rt.transaction() as session:
            ProviderRepository(session).get(provider)
            team = rt.team(session, create=True)
            assert team is not None  # create=True always returns the team
            try:
                info = WebhookSecretRepository(session, team, ring).add_provider_secret(
                    provider, label, secret
                )
            except InvalidInputError as exc:
                raise BadInput(f"--{exc.field}: {exc}") from None
    _show(info, json, f"added webhook secret {info.id} ({info.label}) for {provider}")


@app.command("callback-secret")
def callback_secret_cmd(
    label: Label,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Only for this endpoint's jobs.")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Make a secret that signs the notices sent to job callback URLs, and print it once."""
    from registry.endpoints import EndpointRepository
    from registry.generation.secrets import WebhookSecretRepository

    with runtime() as rt:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        with rt.transaction() as session:
            team = rt.team(session, create=True)
            assert team is not None
            endpoint_id = EndpointRepository(session, team).get(endpoint).id if endpoint else None
            try:
                info, secret = WebhookSecretRepository(session, team, ring).new_callback_secret(
                    label, endpoint_id=endpoint_id
                )
            except InvalidInputError as exc:
                raise BadInput(f"--{exc.field}: {exc}") from None
    if json:
        print_json({"id": info.id, "label": info.label, "secret": secret.get_secret_value()})
        return
    print(secret.get_secret_value())
    stderr.print(
        f"made callback secret {info.id} ({info.label}); it is shown this once: give it to "
        "whoever verifies the callbacks (Standard Webhooks)",
        markup=False,
    )


@app.command("list")
def list_cmd(json: JsonFlag = False) -> None:
    """The team's webhook secrets (never the secrets themselves)."""
    from registry.generation.secrets import WebhookSecretRepository

    with runtime() as rt:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        with rt.transaction() as session:
            team = rt.team(session)
            secrets = WebhookSecretRepository(session, team, ring).list() if team else []
    if json:
        print_json(secrets)
        return
    print_table(
        f"webhook secrets of team {rt.settings.team}",
        ["id", "purpose", "scope", "label", "created", "expires"],
        [
            (s.id, s.purpose, s.scope or "team", s.label, s.created_at, s.expires_at)
            for s in secrets
        ],
    )


@app.command("retire")
def retire_cmd(
    secret_id: Annotated[int, typer.Argument(help="The secret's id (`webhooks list`).", min=1)],
    after: Annotated[
        float, typer.Option("--after", help="Seconds it stays valid (the overlap).", min=0)
    ] = 0.0,
    json: JsonFlag = False,
) -> None:
    """End a secret's life, now or after an overlap while senders move to the new one."""
    from registry.generation.secrets import WebhookSecretRepository

    with runtime() as rt:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        with rt.transaction() as session:
            team = rt.team(session)
            if team is None:
                raise BadInput(f"team {rt.settings.team!r} has no webhook secrets")
            info = WebhookSecretRepository(session, team, ring).retire(
                secret_id, after_seconds=after
            )
    _show(info, json, f"webhook secret {info.id} ({info.label}) expires at {info.expires_at}")


@app.command("rotate-master")
def rotate_master_cmd(json: JsonFlag = False) -> None:
    """Re-wrap every webhook secret (all teams) onto the newest master key; safe to re-run."""
    from registry.generation.secret_rotation import rewrap_webhook_secrets

    with runtime() as rt:
        ring = MasterKeyring.from_setting(rt.settings.master_key)
        with rt.transaction() as session:
            report = rewrap_webhook_secrets(session, ring)
    if json:
        print_json(report)
    else:
        say(
            f"re-wrapped {report.rewrapped} webhook secrets onto master {ring.newest.version}; "
            f"{report.already_current} were already on it"
        )
    for problem in report.unreadable:
        stderr.print(f"unreadable (add it again): {problem}", markup=False)
    if report.unreadable:
        raise typer.Exit(1)


@app.command("events")
def events_cmd(
    provider: Annotated[str, typer.Argument(help="The provider whose webhooks to show.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    json: JsonFlag = False,
) -> None:
    """Webhooks received from a provider, newest first: verdict, job, what they changed."""
    from registry.generation.webhook_events import events_of_provider

    with runtime() as rt, rt.transaction() as session:
        team = rt.team(session)
        found = [e for e in events_of_provider(session, provider) if team and e.team_id == team.id]
    shown = found[::-1][:limit]
    if json:
        print_json([e.model_dump(exclude={"payload"}) for e in shown])
        return
    print_table(
        f"webhooks from {provider} for team {rt.settings.team}",
        ["id", "received", "verdict", "webhook id", "job", "changes", "detail"],
        [
            (
                e.id,
                e.received_at,
                e.verdict,
                e.webhook_id,
                e.provider_job_id,
                str(e.changes),
                e.detail,
            )
            for e in shown
        ],
    )


def _show(info: object, json: bool, message: str) -> None:
    if json:
        print_json(info)
    else:
        say(message)


def _read_secret(provider: str, from_env: str | None) -> str:
    if from_env is not None:
        value = os.environ.get(from_env)
        if value is None:
            raise BadInput(f"--from-env {from_env}: that environment variable is not set")
        return value
    if sys.stdin.isatty():
        return str(typer.prompt(f"{provider} webhook secret", hide_input=True))
    return sys.stdin.read(MAX_SECRET_BYTES)
