"""Endpoints: the names consumers call, their weighted routes and the append-only route ledger.

Modules: `domain` (what goes in and out), `tables` (rows), `rules` (what may be routed),
`repository` (reads), `changes` (create, route, undeploy), `ownership` (claim, release by
a rollout or A/B test), `writes` (how every change is written), `follow` (endpoints follow
stage changes), `snapshots` (route tables for the gateway's cache).
"""

from __future__ import annotations

from registry.endpoints.changes import create_endpoint, set_routes, undeploy_endpoint
from registry.endpoints.domain import (
    Endpoint,
    EndpointChange,
    EndpointStatus,
    Environment,
    NewEndpoint,
    Owner,
    OwnerKind,
    Route,
    RouteAction,
    RouteChange,
    RouteLedgerEntry,
    ShadowedVersion,
    WeightedVersion,
)
from registry.endpoints.follow import follow_stage_changes
from registry.endpoints.ownership import claim_endpoint, release_endpoint
from registry.endpoints.repository import EndpointRepository
from registry.endpoints.snapshots import load_route_tables, route_table
from registry.endpoints.writes import EndpointOwnedError

__all__ = [
    "Endpoint",
    "EndpointChange",
    "EndpointOwnedError",
    "EndpointRepository",
    "EndpointStatus",
    "Environment",
    "NewEndpoint",
    "Owner",
    "OwnerKind",
    "Route",
    "RouteAction",
    "RouteChange",
    "RouteLedgerEntry",
    "ShadowedVersion",
    "WeightedVersion",
    "claim_endpoint",
    "create_endpoint",
    "follow_stage_changes",
    "load_route_tables",
    "release_endpoint",
    "route_table",
    "set_routes",
    "undeploy_endpoint",
]
