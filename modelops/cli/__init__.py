"""The `modelops` command line: one sub-command per area, imported when named; one error boundary.

A new area is one entry in `COMMANDS`: its name, the module holding it and a one-line summary
(what `modelops --help` shows without importing the module).
"""

from __future__ import annotations

import io
import os
import sys

from typer import Abort

# typer vendors click; its exception classes live here.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from modelops.cli import collector
from modelops.cli.errors import BAD_INPUT, FAILURE, describe_failure
from modelops.cli.lazy import LazyGroup, SubCommand

COMMANDS: dict[str, SubCommand] = {
    "db": SubCommand(
        "modelops.cli.db_cmd", "Database schema: upgrade to the code's head, show the revision."
    ),
    "catalog": SubCommand(
        "modelops.cli.catalog_cmd", "The model catalog: validate it, sync it to the database."
    ),
    "models": SubCommand(
        "modelops.cli.models_cmd", "Models and versions: list, inspect, move stages, roll back."
    ),
    "keys": SubCommand(
        "modelops.cli.keys_cmd", "Provider API keys: add, list, disable, enable; the master key."
    ),
    "providers": SubCommand(
        "modelops.cli.providers_cmd", "Providers of the catalog: list them, check one for real."
    ),
    "approvals": SubCommand(
        "modelops.cli.approvals_cmd", "Approvals: list them, approve or reject a promotion."
    ),
    "approvers": SubCommand(
        "modelops.cli.approvers_cmd", "Approvers: enrol the people a policy names (TOTP)."
    ),
    "endpoints": SubCommand(
        "modelops.cli.endpoints_cmd", "Endpoints: the names consumers call, and their routes."
    ),
    "tokens": SubCommand(
        "modelops.cli.tokens_cmd", "API tokens for the gateway: create, list, revoke."
    ),
    "ab": SubCommand(
        "modelops.cli.ab_cmd", "A/B tests of versions on an endpoint: create, list, show, stop."
    ),
    "rollouts": SubCommand(
        "modelops.cli.rollouts_cmd",
        "Rollouts of versions onto endpoints: list, show, pause, resume, abort.",
    ),
    "alerts": SubCommand("modelops.cli.alerts_cmd", "Alerts: list, show, ack, resolve; the rules."),
    "channels": SubCommand(
        "modelops.cli.channels_cmd", "Notification channels: add (secret on stdin), list, test."
    ),
    "webhooks": SubCommand(
        "modelops.cli.webhooks_cmd", "Webhook secrets (providers', callbacks'); webhooks received."
    ),
    "usage": SubCommand(
        "modelops.cli.usage_cmd", "Daily usage and cost by model, endpoint, version, key.", "usage"
    ),
    "budgets": SubCommand(
        "modelops.cli.budgets_cmd", "Budgets per team or model, per day or month: soft or hard."
    ),
    "recommendations": SubCommand(
        "modelops.cli.recommendations_cmd",
        "What measured data says to change: cheaper versions, SLOs, keys, idle, paused.",
        "recommendations_command",
    ),
    "run": SubCommand("modelops.cli.run_cmd", "Run a flow, here or as a deployment.", "run"),
    "demo": SubCommand("modelops.cli.demo_cmd", "The lifecycle end to end, on SQLite.", "demo"),
    "gateway": SubCommand(
        "modelops.cli.gateway_cmd",
        "Serve the HTTP API: OpenAI-compatible chat, invoke, resolve, outcomes, /metrics.",
        "gateway",
    ),
}


def build_command() -> LazyGroup:
    return LazyGroup(
        entries=COMMANDS,
        name="modelops",
        help="Control plane for AI models: registry, approvals, an OpenAI-compatible gateway "
        "with generation jobs and a dashboard, rollouts, A/B tests, alerts, usage and budgets, "
        "pooled provider keys.",
        no_args_is_help=True,
    )


def run() -> None:
    """The `modelops` program (its console script and `python -m modelops.cli`)."""
    collector.pause()  # until the command is loaded: see modelops.cli.collector
    main()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and exits with) 0, 1 (failure) or 2 (bad input)."""
    try:
        result = build_command().main(args=argv, prog_name="modelops", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()
        return _exit(BAD_INPUT)
    except UsageError as exc:
        _show(exc)
        return _exit(BAD_INPUT)
    except ClickException as exc:
        _show(exc)
        return _exit(exc.exit_code)
    except Abort:
        return _fail("aborted", FAILURE)
    except Exception as exc:  # the last line of defence: no traceback, no SQL for users
        if os.environ.get("MODELOPS_DEBUG"):
            raise
        return _fail(*describe_failure(exc))
    return _exit(result if isinstance(result, int) else 0)


def _show(error: ClickException) -> None:
    """Click's own report of a usage error, with any control character the user typed escaped."""
    from registry.text import visible

    report = io.StringIO()
    error.show(file=report)
    sys.stderr.write(visible(report.getvalue()))


def _fail(message: str, code: int) -> int:
    from modelops.cli.output import stderr

    stderr.print(f"error: {message}", markup=False)
    return _exit(code)


def _exit(code: int) -> int:
    sys.exit(code)
