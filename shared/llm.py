"""Writing help from a language model behind an OpenAI-compatible chat-completions API.

Off unless ``MERITLOOP_LLM_BASE_URL`` and ``MERITLOOP_LLM_MODEL`` are set. The caller always
holds a local, deterministic answer: ``ChatModel.complete`` returns either an answer that
parsed into the caller's pydantic model *and* passed the caller's own check, or a
``FallbackReason`` saying why the local answer must be used (off, quota, timeout, down,
malformed). A malformed answer is sent back once with what was wrong; a second one falls back.

Every call is kept in the service's ``llm_audit`` table (``LLMAuditMixin``): the prompt as
sent, the answers as received, the outcome. The person it was made for reads their own rows;
the rows also count the person's daily quota. Prompts are versioned files in
``shared/prompts/`` (``load_prompt``), and ``assert_clean`` refuses a prompt payload that
names a field the platform never sends (pay, gender, peer feedback).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from importlib import resources
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from sqlalchemy import JSON, Boolean, Index, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared.database import UTCDateTime, utcnow
from shared.settings import Settings

T = TypeVar("T", bound=BaseModel)


class FallbackReason(StrEnum):
    off = "off"  # no model server configured
    feature_off = "feature_off"  # the setting of this feature turns the model off
    quota = "quota"  # the person's daily quota is used up
    timeout = "timeout"  # no answer (or no free slot) within the timeout
    down = "down"  # the server refused, failed or could not be reached
    malformed = "malformed"  # twice an answer that did not parse or did not pass the check


FALLBACK_NOTES: dict[FallbackReason, str] = {
    FallbackReason.off: "No language model is configured: the local suggester answered.",
    FallbackReason.feature_off: "The language model is switched off for this feature: the local suggester answered.",
    FallbackReason.quota: "Your daily quota of language-model requests is used up: the local suggester answered.",
    FallbackReason.timeout: "The language model did not answer in time: the local suggester answered.",
    FallbackReason.down: "The language model could not be reached: the local suggester answered.",
    FallbackReason.malformed: "The language model answered twice with something unusable: the local suggester "
    "answered.",
}

# Field names no prompt payload may carry, at any depth (the platform never sends them).
FORBIDDEN_KEYS = frozenset(
    {"salary", "pay", "compensation", "bonus", "gender", "peer_feedback", "peer_score", "peer_ratings", "feedback"}
)


class SensitiveField(ValueError):
    """A prompt payload named a field that must never leave the platform."""


def assert_clean(payload: object, path: str = "") -> None:
    """Refuse a payload with a forbidden key anywhere in it (a programming error, never user input)."""
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            name = str(key).lower()
            if name in FORBIDDEN_KEYS or any(word in name for word in ("salary", "gender")):
                raise SensitiveField(f"prompt payload names {path}{key}")
            assert_clean(value, f"{path}{key}.")
    elif isinstance(payload, list | tuple):
        for number, value in enumerate(payload):
            assert_clean(value, f"{path}{number}.")


# ---------------------------------------------------------------------------- prompts


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str
    version: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.name}/v{self.version}"


def load_prompt(name: str, version: int) -> Prompt:
    """``shared/prompts/<name>.v<version>.md``: a changed prompt is a new file, never an edit."""
    text = resources.files("shared.prompts").joinpath(f"{name}.v{version}.md").read_text(encoding="utf-8")
    return Prompt(name, version, text.strip())


# ---------------------------------------------------------------------------- the model


@dataclass(slots=True)
class Exchange:
    """What was sent and what came back, for the audit log."""

    messages: list[dict[str, str]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Completion(Generic[T]):
    value: T | None
    reason: FallbackReason | None
    exchange: Exchange
    model_called: bool

    @property
    def note(self) -> str | None:
        return None if self.reason is None else FALLBACK_NOTES[self.reason]


class _Unusable(Exception):
    def __init__(self, reason: FallbackReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_FENCE = re.compile(r"^```(?:json)?\s*(?P<body>.*?)\s*```$", re.DOTALL)


def _content(body: Any) -> str:
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("the answer has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise ValueError("choices[0].message.content is not text")
    text = content.strip()
    fenced = _FENCE.match(text)
    return fenced.group("body") if fenced else text


def read_api_key(settings: Settings) -> str | None:
    # A mounted secret arrives through MERITLOOP_LLM_API_KEY_FILE, read by the settings themselves.
    return settings.llm_api_key.get_secret_value() or None if settings.llm_api_key is not None else None


class ChatModel:
    """One OpenAI-compatible chat-completions endpoint, with a concurrency limit and a timeout."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 20.0,
        concurrency: int = 4,
        daily_quota: int = 50,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout = timeout
        self.daily_quota = daily_quota
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._slots = asyncio.Semaphore(concurrency)

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatModel | None:
        if not settings.llm_base_url or not settings.llm_model:
            return None
        return cls(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=read_api_key(settings),
            timeout=settings.llm_timeout,
            concurrency=settings.llm_concurrency,
            daily_quota=settings.llm_daily_quota,
        )

    async def complete(
        self,
        *,
        system: str,
        user: str,
        schema: type[T],
        used_today: int,
        check: Callable[[T], Sequence[str]] | None = None,
    ) -> Completion[T]:
        """The model's answer as ``schema`` when it parses and ``check`` finds nothing wrong, else the reason."""
        exchange = Exchange(messages=[{"role": "system", "content": system}, {"role": "user", "content": user}])
        if used_today >= self.daily_quota:
            return Completion(None, FallbackReason.quota, exchange, model_called=False)
        try:
            async with asyncio.timeout(self.timeout), self._slots:
                value = await self._ask(exchange, schema, check)
        except TimeoutError:
            exchange.errors.append("timeout")
            return Completion(None, FallbackReason.timeout, exchange, model_called=True)
        except _Unusable as exc:
            exchange.errors.append(str(exc))
            return Completion(None, exc.reason, exchange, model_called=True)
        return Completion(value, None, exchange, model_called=True)

    async def _ask(self, exchange: Exchange, schema: type[T], check: Callable[[T], Sequence[str]] | None) -> T:
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": False},
        }
        async with httpx.AsyncClient(timeout=None) as client:  # noqa: S113 - asyncio.timeout bounds the call
            for attempt in (1, 2):
                body = {
                    "model": self.model,
                    "messages": exchange.messages,
                    "temperature": 0.2,
                    "response_format": response_format,
                }
                try:
                    response = await client.post(self.url, json=body, headers=self._headers)
                except httpx.HTTPError as exc:
                    raise _Unusable(FallbackReason.down, f"{type(exc).__name__}: {exc}") from None
                if response.status_code >= 400:
                    raise _Unusable(FallbackReason.down, f"HTTP {response.status_code}")
                try:
                    text = _content(response.json())
                except ValueError as exc:  # json.JSONDecodeError included
                    exchange.answers.append(response.text)
                    problems = [str(exc)]
                else:
                    exchange.answers.append(text)
                    problems, value = self._parse(text, schema, check)
                    if value is not None:
                        return value
                exchange.errors.append("; ".join(problems))
                if attempt == 2:
                    break
                exchange.messages = [
                    *exchange.messages,
                    {"role": "assistant", "content": exchange.answers[-1]},
                    {
                        "role": "user",
                        "content": "That answer cannot be used: "
                        + "; ".join(problems)[:2000]
                        + ". Answer again with one JSON object that follows the schema and the rules.",
                    },
                ]
        raise _Unusable(FallbackReason.malformed, "two unusable answers")

    @staticmethod
    def _parse(text: str, schema: type[T], check: Callable[[T], Sequence[str]] | None) -> tuple[list[str], T | None]:
        try:
            value = schema.model_validate_json(text)
        except ValidationError as exc:
            return [f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()][:20], None
        problems = list(check(value)) if check is not None else []
        return problems, (None if problems else value)


