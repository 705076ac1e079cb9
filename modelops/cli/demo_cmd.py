"""`modelops demo`: the lifecycle end to end on the embedded defaults."""

from __future__ import annotations

import typer

from modelops.cli.context import load_settings
from modelops.prefect_env import use_quiet_defaults


def demo(
    serve: bool = typer.Option(
        False, "--serve", help="Keep the gateway and its dashboard (/ui) running until Ctrl-C."
    ),
) -> None:
    """Register, fine-tune, evaluate, promote with approval, roll back: on SQLite and the
    local provider, in a fresh directory under MODELOPS_DATA_DIR/demo."""
    use_quiet_defaults()  # before the flows import Prefect
    from modelops.demo import run_demo  # imports every flow: only when asked for

    run_demo(load_settings().data_dir, serve=serve)
