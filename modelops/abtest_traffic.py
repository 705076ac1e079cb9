"""Traffic for an A/B test: what sends requests to an endpoint; clients of a live gateway
that resolve the endpoint and report their outcomes (`GatewayTraffic`, the demo's); and a
synthetic population that stands in for the gateway (`SyntheticTraffic`): it routes each
request by its routing key through the endpoint's own route table (so the split is the
real, sticky one), draws its success from the version's rate, and stores the outcomes as
the gateway's writer would; a share of one version's outcomes can be dropped, as a client
that under-reports them does."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from registry.domain import Team
from registry.endpoints import route_table
from registry.orm import utcnow
from registry.outcomes import Outcome, store_outcomes
from registry.outcomes.tables import OutcomeRow
from registry.routing import ROUTING_KEY_HEADER, RouteTable

_RUNS = itertools.count()


class TrafficSource(Protocol):
    """Sends `requests` requests to an endpoint; their outcomes reach the rollups."""

    def send(self, endpoint: str, requests: int) -> None: ...


@dataclass
class SyntheticTraffic:
    """Clients with one routing key each. `success`: each version's success rate;
    `median_latency_ms`: its median latency (log-normal, sigma 0.5); `drop`: the share of a
    version's outcomes never reported; `quality`: the mean of a version's quality scores
    (normal, sd 0.15), for versions that get one. Seeded: the same seed sends the same traffic."""

    sessions: sessionmaker[Session]
    team: Team
    success: Mapping[int, float]
    median_latency_ms: Mapping[int, float] = field(default_factory=dict)
    quality: Mapping[int, float] = field(default_factory=dict)  # mean score, if scored
    drop: Mapping[int, float] = field(default_factory=dict)
    seed: int = 0
    clock: Callable[[], datetime] = utcnow
    sent: dict[int, int] = field(default_factory=dict)  # requests served per version
    stored: dict[int, int] = field(default_factory=dict)  # outcomes reported per version

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._prefix = f"syn{next(_RUNS)}s{self.seed}"
        self._count = itertools.count()

    def send(self, endpoint: str, requests: int) -> None:
        """One batch, stored in one transaction (the rollups see all of it or none)."""
        with self.sessions.begin() as session:
            table = route_table(session, self.team, endpoint)
            outcomes = [self._request(table, self.clock()) for _ in range(requests)]
            kept = [o for o in outcomes if o is not None]
            store_outcomes(session, kept)

    def _request(self, table: RouteTable, at: datetime) -> Outcome | None:
        rng = self._rng
        key = f"user-{rng.getrandbits(64):016x}"
        version = table.assign(key).version
        served = table.served_version(version)
        self.sent[version] = self.sent.get(version, 0) + 1
        ok = rng.random() < self.success.get(version, 1.0)
        median = self.median_latency_ms.get(version, 200.0)
        latency = min(60_000.0, median * math.exp(rng.gauss(0.0, 0.5)))
        score = None
        if version in self.quality:
            score = round(self.quality[version] + rng.gauss(0.0, 0.15), 3)
        if rng.random() < self.drop.get(version, 0.0):
            return None
        self.stored[version] = self.stored.get(version, 0) + 1
        return Outcome(
            request_id=f"{self._prefix}-{next(self._count)}",
            team_id=self.team.id,
            endpoint_id=table.endpoint_id,
            model_version_id=served.version_id,
            at=at,
            latency_ms=latency,
            success=ok,
            error_class=None if ok else "provider_error",
            input_tokens=rng.randrange(20, 400),
            output_tokens=rng.randrange(1, 50),
            cost_micro_usd=rng.randrange(50, 500),
            routing_key_hash=rng.getrandbits(63),
            quality=score,
        )


@dataclass
class GatewayTraffic:
    """Clients of a live gateway that execute their calls themselves, as `resolve` serves
    them: each resolves the endpoint with its own routing key (the gateway's sticky split
    picks the version and a request id), its call succeeds at the version's `success` rate,
    and it reports the outcome (`POST /v1/outcomes`). A batch returns once the gateway has
    stored every outcome of it. Seeded: the same seed draws the same clients and results."""

    url: str
    token: str  # scopes resolve and outcomes
    sessions: sessionmaker[Session]
    team: Team
    success: Mapping[int, float]
    median_latency_ms: Mapping[int, float] = field(default_factory=dict)
    seed: int = 0
    timeout_seconds: float = 60.0
    sent: dict[int, int] = field(default_factory=dict)  # requests served per version

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def send(self, endpoint: str, requests: int) -> None:
        with self.sessions.begin() as session:
            table = route_table(session, self.team, endpoint)
        stored = _stored(self.sessions, table.endpoint_id)
        headers = {"authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            reports = [self._call(client, table, endpoint) for _ in range(requests)]
            for start in range(0, len(reports), MAX_REPORTED):
                chunk = reports[start : start + MAX_REPORTED]
                client.post("/v1/outcomes", json={"outcomes": chunk}).raise_for_status()
        self._until(lambda: _stored(self.sessions, table.endpoint_id) >= stored + requests)

    def _call(self, client: httpx.Client, table: RouteTable, endpoint: str) -> dict[str, object]:
        rng = self._rng
        key = f"user-{rng.getrandbits(64):016x}"
        resolved = self._resolve(client, endpoint, key, table.assign(key).version)
        version = int(resolved["version"])
        self.sent[version] = self.sent.get(version, 0) + 1
        ok = rng.random() < self.success.get(version, 1.0)
        median = self.median_latency_ms.get(version, 200.0)
        report: dict[str, object] = {
            "request_id": resolved["request_id"],
            "endpoint": endpoint,
            "version": version,
            "latency_ms": round(min(60_000.0, median * math.exp(rng.gauss(0.0, 0.5))), 3),
            "success": ok,
            "user": key,
        }
        if not ok:
            report["error_class"] = "provider_error"
        return report

    def _resolve(
        self, client: httpx.Client, endpoint: str, key: str, expected: int
    ) -> dict[str, Any]:
        """The gateway's resolution for `key`, once the gateway routes by the table just read
        (it re-reads routes on its own schedule: until then it may answer the old split)."""
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            answer = client.get(
                f"/v1/endpoints/{endpoint}/resolve", headers={ROUTING_KEY_HEADER: key}
            )
            answer.raise_for_status()
            resolved: dict[str, Any] = answer.json()
            if resolved["version"] == expected:
                return resolved
            if time.monotonic() > deadline:
                raise TimeoutError(f"the gateway did not follow the routes of {endpoint!r}")
            time.sleep(0.05)  # the gateway's route cache refreshes on its own clock

    def _until(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.timeout_seconds
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway did not store the batch's outcomes in time")
            time.sleep(0.05)  # the outcome writer flushes on its own interval


MAX_REPORTED = 1000  # outcomes per POST /v1/outcomes (the gateway's limit)


def _stored(sessions: sessionmaker[Session], endpoint_id: int) -> int:
    with sessions.begin() as session:
        query = select(func.count()).where(OutcomeRow.endpoint_id == endpoint_id)
        return int(session.scalar(query) or 0)
