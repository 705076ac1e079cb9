"""`modelops run FLOW --param k=v [--wait]`: run a flow here, or its deployment on a server.

Exit 0 when the run completed, 2 when it failed for bad parameters or data, 1 otherwise;
a failure prints one line naming the run to inspect, never a traceback.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from flows.index import FLOWS, FlowEntry
from flows.params import FlowParams
from modelops.cli.errors import BadInput, CliError
from modelops.cli.output import print_json, say
from modelops.cli.run_params import build_params
from modelops.prefect_env import (
    EphemeralApiError,
    prepare_prefect,
    server_url,
    use_quiet_defaults,
)

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

    from modelops.cli.run_follow import Published, StateSeen


def run(
    flow: Annotated[str, typer.Argument(help=f"One of: {', '.join(FLOWS)}.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="k=v (JSON values allowed; nested keys with dots)."),
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option("--deployment", help="Deployment name on the server (default: the flow's)."),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Follow a deployment run to its end; exit by its state."),
    ] = False,
    here: Annotated[
        bool,
        typer.Option("--here", help="Run in this process even when PREFECT_API_URL is set."),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run a flow: in this process on Prefect's ephemeral API, or as a deployment when
    PREFECT_API_URL names a server (a worker runs it; --wait follows it to its end).
    With --here it runs in this process and is recorded on that server."""
    use_quiet_defaults()  # before anything imports Prefect
    entry = FLOWS.get(flow)
    if entry is None:
        raise BadInput(f"unknown flow {flow!r}; flows: {', '.join(FLOWS)}")
    if here and deployment:
        raise BadInput("--here runs the flow in this process; it takes no --deployment")
    params = build_params(entry, param or [])
    try:
        if server_url() and not here:
            prepare_prefect(start_api=False)
            asyncio.run(_run_deployment(entry, params, deployment or entry.name, wait, json_output))
        else:
            prepare_prefect(start_api=True)
            asyncio.run(_run_here(entry, params, json_output))
    except EphemeralApiError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        raise CliError("interrupted") from None


async def _run_here(entry: FlowEntry, params: FlowParams, as_json: bool) -> None:
    import inspect

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import State

    from modelops.cli.run_outcome import failure

    outcome = entry.load()(params, return_state=True)
    state = await outcome if inspect.isawaitable(outcome) else outcome  # async flows: awaited
    if not isinstance(state, State) or state.state_details.flow_run_id is None:
        raise CliError(f"{entry.name} returned {type(state).__name__}, not its run's state")
    result = await state.aresult(raise_on_failure=False)
    async with get_client() as client:
        flow_run = await client.read_flow_run(state.state_details.flow_run_id)
    if not state.is_completed():
        raise failure(entry.name, flow_run, result if isinstance(result, BaseException) else None)
    _print_result(entry.name, flow_run, result, as_json)


async def _run_deployment(
    entry: FlowEntry, params: FlowParams, deployment: str, wait: bool, as_json: bool
) -> None:
    from modelops.cli.run_follow import follow, published, readable_result, schedule
    from modelops.cli.run_outcome import failure

    name = f"{entry.name}/{deployment}"
    flow_run = await schedule(name, params.model_dump(mode="json"), server_url() or "")
    if not wait:
        _print_scheduled(name, flow_run, as_json)
        return
    if not as_json:
        say(f"following {name} run {flow_run.name} ({flow_run.id}); Ctrl-C stops following only")
    finished = await follow(flow_run.id, _show_state if not as_json else lambda _: None)
    if finished.state is None or not finished.state.is_completed():
        raise failure(entry.name, finished)
    readable, result = await readable_result(finished)
    if readable:
        _print_result(entry.name, finished, result, as_json)
    else:
        _print_published(entry.name, finished, await published(finished.id), as_json)


def _print_scheduled(name: str, flow_run: FlowRun, as_json: bool) -> None:
    from prefect.utilities.urls import url_for

    if as_json:
        print_json({"flow_run_id": str(flow_run.id), "name": flow_run.name, "deployment": name})
        return
    url = url_for(flow_run)
    where = f" or in the Prefect UI at {url}" if url else ""
    say(
        f"scheduled {name} as flow run {flow_run.name} ({flow_run.id}) for a worker on its "
        f"pool; follow it with `prefect flow-run watch {flow_run.id}`{where}, or run again "
        "with --wait"
    )


def _show_state(seen: StateSeen) -> None:
    from modelops.cli.run_outcome import one_line

    _, name, message, when = seen
    detail = f": {one_line(message)}" if message else ""
    say(f"  {when:%H:%M:%S} {name}{detail}")


def _print_result(flow: str, flow_run: FlowRun, result: object, as_json: bool) -> None:
    if as_json:
        print_json({**_identity(flow_run), "state": "COMPLETED", "result": result})
        return
    say(f"{flow} run {flow_run.name} completed: {result}")


def _print_published(
    flow: str, flow_run: FlowRun, artifacts: list[Published], as_json: bool
) -> None:
    """A worker's run keeps its return value on the worker (Prefect persists none by default):
    what it published is the result this machine can show."""
    from modelops.cli.run_outcome import one_line

    if as_json:
        print_json({**_identity(flow_run), "state": "COMPLETED", "artifacts": artifacts})
        return
    what = "it published:" if artifacts else "it published no artifacts"
    say(f"{flow} run {flow_run.name} completed; {what}")
    for artifact in artifacts:
        say(f"  {artifact.type} {artifact.key}: {one_line(artifact.description)}")
    say(f"details: prefect flow-run inspect {flow_run.id}")


def _identity(flow_run: FlowRun) -> dict[str, object]:
    return {"flow_run_id": str(flow_run.id), "name": flow_run.name}
