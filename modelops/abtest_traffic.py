"""Traffic for an A/B test: what sends requests to an endpoint, and a synthetic client
population that stands in for the gateway. The synthetic one routes each request by its
routing key through the endpoint's own route table (so the split is the real, sticky
one), draws its success from the version's rate, and stores the outcomes as the gateway's
writer would; a share of one version's outcomes can be dropped, as a client that
under-reports them does."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from registry.domain import Team
from registry.endpoints import route_table
from registry.orm import utcnow
from registry.outcomes import Outcome, store_outcomes
from registry.routing import RouteTable

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
