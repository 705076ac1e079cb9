"""/metrics parses as Prometheus text and counts what was served; /readyz flips when the
database goes away and back; shadows are mirrored off the response path and recorded."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry.database import Database
from registry.endpoints import RouteChange, ShadowedVersion, WeightedVersion, set_routes
from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway.conftest import Served
from tests.gateway.support import wait_for

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
    assert samples[("modelops_gateway_outcome_queue_depth", frozenset())] == 0
    keys = frozenset({"team": "team-a", "provider": "openai", "state": "active"}.items())
    assert samples[("modelops_gateway_provider_keys", keys)] == 1


def test_readyz_flips_while_the_database_is_unreachable(served: Served) -> None:
    assert httpx.get(served.url + "/healthz").status_code == 200
    assert httpx.get(served.url + "/readyz").status_code == 200
    auth = {"authorization": f"Bearer {served.world.token}"}
    refund = {"text": "refund"}
    assert httpx.post(served.v1 + "/endpoints/intent/invoke", json=refund, headers=auth).is_success
    name = make_url(served.world.url).database
    admin = create_engine(
        make_url(served.world.url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
        wait_for(lambda: httpx.get(served.url + "/readyz").status_code == 503, 10, "not ready")
        body = httpx.get(served.url + "/readyz").json()
        assert body["status"] == "not_ready" and body["checks"]["database"] is False
        assert httpx.get(served.url + "/healthz").status_code == 200  # the process is up
        # A token and routes already cached still answer: a keyless endpoint keeps serving.
        invoke = httpx.post(served.v1 + "/endpoints/intent/invoke", json=refund, headers=auth)
        assert invoke.status_code == 200, invoke.text
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    wait_for(lambda: httpx.get(served.url + "/readyz").status_code == 200, 10, "ready again")


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
