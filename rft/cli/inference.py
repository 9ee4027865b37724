"""Calling a model from the client: a trained model (by name or alias), or a base model.

Mantle models (trained or base) answer through the OpenAI-compatible chat completions API;
Bedrock deployments through bedrock-runtime's Converse API. Both are wrapped in one small
interface, ``ChatTarget``, so chat, the reward preflight and the evaluation use either the same way.

``RFT_MANTLE_BASE_URL`` overrides the Mantle endpoint (a proxy, a VPC endpoint, or a local fake in
tests); otherwise a trained model's record names its endpoint and a base model uses the region's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rft import catalog
from rft.converse import openai_to_converse
from rft.environment import Environment
from rft.errors import RftError, UnknownBaseModelError, UnknownModelError
from rft.records import ModelRecord
from rft.registry import ModelRegistry

MANTLE_URL_VARIABLE = "RFT_MANTLE_BASE_URL"
# The openai SDK retries throttling, 5xx and connection errors with backoff this many times.
MANTLE_MAX_RETRIES = 3
Messages = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Sampling:
    max_tokens: int = 1024
    temperature: float = 1.0
    top_p: float | None = None


@dataclass
class Answer:
    text: str
    usage: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None


class ChatTarget(Protocol):
    label: str  # what the user asked for, resolved (e.g. "gsm8k-v2 (mantle: ft:openai.gpt-oss-20b:...)")
    provider: str

    def complete(self, messages: Messages, sampling: Sampling, n: int = 1) -> list[Answer]: ...

    def stream(self, messages: Messages, sampling: Sampling) -> Iterator[str]: ...


# --- OpenAI-compatible (Mantle, gateway) ---------------------------------------------------------


class OpenAITarget:
    def __init__(self, client: Any, model: str, label: str, provider: str = "mantle") -> None:
        self.client, self.model, self.label, self.provider = client, model, label, provider

    def _kwargs(self, messages: Messages, sampling: Sampling) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
        }
        if sampling.top_p is not None:
            kwargs["top_p"] = sampling.top_p
        return kwargs

    def complete(self, messages: Messages, sampling: Sampling, n: int = 1) -> list[Answer]:
        kwargs = self._kwargs(messages, sampling)
        if n > 1:
            kwargs["n"] = n
        response = self.client.chat.completions.create(**kwargs)
        usage = response.usage.model_dump(exclude_none=True) if response.usage else {}
        usage = {k: v for k, v in usage.items() if isinstance(v, int)}
        answers = [
            Answer(choice.message.content or "", usage if i == 0 else {}, choice.finish_reason)
            for i, choice in enumerate(response.choices)
        ]
        if len(answers) < n:  # an endpoint that ignores `n`: ask again for the rest
            for _ in range(n - len(answers)):
                answers.extend(self.complete(messages, sampling, 1))
        return answers[:n]

    def stream(self, messages: Messages, sampling: Sampling) -> Iterator[str]:
        stream = self.client.chat.completions.create(**self._kwargs(messages, sampling), stream=True)
        try:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        finally:
            stream.close()


# --- Bedrock Converse ----------------------------------------------------------------------------


def to_converse(messages: Messages) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Dataset (OpenAI-style) messages -> (Converse system blocks, Converse messages): the one
    translation of rft.converse, which the gateway uses too."""
    return openai_to_converse(messages)


class BedrockTarget:
    provider = "bedrock"

    def __init__(self, runtime: Any, model_id: str, label: str) -> None:
        self.runtime, self.model_id, self.label = runtime, model_id, label

    def _kwargs(self, messages: Messages, sampling: Sampling) -> dict[str, Any]:
        system, turns = to_converse(messages)
        config: dict[str, Any] = {"maxTokens": sampling.max_tokens, "temperature": sampling.temperature}
        if sampling.top_p is not None:
            config["topP"] = sampling.top_p
        kwargs: dict[str, Any] = {"modelId": self.model_id, "messages": turns, "inferenceConfig": config}
        if system:
            kwargs["system"] = system
        return kwargs

    def complete(self, messages: Messages, sampling: Sampling, n: int = 1) -> list[Answer]:
        answers = []
        for _ in range(n):  # Converse returns one answer per call
            response = self.runtime.converse(**self._kwargs(messages, sampling))
            blocks = response.get("output", {}).get("message", {}).get("content", [])
            usage = response.get("usage", {})
            answers.append(
                Answer(
                    "".join(block.get("text", "") for block in blocks),
                    {
                        "prompt_tokens": usage.get("inputTokens", 0),
                        "completion_tokens": usage.get("outputTokens", 0),
                    },
                    response.get("stopReason"),
                )
            )
        return answers

    def stream(self, messages: Messages, sampling: Sampling) -> Iterator[str]:
        response = self.runtime.converse_stream(**self._kwargs(messages, sampling))
        for event in response.get("stream", []):
            delta = event.get("contentBlockDelta", {}).get("delta", {})
            if delta.get("text"):
                yield delta["text"]


