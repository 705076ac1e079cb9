"""`modelops gateway --server granian`: the same app on granian, as a real process. The
official `openai` client works against it (whole and streamed answers), SIGTERM lets the
request in flight finish, and every answered request is an outcome row once it exited."""

from __future__ import annotations

import signal
import threading

import httpx
import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.gateway.support import FAKE_KEY, World, gateway_process, stored_outcomes, wait_for
from tests.gateway.test_coherence import _env

pytestmark = pytest.mark.slow
MESSAGES = [{"role": "user", "content": "hi"}]


def test_granian_serves_the_openai_client_and_flushes_outcomes_on_sigterm(
    world: World, openai_server: FakeOpenAIServer
) -> None:
    with gateway_process(_env(world), "--server", "granian") as gateway:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=world.token)
        raw = client.chat.completions.with_raw_response.create(
            model="assistant", messages=MESSAGES, user="customer-1"
        )
        whole = raw.parse()
        assert whole.choices[0].message.content == "echo: hi" and whole.model == "assistant"
        request_ids = [raw.headers["x-modelops-request-id"]]
        stream = client.chat.completions.create(model="assistant", messages=MESSAGES, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "echo: hi"

        openai_server.script(FAKE_KEY, Fault.hang(1.0))  # the next answer takes a second
        answers: list[httpx.Response] = []
        slow = threading.Thread(
            target=lambda: answers.append(
                httpx.post(
                    f"{gateway.url}/v1/chat/completions",
                    json={"model": "assistant", "messages": MESSAGES},
                    headers={"authorization": f"Bearer {world.token}"},
                    timeout=30,
                )
            )
        )
        slow.start()
        wait_for(lambda: len(openai_server.requests_to("/chat/completions")) == 3, 10, "upstream")
        gateway.process.send_signal(signal.SIGTERM)
        slow.join(timeout=30)
        assert gateway.process.wait(timeout=30) in (0, -signal.SIGTERM)
        output = gateway.process.stdout.read().decode() if gateway.process.stdout else ""
    [answer] = answers
    assert answer.status_code == 200, answer.text
    request_ids.append(answer.headers["x-modelops-request-id"])
    stored = stored_outcomes(world.url)
    assert len(stored) == 3  # whole, streamed, and the one in flight at SIGTERM
    assert set(request_ids) <= set(stored)
    assert "Traceback" not in output and FAKE_KEY not in output
