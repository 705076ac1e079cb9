"""The deploy flow's artifacts: a progress page per rollout (steps done, current weights,
the last measurement) and a table of every measurement (keys `rollout-<id>-…`)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NO_CACHE

from registry.rollouts.domain import Measurement, Rollout
from tasks.rollout import measurements
from tasks.rollout_markdown import measurement_rows, progress_markdown


@task(cache_policy=NO_CACHE)
async def publish_progress(rollout: Rollout, weights: str) -> None:
    looked = measurements(rollout.id)
    await acreate_markdown_artifact(
        progress_markdown(rollout, weights, looked),
        key=f"rollout-{rollout.id}-progress",
        description=f"rollout #{rollout.id}: {rollout.status}, step {rollout.step + 1}",
    )
    await _publish_table(rollout, looked)


async def _publish_table(rollout: Rollout, looked: list[Measurement]) -> None:
    await acreate_table_artifact(
        measurement_rows(looked),
        key=f"rollout-{rollout.id}-measurements",
        description=f"rollout #{rollout.id}: every measurement",
    )