def chat_model(state: Any, settings: Settings) -> ChatModel | None:
    """The app's model (built once per process, so its concurrency limit is per process)."""
    if not hasattr(state, "llm"):
        state.llm = ChatModel.from_settings(settings)
    model: ChatModel | None = state.llm
    return model


# ---------------------------------------------------------------------------- audit log


class LLMAuditMixin:
    """One writing-help request: the prompt sent, the answers received, what was shown."""

    __tablename__ = "llm_audit"

    if TYPE_CHECKING:

        def __init__(self, **kwargs: Any) -> None: ...

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID]
    feature: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt_version: Mapped[str] = mapped_column(String(60))
    provider: Mapped[str] = mapped_column(String(20))  # "model" or "local": who answered
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model_called: Mapped[bool] = mapped_column(Boolean, default=False)
    fallback_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    messages: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    answers: Mapped[list[str]] = mapped_column(JSON)
    errors: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (Index("ix_llm_audit_person_created", "person_id", "created_at"),)


class AuditEntryRead(BaseModel):
    id: uuid.UUID
    feature: str
    subject: str | None
    prompt_version: str
    provider: str
    model: str | None
    model_called: bool
    fallback_reason: str | None
    messages: list[dict[str, str]]
    answers: list[str]
    errors: list[str]
    created_at: datetime


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


