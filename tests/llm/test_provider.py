"""The provider itself against the scripted server: concurrency, key, fences, guard rails, prompts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from shared.llm import ChatModel, FallbackReason, SensitiveField, assert_clean, load_prompt, prompt_json, read_api_key
from shared.settings import Environment, Settings
from tests.llm.server import ModelServer, good, model_server


class Pick(BaseModel):
    choice: int


@pytest.fixture
async def server() -> AsyncIterator[ModelServer]:
    async with model_server() as running:
        yield running


async def test_the_concurrency_limit_holds_requests_back(server: ModelServer) -> None:
    server.answer(good({"choice": 1}, delay=0.2))
    model = ChatModel(base_url=server.url, model="m", timeout=5, concurrency=1)
    results = await asyncio.gather(*(model.complete(system="s", user="u", schema=Pick, used_today=0) for _ in range(3)))
    assert [r.value for r in results] == [Pick(choice=1)] * 3
    assert server.max_in_flight == 1
    # Waiting for a slot counts against the timeout: a queue longer than it falls back.
    hurried = ChatModel(base_url=server.url, model="m", timeout=0.3, concurrency=1)
    late = await asyncio.gather(*(hurried.complete(system="s", user="u", schema=Pick, used_today=0) for _ in range(3)))
    assert [r.reason for r in late].count(FallbackReason.timeout) >= 1


async def test_fenced_json_is_read_and_a_check_can_refuse(server: ModelServer) -> None:
    server.answer(good('```json\n{"choice": 2}\n```'))
    model = ChatModel(base_url=server.url, model="m")
    assert (await model.complete(system="s", user="u", schema=Pick, used_today=0)).value == Pick(choice=2)
    refused = await model.complete(
        system="s",
        user="u",
        schema=Pick,
        used_today=0,
        check=lambda p: ["choice must be odd"] if p.choice % 2 == 0 else [],
    )
    assert refused.reason is FallbackReason.malformed
    assert refused.exchange.errors[:2] == ["choice must be odd", "choice must be odd"]
    quota = await model.complete(system="s", user="u", schema=Pick, used_today=50)
    assert (quota.reason, quota.model_called) == (FallbackReason.quota, False)


async def test_the_key_comes_from_the_environment_or_a_file(tmp_path: Path, server: ModelServer) -> None:
    server.answer(good({"choice": 1}))
    env = Settings(environment=Environment.test, llm_base_url=server.url, llm_model="m", llm_api_key="from-env")
    model = ChatModel.from_settings(env)
    assert model is not None
    await model.complete(system="s", user="u", schema=Pick, used_today=0)
    assert server.headers[-1]["authorization"] == "Bearer from-env"
    secret = tmp_path / "key"
    secret.write_text("from-file\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MERITLOOP_LLM_API_KEY_FILE", str(secret))
        assert read_api_key(Settings(environment=Environment.test)) == "from-file"
    assert ChatModel.from_settings(Settings(environment=Environment.test)) is None  # off unless configured
    assert "from-env" not in repr(env)


def test_nothing_sensitive_passes_the_guard() -> None:
    for payload in (
        {"salary": 1},
        {"sources": [{"gender": "x"}]},
        {"a": {"peer_feedback": "text"}},
        {"base_salary": 2},
    ):
        with pytest.raises(SensitiveField):
            assert_clean(payload)
        with pytest.raises(SensitiveField):
            prompt_json(payload)
    assert_clean({"goals": [{"id": "g", "progress": 50}]})


def test_prompts_are_versioned_files() -> None:
    prompt = load_prompt("goal_assist", 1)
    assert prompt.id == "goal_assist/v1"
    assert "SMART" in prompt.text
    assert load_prompt("review_draft", 1).id == "review_draft/v1"
    with pytest.raises(FileNotFoundError):
        load_prompt("goal_assist", 99)
