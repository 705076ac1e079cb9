"""/metrics parses as Prometheus text and counts what was served; /readyz flips when the
database goes away and back; shadows are mirrored off the response path and recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry.database import Database
from registry.endpoints import RouteChange, ShadowedVersion, WeightedVersion, set_routes
from registry.lifecycle import NewVersion, register_version
from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway.conftest import Served
from tests.gateway.support import (
    Recorded,
    World,
    running_gateway,
    settings_for,
    stored_outcomes,
    wait_for,
)

CHAT = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}


def _samples(served: Served) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(served.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_metrics_count_requests_errors_and_latency_per_version(served: Served) -> None:
    auth = {"authorization": f"Bearer {served.world.token}"}
    versions = [
        httpx.post(served.v1 + "/chat/completions", json=CHAT, headers=auth).headers[
            "x-modelops-version"
        ]
        for _ in range(6)
    ]
    httpx.post(served.v1 + "/chat/completions", json={**CHAT, "model": "nope"}, headers=auth)
    samples = _samples(served)
    for version in set(versions):
        labels = {"route": "chat", "endpoint": "assistant", "version": version, "status": "200"}
        assert samples[
            ("modelops_gateway_requests_total", frozenset(labels.items()))
        ] == versions.count(version)
        timed = frozenset({"endpoint": "assistant", "version": version}.items())
        assert samples[("modelops_gateway_request_seconds_count", timed)] == versions.count(version)
    errors = frozenset({"route": "chat", "error_class": "endpoint_not_found"}.items())
    assert samples[("modelops_gateway_errors_total", errors)] == 1
    # The writer stores the six outcomes in the background: the queue drains to 0.
    wait_for(
        lambda: _samples(served)[("modelops_gateway_outcome_queue_depth", frozenset())] == 0,
        10,
        "the outcome queue drained",
    )
    samples = _samples(served)
    assert samples[("modelops_gateway_outcomes_stored_total", frozenset())] == 6
    assert samples[("modelops_gateway_outcome_spool_full", frozenset())] == 0
    keys = frozenset({"team": "team-a", "provider": "openai", "state": "available"}.items())
    assert samples[("modelops_gateway_provider_keys", keys)] == 1


@contextmanager
def _database_away(url: str) -> Iterator[None]:
    """No new connections to the test database, and its open ones terminated."""
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def test_while_the_database_is_away_outcomes_spool_until_full_and_none_is_lost(
    world: World,
) -> None:
    """Ready while outcomes spool; 503 once the spool is full; when the database is back
    the spool drains, and every acknowledged outcome is a row (acknowledged = rows)."""
    settings = settings_for(world).model_copy(update={"outcome_spool_max_bytes": 1 << 20})
    tap = Recorded()
    with running_gateway(settings, tap) as url:
        auth = {"authorization": f"Bearer {world.token}"}
        invoke = f"{url}/v1/endpoints/intent/invoke"
        assert httpx.post(invoke, json={"text": "refund"}, headers=auth).is_success  # cached
        with _database_away(world.url):
            # A token and routes already cached still answer: a keyless endpoint keeps serving.
            for _ in range(5):
                assert httpx.post(invoke, json={"text": "refund"}, headers=auth).is_success
            wait_for(lambda: _ready(url)["checks"]["outcomes"] == "degraded", 10, "spooling")
            ready = httpx.get(f"{url}/readyz")
            assert ready.status_code == 200 and ready.json()["checks"]["database"] is False
            assert httpx.get(f"{url}/healthz").status_code == 200
            refused = _fill_the_spool(url, auth)
            assert refused.json()["error"]["code"] == "outcome_spool_full"
            full = httpx.get(f"{url}/readyz")
            assert full.status_code == 503 and full.json()["checks"]["outcomes"] == "spool_full"
        wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, 30, "ready again")
        wait_for(lambda: _ready(url)["checks"]["outcome_backlog"] == 0, 30, "spool drained")
    acknowledged = {o.request_id for o in tap.outcomes}
    assert len(acknowledged) > 5000
    assert set(stored_outcomes(world.url)) == acknowledged


def _ready(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/readyz").json()
    return body


def _fill_the_spool(url: str, auth: dict[str, str]) -> httpx.Response:
    """Report batches of outcomes until the gateway refuses one (at most 100 batches)."""
    for batch in range(100):
        outcomes = [
            {
                "request_id": f"req_fill_{batch}_{i}",
                "endpoint": "assistant",
                "version": 1,
                "latency_ms": 12.5,
                "success": True,
                "input_tokens": 10,
                "output_tokens": 3,
            }
            for i in range(1000)
        ]
        response = httpx.post(f"{url}/v1/outcomes", json={"outcomes": outcomes}, headers=auth)
        if response.status_code == 503:
            return response
        assert response.status_code == 200, response.text
    raise AssertionError("the spool never filled")


def test_shadow_requests_are_recorded_and_never_returned(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    database = Database.open(served.world.url)
    with database.transaction() as session:
        change = RouteChange(
            endpoint="assistant",
            routes=[WeightedVersion(version=1, weight=100)],
            shadows=[ShadowedVersion(version=2, percent=100)],
            actor="ops",
            reason="shadow v2",
        )
        set_routes(session, served.world.team, change)
    database.close()
    openai_server.replies["gpt-fake-2"] = "the shadow's answer"
    auth = {"authorization": f"Bearer {served.world.token}"}
    wait_for(
        lambda: (
            httpx.post(served.v1 + "/chat/completions", json=CHAT, headers=auth).headers[
                "x-modelops-version"
            ]
            == "1"
        ),
        1.0,
        "the new routes are served",
    )
    response = httpx.post(served.v1 + "/chat/completions", json=CHAT, headers=auth)
    request_id = response.headers["x-modelops-request-id"]
    assert response.json()["choices"][0]["message"]["content"] == "echo: hi"
    shadow_id = f"{request_id}.shadow2"
    wait_for(lambda: served.sink.get(shadow_id) is not None, 5, "the shadow's outcome is recorded")
    shadow, served_outcome = served.sink.get(shadow_id), served.sink.get(request_id)
    assert shadow is not None and shadow.model_version_id == 2 and shadow.success
    assert served_outcome is not None and served_outcome.model_version_id == 1
    models = [r.json()["model"] for r in openai_server.requests_to("/chat/completions")]
    assert "gpt-fake-2" in models


def test_a_preview_answers_only_requests_naming_it_and_is_never_mirrored(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    database = Database.open(served.world.url)
    with database.transaction() as session:
        new = NewVersion(model="chatbot", provider_model_id="gpt-fake-3", actor="ops")
        register_version(session, served.world.team, new)
        change = RouteChange(endpoint="assistant", routes=[WeightedVersion(version=1, weight=100)],
                             shadows=[ShadowedVersion(version=2, percent=100)], previews=[3],
                             actor="ops", reason="preview v3")  # fmt: skip
        set_routes(session, served.world.team, change)
    database.close()
    auth = {"authorization": f"Bearer {served.world.token}"}
    preview = {**auth, "x-modelops-preview": "3"}
    wait_for(
        lambda: (
            httpx.post(served.v1 + "/chat/completions", json=CHAT, headers=preview).status_code
            == 200
        ),
        1.0,
        "the preview is served",
    )
    previewed = httpx.post(served.v1 + "/chat/completions", json=CHAT, headers=preview)
    normal = [httpx.post(served.v1 + "/chat/completions", json=CHAT, headers=auth)
              for _ in range(20)]  # fmt: skip
    assert previewed.headers["x-modelops-version"] == "3"
    assert {r.headers["x-modelops-version"] for r in normal} == {"1"}
    last = f"{normal[-1].headers['x-modelops-request-id']}.shadow2"
    wait_for(lambda: served.sink.get(last) is not None, 5, "the normal requests are mirrored")
    assert served.sink.get(f"{previewed.headers['x-modelops-request-id']}.shadow2") is None
    mirrored = [r for r in openai_server.requests_to("/chat/completions")
                if r.json()["model"] == "gpt-fake-2"]  # fmt: skip
    assert len(mirrored) == len(normal)


def test_token_use_is_written_in_a_batch_not_per_request(world: World) -> None:
    from registry.tokens import TokenRepository

    def last_used() -> object:
        database = Database.open(world.url)
        with database.transaction() as session:
            [token] = [
                t for t in TokenRepository(session, world.team).list() if t.id == world.token_id
            ]
        database.close()
        return token.last_used_at

    with running_gateway(settings_for(world), Recorded()) as url:
        auth = {"authorization": f"Bearer {world.token}"}
        for _ in range(3):
            assert httpx.post(
                f"{url}/v1/endpoints/intent/invoke", json={"text": "hi"}, headers=auth
            ).is_success
        assert last_used() is None  # nothing written per request
    assert last_used() is not None  # the batch is written, at the latest on shutdown


def test_a_provider_moved_in_the_catalog_is_called_at_its_new_address(world: World) -> None:
    from sqlalchemy import update

    from registry.tables import ProviderRow
    from tests.fakes.openai_server import FakeOpenAIServer

    settings = settings_for(world).model_copy(update={"gateway_refresh_seconds": 0.2})
    with FakeOpenAIServer() as moved, running_gateway(settings, Recorded()) as url:
        auth = {"authorization": f"Bearer {world.token}"}
        assert httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=auth).is_success
        database = Database.open(world.url)
        with database.transaction() as session:
            session.execute(
                update(ProviderRow)
                .where(ProviderRow.name == "openai")
                .values(base_url=moved.base_url)
            )
        database.close()
        wait_for(
            lambda: (
                httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=auth).is_success
                and bool(moved.requests_to("/chat/completions"))
            ),
            10,
            "the new address is called",
        )
