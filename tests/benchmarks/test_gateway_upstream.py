"""The benchmark's fake upstream frames HTTP/1.1 as clients send it: keep-alive, pipelined,
split across reads, and streams in OpenAI's server-sent events."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from benchmarks.gateway_procs import REPO, tree_pythonpath


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.gateway_upstream", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": tree_pythonpath(), "PATH": ""},
    )
    assert server.stdout is not None
    port = server.stdout.readline().split()[-1]  # "listening on PORT" once it listens
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)


def _request(body: bytes) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def _read_responses(conn: socket.socket, count: int) -> list[bytes]:
    """Whole responses by their Content-Length: the framing checked independently."""
    data, responses = b"", list[bytes]()
    while len(responses) < count:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed after {len(responses)} responses"
        data += chunk
        while b"\r\n\r\n" in data:
            head, rest = data.split(b"\r\n\r\n", 1)
            size = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(rest) < size:
                break
            responses.append(head + b"\r\n\r\n" + rest[:size])
            data = rest[size:]
    return responses


def test_pipelined_and_split_requests_each_get_one_completion(upstream: str) -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    one = _request(body)
    with socket.create_connection(("127.0.0.1", int(upstream.rsplit(":", 1)[1]))) as conn:
        conn.sendall(one + one)  # two in one write
        conn.sendall(one[:30])  # one split inside the head ...
        conn.sendall(one[30 : len(one) - 5])  # ... and inside the body
        conn.sendall(one[len(one) - 5 :])
        responses = _read_responses(conn, 3)
    for response in responses:
        head, payload = response.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert json.loads(payload)["choices"][0]["message"]["content"] == "pong"


def test_stream_true_answers_server_sent_events_ending_with_done(upstream: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream("POST", f"{upstream}/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"] == "text/event-stream"
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    deltas = [json.loads(event)["choices"][0]["delta"] for event in events[:-1]]
    assert "".join(delta.get("content", "") for delta in deltas) == "pong"


def test_anything_but_a_chat_completion_is_404_in_openai_s_error_shape(upstream: str) -> None:
    response = httpx.get(f"{upstream}/v1/models")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
