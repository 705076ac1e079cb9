"""The `modelops` command line: one sub-app per area, one error boundary for all."""

from __future__ import annotations

import os
import sys

import typer
from pydantic import ValidationError

# typer vendors click; its exception classes live here.
from typer._click.exceptions import ClickException, UsageError

from modelops.cli import (
    approvals_cmd,
    approvers_cmd,
    catalog_cmd,
    db_cmd,
    demo_cmd,
    endpoints_cmd,
    gateway_cmd,
    keys_cmd,
    models_cmd,
    providers_cmd,
    run_cmd,
    tokens_cmd,
)
from modelops.cli.errors import (
    BAD_INPUT,
    FAILURE,
    CliError,
    describe_validation_error,
    exit_code_for,
)
from modelops.cli.output import stderr
from registry.errors import RegistryError

app = typer.Typer(
    name="modelops",
    help="Control plane for AI models: registry, lifecycle, rollouts, A/B tests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(catalog_cmd.app, name="catalog")
app.add_typer(models_cmd.app, name="models")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(providers_cmd.app, name="providers")
app.add_typer(approvals_cmd.app, name="approvals")
app.add_typer(approvers_cmd.app, name="approvers")
app.add_typer(endpoints_cmd.app, name="endpoints")
app.add_typer(tokens_cmd.app, name="tokens")
app.command("run")(run_cmd.run)
app.command("demo")(demo_cmd.demo)
app.command("gateway")(gateway_cmd.gateway)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and exits with) 0, 1 (failure) or 2 (bad input)."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="modelops", standalone_mode=False)
    except UsageError as exc:
        exc.show()
        return _exit(BAD_INPUT)
    except ClickException as exc:
        exc.show()
        return _exit(exc.exit_code)
    except typer.Abort:
        stderr.print("aborted")
        return _exit(FAILURE)
    except CliError as exc:
        return _fail(str(exc), exc.exit_code)
    except RegistryError as exc:
        return _fail(str(exc), exit_code_for(exc))
    except ValidationError as exc:
        return _fail(describe_validation_error(exc), BAD_INPUT)
    except Exception as exc:  # the last line of defence: no traceback for users
        if os.environ.get("MODELOPS_DEBUG"):
            raise
        return _fail(
            f"unexpected {type(exc).__name__}: {exc} (set MODELOPS_DEBUG=1 for details)", FAILURE
        )
    return _exit(result if isinstance(result, int) else 0)


def _fail(message: str, code: int) -> int:
    stderr.print(f"error: {message}", markup=False)
    return _exit(code)


def _exit(code: int) -> int:
    sys.exit(code)
