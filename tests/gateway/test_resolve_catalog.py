"""Resolve hands a consumer what the catalog says about calling the model: its default
parameters and its prompt template, read from the catalog files through `catalog sync`, the
route cache and resolve's JSON. The consumer then makes the call itself with the official
`openai` client, and the upstream receives exactly those parameters and that prompt."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from modelops.settings import Settings
from registry.catalog import load_catalog
from registry.catalog_sync import apply_sync, plan_sync
from registry.database import Database
from registry.endpoints import NewEndpoint, create_endpoint
from registry.keys import KeyRepository, MasterKeyring
from registry.lifecycle import NewVersion, register_version
from registry.teams import TeamRepository
from registry.tokens import Scope, TokenRepository
from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway.support import FAKE_KEY, MASTER_KEY, Recorded, running_gateway, wait_for

TEMPLATE = "Summarise this ticket for {audience}.\nKeep {{braces}} as they are.\n\n{ticket}"
PARAMETERS = {"temperature": 0.2, "max_tokens": 64, "stop": ["\n\n"], "seed": 7}


@dataclass
class Resolving:
    url: str
    token: str
    catalog: Path
    database_url: str

    def resolve(self, endpoint: str) -> httpx.Response:
        return httpx.get(
            f"{self.url}/v1/endpoints/{endpoint}/resolve",
            headers={"authorization": f"Bearer {self.token}"},
        )


def _write_catalog(directory: Path, upstream: str, models: dict[str, dict[str, object]]) -> None:
    (directory / "providers").mkdir(parents=True, exist_ok=True)
    (directory / "models").mkdir(exist_ok=True)
    provider = {"name": "openai", "kind": "openai", "base_url": upstream}
    (directory / "providers" / "openai.yaml").write_text(yaml.safe_dump(provider))
    for name, extra in models.items():
        model = {
            "name": name,
            "team": "team-a",
            "provider": "openai",
            "base_model": "gpt-fake",
            "category": "chat",
            **extra,
        }
        (directory / "models" / f"{name}.yaml").write_text(yaml.safe_dump(model))


def _sync(database: Database, catalog: Path) -> None:
    loaded = load_catalog(catalog)
    with database.transaction() as session:
        apply_sync(session, plan_sync(session, loaded))


@pytest.fixture
def resolving(pg_url: str, openai_server: FakeOpenAIServer, tmp_path: Path) -> Iterator[Resolving]:
    catalog = tmp_path / "catalog"
    models = {
        "drafter": {"parameters": PARAMETERS, "prompt_template": TEMPLATE},
        "plain": {},
    }
    _write_catalog(catalog, openai_server.base_url, models)
    database = Database.open(pg_url)
    _sync(database, catalog)
    ring = MasterKeyring.from_setting(Settings(master_key=MASTER_KEY).master_key)
    with database.transaction() as session:
        team = TeamRepository(session).ensure("team-a")
        KeyRepository(session, team, ring).add("openai", "main", FAKE_KEY)
        for name in models:
            register_version(
                session, team, NewVersion(model=name, provider_model_id=f"{name}-1", actor="t")
            )
            create_endpoint(
                session,
                team,
                NewEndpoint(name=name, model=name, environment="development", version=1, actor="t"),
            )
        scopes = [Scope.RESOLVE, Scope.CREDENTIALS]
        token = TokenRepository(session, team).create("consumer", scopes).token
    database.close()
    settings = Settings(
        database_url=pg_url,
        data_dir=tmp_path / "data",
        master_key=MASTER_KEY,
        team="team-a",
        gateway_refresh_seconds=0.2,
    )
    with running_gateway(settings, Recorded()) as url:
        yield Resolving(url, token.get_secret_value(), catalog, pg_url)


def test_resolve_gives_the_catalogs_parameters_and_prompt_template(
    resolving: Resolving,
) -> None:
    response = resolving.resolve("drafter")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["parameters"] == PARAMETERS
    assert body["prompt"] == {"template": TEMPLATE, "variables": ["audience", "ticket"]}
    assert (body["model"], body["provider"]["kind"]) == ("drafter-1", "openai")
    plain = resolving.resolve("plain").json()
    assert (plain["parameters"], plain["prompt"]) == ({}, None)  # the catalog gives neither


def test_a_consumer_makes_the_call_from_what_resolve_gave(
    resolving: Resolving, openai_server: FakeOpenAIServer
) -> None:
    """Everything needed is in the answer: no other configuration is read below."""
    config = resolving.resolve("drafter").json()
    prompt = config["prompt"]["template"].format(audience="an engineer", ticket="VPN is down")
    client = openai.OpenAI(
        base_url=config["provider"]["base_url"], api_key=config["credential"]["api_key"]
    )
    answer = client.chat.completions.create(
        model=config["model"],
        messages=[{"role": "user", "content": prompt}],
        **config["parameters"],
    )
    assert answer.choices[0].message.content
    [sent] = openai_server.requests_to("/chat/completions")
    assert sent.key == FAKE_KEY
    body = sent.json()
    assert {name: body[name] for name in PARAMETERS} == PARAMETERS
    assert body["model"] == "drafter-1"
    assert body["messages"] == [
        {
            "role": "user",
            "content": "Summarise this ticket for an engineer.\n"
            "Keep {braces} as they are.\n\nVPN is down",
        }
    ]


def test_a_catalog_change_reaches_resolve_on_the_next_re_read(resolving: Resolving) -> None:
    upstream = resolving.resolve("plain").json()["provider"]["base_url"]
    changed = {"parameters": {"temperature": 1.5}, "prompt_template": "Hi {name}"}
    drafter = {"parameters": PARAMETERS, "prompt_template": TEMPLATE}
    _write_catalog(resolving.catalog, upstream, {"drafter": drafter, "plain": changed})
    database = Database.open(resolving.database_url)
    try:
        _sync(database, resolving.catalog)
    finally:
        database.close()
    wait_for(
        lambda: resolving.resolve("plain").json()["parameters"] == {"temperature": 1.5},
        10,
        "the periodic re-read brings the new parameters",
    )
    assert resolving.resolve("plain").json()["prompt"]["variables"] == ["name"]
    assert resolving.resolve("drafter").json()["parameters"] == PARAMETERS
