"""The ab-test flow's artifacts: the plan, a markdown page per look and for the verdict,
and the table of the look history (keys `ab-test-<id>-…`, so each keeps its versions)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NO_CACHE

from registry.abtests import ABTest, ABTestRepository, Look
from tasks.abtest_markdown import look_markdown, look_table, plan_markdown, verdict_markdown
from tasks.context import unit_of_work


def artifact_key(test: ABTest, what: str) -> str:
    return f"ab-test-{test.id}-{what}"


@task(cache_policy=NO_CACHE)
async def publish_plan(test: ABTest) -> None:
    await acreate_markdown_artifact(
        plan_markdown(test),
        key=artifact_key(test, "plan"),
        description=f"A/B test #{test.id}: the sample it needs and how long that takes",
    )


@task(cache_policy=NO_CACHE)
async def publish_look(test: ABTest, look: Look) -> None:
    await acreate_markdown_artifact(
        look_markdown(test, look),
        key=artifact_key(test, "look"),
        description=f"A/B test #{test.id}, look {look.number}: {look.result.verdict or 'continue'}",
    )
    await _publish_history(test)


@task(cache_policy=NO_CACHE)
async def publish_verdict(test: ABTest) -> None:
    looks = _looks(test)
    await acreate_markdown_artifact(
        verdict_markdown(test, looks),
        key=artifact_key(test, "verdict"),
        description=f"A/B test #{test.id}: {test.verdict or test.status}",
    )
    await _publish_history(test, looks)


async def _publish_history(test: ABTest, looks: list[Look] | None = None) -> None:
    await acreate_table_artifact(
        look_table(looks if looks is not None else _looks(test)),
        key=artifact_key(test, "looks"),
        description=f"A/B test #{test.id}: every look",
    )


def _looks(test: ABTest) -> list[Look]:
    with unit_of_work() as (session, team):
        return ABTestRepository(session, team).looks(test.id)
