"""Before a leg is timed: one plain and one streamed chat completion must come back whole."""

from __future__ import annotations

import json

import httpx

from benchmarks.gateway_legs import Target
from benchmarks.gateway_procs import BenchmarkError
from benchmarks.gateway_upstream import REPLY

CHECK_REQUESTS = 2  # both are served, and recorded, by the leg like any other request


def chat_body(model: str, *, stream: bool = False) -> str:
    request = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 8}
    return json.dumps({**request, "stream": True} if stream else request)


def _headers(target: Target) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    return {**headers, "authorization": target.authorization} if target.authorization else headers


def check_chat(target: Target) -> None:
    """One plain completion must come back whole, or the leg is broken, not timed."""
    try:
        response = httpx.post(
            target.url, content=chat_body(target.model), headers=_headers(target), timeout=30
        )
    except httpx.HTTPError as exc:
        raise BenchmarkError(f"no answer to a chat completion: {exc!r}") from None
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        content = None
    if response.status_code != 200 or content != REPLY:
        raise BenchmarkError(
            f"a chat completion got HTTP {response.status_code}, not {REPLY!r} in choices: "
            f"{response.text[:300]!r}"
        )


def check_stream(target: Target) -> str:
    """ "ok" when the streamed answer reassembles to the upstream's and ends with [DONE]."""
    body, parts, events = chat_body(target.model, stream=True), [], []
    try:
        with httpx.stream(
            "POST", target.url, content=body, headers=_headers(target), timeout=30
        ) as response:
            if response.status_code != 200:
                return f"HTTP {response.status_code}: {response.read()[:300]!r}"
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        for event in events[:-1]:
            for choice in json.loads(event)["choices"]:
                parts.append(choice.get("delta", {}).get("content") or "")
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return f"{exc!r}"
    if not events or events[-1] != "[DONE]":
        return f"the stream did not end with data: [DONE] ({len(events)} events)"
    return "ok" if "".join(parts) == REPLY else f"content {''.join(parts)!r}, not {REPLY!r}"