async def calls_today(session: AsyncSession, model: type[LLMAuditMixin], person_id: uuid.UUID) -> int:
    """Model calls made for the person since midnight UTC (the quota counts these)."""
    start = day_start(utcnow())
    query = (
        select(func.count())
        .select_from(model)
        .where(model.person_id == person_id, model.model_called.is_(True), model.created_at >= start)
    )
    return int((await session.execute(query)).scalar_one())


def audit_row(
    model: type[LLMAuditMixin],
    *,
    person_id: uuid.UUID,
    feature: str,
    subject: str | None,
    prompt: Prompt,
    completion: Completion[Any] | None,
    model_name: str | None,
    reason: FallbackReason | None = None,
) -> LLMAuditMixin:
    """The audit row of one request (``completion`` None: the model was never asked, ``reason`` says why)."""
    exchange = completion.exchange if completion is not None else Exchange()
    why = completion.reason if completion is not None else reason
    return model(
        id=uuid.uuid4(),
        person_id=person_id,
        feature=feature,
        subject=subject,
        prompt_version=prompt.id,
        provider="model" if completion is not None and completion.value is not None else "local",
        model=model_name if completion is not None and completion.model_called else None,
        model_called=bool(completion is not None and completion.model_called),
        fallback_reason=None if why is None else why.value,
        messages=exchange.messages,
        answers=exchange.answers,
        errors=exchange.errors,
        created_at=utcnow(),
    )


async def audit_page(
    session: AsyncSession, model: type[LLMAuditMixin], person_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[AuditEntryRead], int]:
    """The person's own audit rows, newest first."""
    where = model.person_id == person_id
    total = int((await session.execute(select(func.count()).select_from(model).where(where))).scalar_one())
    rows = await session.execute(
        select(model).where(where).order_by(model.created_at.desc(), model.id).limit(limit).offset(offset)
    )
    items = [
        AuditEntryRead.model_validate(
            {name: getattr(row, name) for name in AuditEntryRead.model_fields},
        )
        for row in rows.scalars()
    ]
    return items, total


def prompt_json(payload: Mapping[str, Any]) -> str:
    """The user message: the payload as JSON, after ``assert_clean``."""
    assert_clean(payload)
    return json.dumps(payload, ensure_ascii=False, indent=1, default=str)


__all__ = [
    "FALLBACK_NOTES",
    "AuditEntryRead",
    "ChatModel",
    "Completion",
    "Exchange",
    "FallbackReason",
    "LLMAuditMixin",
    "Prompt",
    "SensitiveField",
    "assert_clean",
    "audit_page",
    "audit_row",
    "calls_today",
    "chat_model",
    "day_start",
    "load_prompt",
    "prompt_json",
]
