"""A deployment run on a Prefect server: schedule it for a worker, and follow it to its end.

Following listens to the run's state-change events (as `prefect flow-run watch` does) and
re-reads the run now and then, so a missed event delays the end by seconds, never forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
    Operator,
)
from prefect.client.schemas.objects import FlowRun, State
from prefect.client.schemas.sorting import ArtifactSort
from prefect.deployments import arun_deployment
from prefect.events import Event
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.schemas.events import Resource
from prefect.exceptions import MissingResult, ObjectNotFound

from modelops.cli.errors import CliError
from registry.domain import Frozen

# How long to wait for an event before asking the server for the run's state anyway.
REREAD_SECONDS = 10.0

StateSeen = tuple[str, str, str, datetime]  # (type, name, message, when)


async def schedule(deployment: str, parameters: dict[str, object], api_url: str) -> FlowRun:
    try:
        flow_run = await arun_deployment(
            deployment, parameters={"params": parameters}, timeout=0, as_subflow=False
        )
    except ObjectNotFound:
        raise CliError(
            f"no deployment {deployment!r} on {api_url}; run `prefect --no-prompt deploy --all` "
            "from the repository root"
        ) from None
    return flow_run


async def follow(run_id: UUID, show: Callable[[StateSeen], None]) -> FlowRun:
    """Call `show` with each state the run enters from now on; return the finished run."""
    name_filter = EventNameFilter(prefix=["prefect.flow-run."])
    resource_filter = EventResourceFilter(id=[f"prefect.flow-run.{run_id}"])
    subscribed = get_events_subscriber(
        filter=EventFilter(event=name_filter, resource=resource_filter)
    )
    async with get_client() as client, subscribed as events:
        run = await client.read_flow_run(run_id)  # read after subscribing: nothing falls between
        last = _seen(run.state)
        if last is not None:
            show(last)
        while run.state is None or not run.state.is_final():
            seen = await _next_state(events)
            if seen is None or seen[0] in _FINAL:  # nothing new for a while, or the end
                run = await client.read_flow_run(run_id)
                seen = seen or _seen(run.state)
            if seen is not None and (last is None or _is_news(seen, last)):
                show(seen)
                last = seen
    return run


async def _next_state(events: AsyncIterator[Event]) -> StateSeen | None:
    """The state of the next state-change event, or None after REREAD_SECONDS without one."""
    try:
        event = await asyncio.wait_for(anext(events), REREAD_SECONDS)
    except TimeoutError:
        return None
    except Exception:  # the stream is gone for good: the caller asks the server instead
        await asyncio.sleep(REREAD_SECONDS)
        return None
    return _from_event(event.resource)


_FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _is_news(seen: StateSeen, last: StateSeen) -> bool:
    """Later than what was shown (the stream replays the run's past first) and different."""
    return seen[3] > last[3] and seen[:3] != last[:3]


def _seen(state: State | None) -> StateSeen | None:
    if state is None:
        return None
    return (state.type.value, state.name or state.type.value, state.message or "", state.timestamp)


def _from_event(resource: Resource) -> StateSeen | None:
    if "prefect.state-type" not in resource:
        return None
    when = resource.get("prefect.state-timestamp")
    if when is None:
        return None
    return (
        resource["prefect.state-type"],
        resource.get("prefect.state-name") or resource["prefect.state-type"],
        resource.get("prefect.state-message") or "",
        datetime.fromisoformat(when),
    )


async def readable_result(run: FlowRun) -> tuple[bool, object]:
    """(True, result) when this process can read the run's return value: Prefect persisted it
    where this machine reaches and its types import here. Else (False, None), the default."""
    if run.state is None or not run.state.is_completed():
        return False, None
    try:
        return True, await run.state.aresult(raise_on_failure=False)
    except (MissingResult, ImportError, OSError, ValueError, TypeError, AttributeError):
        return False, None  # not persisted, or pickled by a worker that loaded another module


class Published(Frozen):
    """An artifact a run (or one of its subflow runs) published, as the Prefect UI lists it."""

    key: str
    type: str
    description: str


async def published(run_id: UUID) -> list[Published]:
    """What the run and its subflow runs published, newest first (progress bars left out)."""
    runs = FlowRunFilter(  # type: ignore[call-arg]  # `operator` comes from a non-pydantic mixin
        operator=Operator.or_,
        id=FlowRunFilterId(any_=[run_id]),
        parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id]),
    )
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            flow_run_filter=runs, sort=ArtifactSort.CREATED_DESC
        )
    return [
        Published(
            key=artifact.key or str(artifact.id),
            type=artifact.type or "artifact",
            description=artifact.description or "",
        )
        for artifact in artifacts
        if artifact.type != "progress"
    ]
