"""Bad requests get OpenAI's error shape with a message that names what is wrong (and
`param` the field), and change nothing: no upstream call, no outcome."""

from __future__ import annotations

import httpx
import pytest

from registry.database import Database
from registry.endpoints import EndpointChange, undeploy_endpoint
from registry.tokens import TokenRepository
from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway.conftest import Served

CHAT = "/chat/completions"
GOOD = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}


def _post(served: Served, path: str, token: str | None, **kw: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    headers |= kw.pop("headers", {})  # type: ignore[arg-type]
    return httpx.post(served.v1 + path, headers=headers, **kw)  # type: ignore[arg-type]


def _error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert "Traceback" not in response.text
    return body["error"]  # type: ignore[no-any-return]


CASES = [
    (
        "malformed JSON",
        {"content": b'{"model": "assistant", "messages": ['},
        400,
        None,
        "not valid JSON",
    ),
    ("empty body", {"content": b""}, 400, None, "empty"),
    ("not an object", {"json": ["assistant"]}, 400, None, "JSON object"),
    (
        "missing model",
        {"json": {"messages": GOOD["messages"]}},
        400,
        "model",
        "'model' is required",
    ),
    (
        "no messages",
        {"json": {"model": "assistant", "messages": []}},
        400,
        "messages",
        "non-empty array",
    ),
    (
        "bad role",
        {"json": {"model": "assistant", "messages": [{"role": "robot", "content": "x"}]}},
        400,
        "messages[0].role",
        "allowed: system, developer, user, assistant, tool",
    ),
    (
        "content not text",
        {"json": {"model": "assistant", "messages": [{"role": "user", "content": 7}]}},
        400,
        "messages[0].content",
        "must be a string, an array of content parts, or null",
    ),
    (
        "invalid stream flag",
        {"json": {**GOOD, "stream": "yes"}},
        400,
        "stream",
        "'stream' must be true or false, got 'yes'",
    ),
    (
        "temperature out of range",
        {"json": {**GOOD, "temperature": 3}},
        400,
        "temperature",
        "from 0 to 2, got 3",
    ),
    (
        "content part without a type",
        {"json": {**GOOD, "messages": [{"role": "user", "content": [{"text": "hi"}]}]}},
        400,
        "messages[0].content",
        "content[0].type: a part needs a type such as 'text'",
    ),
    (
        "stream options without stream",
        {"json": {**GOOD, "stream_options": {"include_usage": True}}},
        400,
        "stream_options",
        "only allowed with 'stream': true",
    ),
    (
        "unknown endpoint",
        {"json": {**GOOD, "model": "nope"}},
        404,
        "model",
        "endpoint 'nope' does not exist",
    ),
    (
        "wrong category",
        {"json": {**GOOD, "model": "paint"}},
        400,
        "model",
        "endpoint 'paint' serves 'text-to-image', not chat",
    ),
    (
        "oversized body",
        {"content": b'{"model": "assistant", "x": "' + b"a" * (5 << 20) + b'"}'},
        413,
        None,
        "at most 4194304 are accepted",
    ),
    (
        "routing key too long",
        {"json": GOOD, "headers": {"x-modelops-routing-key": "k" * 300}},
        400,
        "x-modelops-routing-key",
        "at most 256",
    ),
]


@pytest.mark.parametrize(
    ("what", "request_kw", "status", "param", "says"), CASES, ids=[c[0] for c in CASES]
)
def test_a_bad_chat_request_is_refused_by_name_and_changes_nothing(
    served: Served,
    openai_server: FakeOpenAIServer,
    what: str,
    request_kw: dict[str, object],
    status: int,
    param: str | None,
    says: str,
) -> None:
    error = _error(_post(served, CHAT, served.world.token, **request_kw), status)
    assert says in str(error["message"]), error
    assert error["param"] == param
    assert openai_server.requests_to(CHAT) == []
    assert list(served.sink.outcomes) == []


def test_a_missing_or_unknown_token_is_a_401(served: Served) -> None:
    missing = _error(_post(served, CHAT, None, json=GOOD), 401)
    assert "Authorization: Bearer" in str(missing["message"])
    assert missing["type"] == "authentication_error"
    unknown = _error(_post(served, CHAT, "mo_" + "x" * 43, json=GOOD), 401)
    assert unknown["message"] == "the API token is invalid or revoked"
    scheme = _error(
        _post(served, CHAT, None, json=GOOD, headers={"authorization": "Basic abc"}), 401
    )
    assert "Bearer <token>" in str(scheme["message"])
    assert list(served.sink.outcomes) == []


def test_a_revoked_token_is_refused_at_once(served: Served) -> None:
    assert _post(served, CHAT, served.world.token, json=GOOD).status_code == 200
    database = Database.open(served.world.url)
    with database.transaction() as session:
        TokenRepository(session, served.world.team).revoke(served.world.token_id)
    database.close()
    # The NOTIFY reaches the cache right after the commit; poll, do not sleep.
    from tests.gateway.support import wait_for

    wait_for(
        lambda: _post(served, CHAT, served.world.token, json=GOOD).status_code == 401,
        1.0,
        "the revoked token is refused",
    )
    error = _error(_post(served, CHAT, served.world.token, json=GOOD), 401)
    assert error["message"] == "the API token is invalid or revoked"


def test_a_token_without_the_scope_is_a_403(served: Served) -> None:
    error = _error(
        _post(served, "/outcomes", served.world.invoke_token, json={"outcomes": []}), 403
    )
    assert "lacks the 'outcomes' scope" in str(error["message"])


def test_an_undeployed_endpoint_answers_409_naming_its_state(served: Served) -> None:
    database = Database.open(served.world.url)
    with database.transaction() as session:
        change = EndpointChange(endpoint="assistant", actor="ops", reason="retired")
        undeploy_endpoint(session, served.world.team, change)
    database.close()
    from tests.gateway.support import wait_for

    wait_for(
        lambda: _post(served, CHAT, served.world.token, json=GOOD).status_code == 409,
        1.0,
        "the undeployed endpoint is refused",
    )
    error = _error(_post(served, CHAT, served.world.token, json=GOOD), 409)
    assert error["code"] == "endpoint_undeployed"
    assert "endpoint 'assistant' is undeployed" in str(error["message"])
    models = httpx.get(
        served.v1 + "/models", headers={"authorization": f"Bearer {served.world.token}"}
    )
    assert [m["id"] for m in models.json()["data"]] == ["intent", "paint"]


def test_unknown_routes_and_methods_answer_in_the_same_shape(served: Served) -> None:
    _error(httpx.get(served.v1 + "/nothing-here"), 404)
    _error(httpx.get(served.v1 + CHAT), 405)


def test_invoke_refuses_bad_input_by_field(served: Served, openai_server: FakeOpenAIServer) -> None:
    token = served.world.token
    missing = _error(_post(served, "/endpoints/intent/invoke", token, json={}), 400)
    assert missing["param"] == "text"
    extra = _error(
        _post(served, "/endpoints/intent/invoke", token, json={"text": "x", "k": 1}), 400
    )
    assert extra["param"] == "k"
    chat = _error(_post(served, "/endpoints/assistant/invoke", token, json={"text": "x"}), 400)
    assert chat["code"] == "wrong_category" and "use POST /v1/chat/completions" in str(
        chat["message"]
    )
    # An image endpoint is a generation job; its provider (local) draws no images.
    image = _error(_post(served, "/endpoints/paint/invoke", token, json={"prompt": "x"}), 400)
    assert (image["param"], image["code"]) == ("model", "unsupported_category")
    assert image["message"] == (
        "provider kind 'local' does not serve 'text-to-image'; it serves: chat, classification"
    )
    assert list(served.sink.outcomes) == [] and openai_server.requests == []


def test_no_free_key_is_the_gateways_own_429_with_retry_after(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    from tests.fakes.server import Fault

    openai_server.script("sk-test-gateway-0001", Fault.rate_limited(retry_after="300"))
    first = _post(served, CHAT, served.world.token, json=GOOD)
    error = _error(first, 429)
    assert error["code"] == "no_key_available" and error["type"] == "rate_limit_error"
    assert 295 <= int(first.headers["retry-after"]) <= 300
    # The key cools in the database: the next request is refused without calling upstream.
    again = _post(served, CHAT, served.world.token, json=GOOD)
    assert again.status_code == 429 and 290 <= int(again.headers["retry-after"]) <= 300
    assert len(openai_server.requests_to(CHAT)) == 1


def test_a_request_in_flight_when_its_endpoint_is_undeployed_finishes(
    served: Served, openai_server: FakeOpenAIServer
) -> None:
    import threading

    from tests.fakes.server import Fault
    from tests.gateway.support import wait_for

    openai_server.script("sk-test-gateway-0001", Fault.hang(1.0))
    answers: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: answers.append(
            _post(served, CHAT, served.world.token, json=GOOD, timeout=30)
        )
    )
    slow.start()
    wait_for(lambda: openai_server.requests_to(CHAT), 10, "the slow call reached the provider")
    database = Database.open(served.world.url)
    with database.transaction() as session:
        undeploy_endpoint(
            session,
            served.world.team,
            EndpointChange(endpoint="assistant", actor="ops", reason="now"),
        )
    database.close()
    wait_for(
        lambda: _post(served, CHAT, served.world.token, json=GOOD).status_code == 409,
        1.0,
        "new requests refused",
    )
    slow.join(timeout=30)
    [answer] = answers
    assert answer.status_code == 200, answer.text
