"""A small OpenAI-compatible chat-completions server for the tests, with answers scripted per test.

It runs uvicorn in the test's event loop on a free port, so the provider talks real HTTP to it.
Each request takes the next scripted ``Answer`` (the last one repeats); every request body and
header is recorded, and so is the highest number of requests in flight at once.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

Content = str | dict[str, Any] | Callable[[dict[str, Any]], "str | dict[str, Any]"]


@dataclass(frozen=True)
class Answer:
    """``content`` (JSON object, text, or built from the request body), after ``delay`` s; ``status`` >= 400 fails."""

    content: Content = ""
    delay: float = 0.0
    status: int = 200


def good(content: Content, delay: float = 0.0) -> Answer:
    return Answer(content, delay)


def malformed(text: str = "Sure! Here is your goal: ship it.") -> Answer:
    return Answer(text)


def slow(seconds: float, content: Content = "{}") -> Answer:
    return Answer(content, seconds)


def down(status: int = 503) -> Answer:
    return Answer("", 0.0, status)


@dataclass
class ModelServer:
    url: str = ""
    script: list[Answer] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def answer(self, *answers: Answer) -> None:
        self.script = list(answers)
        self.requests.clear()
        self.headers.clear()
        self.max_in_flight = 0

    def prompt(self, number: int = -1) -> dict[str, Any]:
        """The JSON payload of the user message of request ``number``."""
        messages = self.requests[number]["messages"]
        payload: dict[str, Any] = json.loads(next(m["content"] for m in messages if m["role"] == "user"))
        return payload

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def complete(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            answer = self.script.pop(0) if len(self.script) > 1 else (self.script[0] if self.script else Answer())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if answer.delay:
                    await asyncio.sleep(answer.delay)
            finally:
                self.in_flight -= 1
            if answer.status >= 400:
                return JSONResponse({"error": {"message": "unavailable"}}, status_code=answer.status)
            content = answer.content(body) if callable(answer.content) else answer.content
            text = content if isinstance(content, str) else json.dumps(content)
            return JSONResponse(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                }
            )

        return app


@asynccontextmanager
async def model_server() -> AsyncIterator[ModelServer]:
    state = ModelServer()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(state.app(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    state.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield state
    finally:
        server.should_exit = True
        await task
        sock.close()


def closed_port_url() -> str:
    """A base URL where nothing listens (the server is down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