# --- Sampling many prompts ------------------------------------------------------------------------


def sample_prompts(
    target: ChatTarget,
    prompts: Sequence[Messages],
    *,
    n: int,
    sampling: Sampling,
    concurrency: int = 4,
    description: str = "sampling",
) -> list[list[str]]:
    """``n`` answers to each prompt, in prompt order, with a progress bar on stderr."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rft.cli.common import err_console

    answers: list[list[str]] = [[] for _ in prompts]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(description, total=len(prompts))
        pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="rft-sample")
        try:
            futures = {
                pool.submit(target.complete, messages, sampling, n): i for i, messages in enumerate(prompts)
            }
            for future in as_completed(futures):
                answers[futures[future]] = [answer.text for answer in future.result()]
                progress.advance(task)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return answers


# --- Resolution ----------------------------------------------------------------------------------


def mantle_url(default: str | None) -> str | None:
    return os.environ.get(MANTLE_URL_VARIABLE) or default


def mantle_openai(target: Environment, base_url: str | None) -> Any:
    from rft.mantle import mantle_client

    return mantle_client(
        target.region, session=target.session, base_url=mantle_url(base_url), max_retries=MANTLE_MAX_RETRIES
    )


def for_record(target: Environment, record: ModelRecord) -> ChatTarget:
    """The trained model a record describes, through its own API."""
    if not record.callable:
        raise RftError(
            f"Model {record.name!r} is {record.status}, not callable: it was trained without a deployment "
            "(serve=false); start a run with serving to call it."
        )
    label = f"{record.name} ({record.provider}: {record.model_id})"
    if record.provider == "mantle":
        return OpenAITarget(mantle_openai(target, record.base_url), record.model_id, label)
    return BedrockTarget(target.client("bedrock-runtime"), record.model_id, label)


def for_base_model(target: Environment, model_id: str) -> ChatTarget:
    model = catalog.get_model(model_id)
    label = f"{model.id} (base model, {model.provider})"
    if model.provider == "mantle":
        return OpenAITarget(mantle_openai(target, catalog.mantle_base_url(target.region)), model.id, label)
    return BedrockTarget(target.client("bedrock-runtime"), model.id, label)


def for_gateway(target: Environment, model: str) -> ChatTarget:
    """``model`` (a name or alias) through the environment's gateway, as an application calls it."""
    from rft.client import signed_openai_client

    client = signed_openai_client(
        target.gateway_url.rstrip("/") + "/v1",
        region=target.region,
        session=target.session,
        max_retries=MANTLE_MAX_RETRIES,
    )
    return OpenAITarget(client, model, f"{model} (through the {target.name} gateway)", provider="gateway")


def resolve(target: Environment, model_or_name: str) -> tuple[ChatTarget, ModelRecord | None]:
    """A catalog base model id, else a trained model's name or alias in the registry."""
    try:
        return for_base_model(target, model_or_name), None
    except UnknownBaseModelError:
        pass
    try:
        # A person is reading: worth the few calls that list what exists (the gateway never lists).
        record = ModelRegistry(target.client("ssm"), target.name).resolve(model_or_name, listing=True)
    except UnknownModelError as exc:
        known = ", ".join(m.id for m in catalog.MODELS)
        raise UnknownModelError(f"{str(exc).rstrip('.')}; base models: {known}.") from exc
    return for_record(target, record), record


def needs_deployment(model_or_name: str, *, gateway: bool = False) -> bool:
    """A base model is called in the region with the caller's credentials; anything else needs the
    environment's registry or gateway."""
    return gateway or not any(model.id == model_or_name for model in catalog.MODELS)


def choose(target: Environment, model_or_name: str, *, gateway: bool = False) -> ChatTarget:
    """Through the gateway when asked, else straight to the model's own API."""
    return for_gateway(target, model_or_name) if gateway else resolve(target, model_or_name)[0]
