"""`modelops run FLOW --param k=v`: run a flow here, or its deployment on a Prefect server."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable
from typing import Annotated

import typer
from pydantic import ValidationError

from flows.index import FLOWS, FlowEntry
from flows.params import FlowParams
from modelops.cli.errors import BadInput, CliError
from modelops.cli.output import print_json, say


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
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run a flow: in this process on the ephemeral API, or as a deployment when
    PREFECT_API_URL names a server (the run then goes to a worker)."""
    entry = FLOWS.get(flow)
    if entry is None:
        raise BadInput(f"unknown flow {flow!r}; flows: {', '.join(FLOWS)}")
    params = build_params(entry, param or [])
    if _server_url():
        _run_deployment(entry, params, deployment or entry.name, json_output)
    else:
        result = entry.load()(params)
        if inspect.isawaitable(result):  # async flows return a coroutine to run
            result = asyncio.run(_awaited(result))
        if json_output:
            print_json(result)
        else:
            say(f"{flow} finished: {result}")


async def _awaited(result: Awaitable[object]) -> object:
    return await result


def build_params(entry: FlowEntry, pairs: list[str]) -> FlowParams:
    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise BadInput(f"--param {pair!r}: expected key=value")
        _assign(values, key.split("."), _parse_value(raw))
    try:
        return entry.params.model_validate(values)
    except ValidationError as exc:
        problems = [
            f"--param {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        ]
        fields = ", ".join(entry.params.model_fields)
        raise BadInput("\n".join(problems) + f"\n(parameters of {entry.name}: {fields})") from None


def _parse_value(raw: str) -> object:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw  # a bare word is a string


def _assign(target: dict[str, object], path: list[str], value: object) -> None:
    for part in path[:-1]:
        nested = target.setdefault(part, {})
        if not isinstance(nested, dict):
            raise BadInput(f"--param {'.'.join(path)}: {part!r} is already a value")
        target = nested
    target[path[-1]] = value


def _server_url() -> str | None:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def _run_deployment(entry: FlowEntry, params: FlowParams, deployment: str, as_json: bool) -> None:
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    name = f"{entry.name}/{deployment}"
    try:
        flow_run = run_deployment(
            name, parameters={"params": params.model_dump(mode="json")}, timeout=0, as_subflow=False
        )
        if not isinstance(flow_run, FlowRun):  # run_deployment is sync-compatible: sync here
            raise CliError("run_deployment returned a coroutine outside an event loop")
    except ObjectNotFound:
        raise CliError(
            f"no deployment {name!r} on {_server_url()}; run `prefect --no-prompt deploy --all`"
        ) from None
    if as_json:
        print_json({"flow_run_id": str(flow_run.id), "name": flow_run.name, "deployment": name})
    else:
        say(f"scheduled {name} as flow run {flow_run.name} ({flow_run.id}); a worker on pool "
            "'modelops' will pick it up")  # fmt: skip
