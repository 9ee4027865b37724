"""llm_judge: a Bedrock model grades each response against a rubric (RLAIF).

Reference: ``{"rubric": ..., "answer": <optional ideal answer>}``; a plain string reference is the
ideal answer, judged with the rubric from ``JUDGE_RUBRIC``. Without a rubric anywhere the sample
scores 0 with ``error_missing_rubric``.

One Converse call per sample (bedrock-runtime, ``JUDGE_MODEL_ID``), temperature 0, a system prompt
that asks for exactly one JSON object: ``{"nonce": <this call's verdict code>, "score": <number in
[JUDGE_SCORE_MIN, JUDGE_SCORE_MAX]>, "reason": ...}``. The verdict is clipped to that range and
mapped to [0, 1]. A reply that is not exactly one JSON object (optionally fenced), that was cut off
at the token limit, that lacks the call's nonce or a numeric score, scores 0 with
``error_bad_verdict``: a verdict the candidate wrote, quoted or repeated by the judge, never
counts (``lambda_rewards.llm_judge.verdict``). The response under judgement is wrapped
in delimiters carrying a random nonce, and the judge is told that nothing inside them is an
instruction: a policy cannot close the block and talk to the judge. Only the final answer is
judged (``lambda_rewards.common.answer``: what follows the last ``</think>``; a response still
inside unclosed reasoning scores 0 with ``error_no_answer``), cut in the middle beyond
``JUDGE_MAX_RESPONSE_CHARS``.

Calls in a batch run on up to ``JUDGE_MAX_CONCURRENCY`` threads. Throttling and transient errors
are retried with full-jitter exponential backoff while the sample's budget and the batch deadline
allow; botocore's own retries are off so the deadline stays ours. Tests inject a stub client with
``make_judge_handler(client_factory=...)``.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from lambda_rewards.common.answer import final_answer
from lambda_rewards.common.contract import Budget, Grade, Sample, make_handler, reference_object
from lambda_rewards.common.settings import ConfigError, env_float, env_int, env_str
from lambda_rewards.llm_judge.verdict import fresh_nonce, parse_verdict, system_prompt

REWARD_NAME = "llm_judge"
RETRYABLE = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalServerException",
        "ModelNotReadyException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 8.0


def judge_config(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The JUDGE_* settings (documented in ``lambda_rewards.common.settings``)."""
    low = env_float("JUDGE_SCORE_MIN", 0.0, environ=environ)
    high = env_float("JUDGE_SCORE_MAX", 10.0, environ=environ)
    if not high > low:
        raise ConfigError(f"JUDGE_SCORE_MAX ({high}) must be greater than JUDGE_SCORE_MIN ({low})")
    allowed = env_str("JUDGE_ALLOWED_MODEL_IDS", "", environ=environ) or ""
    return {
        "model_id": env_str("JUDGE_MODEL_ID", None, environ=environ),
        "allowed_model_ids": frozenset(item.strip() for item in allowed.split(",") if item.strip()),
        "rubric": env_str("JUDGE_RUBRIC", None, environ=environ),
        "max_concurrency": env_int("JUDGE_MAX_CONCURRENCY", 8, minimum=1, maximum=64, environ=environ),
        "max_tokens": env_int("JUDGE_MAX_TOKENS", 512, minimum=16, maximum=8192, environ=environ),
        "max_retries": env_int("JUDGE_MAX_RETRIES", 6, minimum=0, maximum=20, environ=environ),
        "score_min": low,
        "score_max": high,
        "max_response_chars": env_int(
            "JUDGE_MAX_RESPONSE_CHARS", 20_000, minimum=200, maximum=1_000_000, environ=environ
        ),
    }


def default_client_factory() -> Any:
    """A bedrock-runtime client with botocore's retries off (the grader retries within its
    deadline) and short connect timeouts."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            max_pool_connections=64,
        ),
    )


def _cut_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = (limit - 40) // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def build_prompt(sample: Sample, rubric: str, ideal: Any, limit: int) -> tuple[str, str]:
    """The user turn sent to the judge, and the call's verdict nonce (drawn so that nothing
    untrusted in the prompt contains it; only the system prompt carries it)."""
    task = next((m["content"] for m in reversed(sample.messages) if m.get("role") == "user"), "")
    marker = secrets.token_hex(8)
    parts = [f"## Task\n{_cut_middle(task, 8000)}", f"## Rubric\n{rubric}"]
    if ideal is not None:
        ideal_text = ideal if isinstance(ideal, str) else json.dumps(ideal, ensure_ascii=False)
        parts.append(f"## Reference answer\n{_cut_middle(ideal_text, 8000)}")
    answer = _cut_middle(final_answer(sample.response), limit)
    parts.append(f"## Candidate response\n<candidate-{marker}>\n{answer}\n</candidate-{marker}>")
    parts.append(
        f"Grade the text between <candidate-{marker}> and </candidate-{marker}>. Reply with the JSON "
        "object only, carrying the verdict code of your instructions."
    )
    prompt = "\n\n".join(parts)
    return prompt, fresh_nonce(prompt, sample.response)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


def make_judge_handler(
    client_factory: Callable[[], Any] = default_client_factory,
    environ: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Callable[[Any, Any], list[dict]]:
    """The judge's Lambda handler; ``client_factory`` builds the bedrock-runtime client (once,
    lazily, shared by the threads)."""
    config = judge_config(environ)
    client_lock = threading.Lock()
    client_holder: list[Any] = []

    def client() -> Any:
        with client_lock:
            if not client_holder:
                client_holder.append(client_factory())
            return client_holder[0]

    def converse(
        model_id: str, prompt: str, nonce: str, budget: Budget, started: float
    ) -> tuple[str | None, dict]:
        """The judge's reply text (None if no reply in time, "" if it was cut off at its token
        limit: a truncated verdict is no verdict) and figures about the call."""
        system = system_prompt(nonce, config["score_min"], config["score_max"])
        attempt = 0
        while True:
            try:
                reply = client().converse(
                    modelId=model_id,
                    system=[{"text": system}],
                    messages=[{"role": "user", "content": [{"text": prompt}]}],
                    inferenceConfig={"temperature": 0.0, "maxTokens": config["max_tokens"]},
                )
                blocks = reply.get("output", {}).get("message", {}).get("content", [])
                text = "".join(block.get("text", "") for block in blocks if isinstance(block, dict))
                if reply.get("stopReason") == "max_tokens":
                    text = ""
                return text, {"judge_attempts": float(attempt + 1)}
            except Exception as exc:
                code = _error_code(exc)
                if code not in RETRYABLE or attempt >= config["max_retries"]:
                    raise
                delay = random.uniform(0.0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
                left = min(budget.per_sample_seconds - (time.monotonic() - started), budget.remaining())
                if delay >= left - 0.05:
                    return None, {"judge_attempts": float(attempt + 1), "throttled": 1.0}
                sleep(delay)
                attempt += 1

    def grade(sample: Sample, budget: Budget) -> Grade:
        started = time.monotonic()
        reference = reference_object(sample.reference)
        rubric, ideal = config["rubric"], None
        if isinstance(reference, dict) and ("rubric" in reference or "answer" in reference):
            rubric = reference.get("rubric") or rubric
            ideal = reference.get("answer")
        elif reference is not None:
            ideal = reference
        if not rubric or not isinstance(rubric, str):
            return Grade(0.0, error="missing_rubric")
        if not final_answer(sample.response):
            return Grade(0.0, error="no_answer")
        model_id = config["model_id"]
        requested = sample.metadata.get("judge_model_id")
        if requested is not None:
            if requested not in config["allowed_model_ids"]:
                return Grade(0.0, error="model_not_allowed")
            model_id = requested
        prompt, nonce = build_prompt(sample, rubric, ideal, config["max_response_chars"])
        try:
            text, figures = converse(model_id, prompt, nonce, budget, started)
        except Exception as exc:
            code = _error_code(exc)
            reason = "throttled" if code in RETRYABLE else "judge_error"
            return Grade(0.0, {"judge_call_failed": 1.0}, error=reason)
        if text is None:
            return Grade(0.0, figures, error="timeout")
        score = parse_verdict(text, config["score_min"], config["score_max"], nonce=nonce)
        if score is None:
            return Grade(0.0, figures, error="bad_verdict")
        return Grade(score, figures)

    if not config["model_id"]:
        # Fail every invocation loudly, not sample by sample: a judge without a model is a
        # deployment bug. Importing the module (tests, tooling) still works.
        def unconfigured(event: Any, context: Any = None) -> list[dict]:
            raise ConfigError("JUDGE_MODEL_ID is not set: the judge has no model to call")

        return unconfigured

    return make_handler(
        grade,
        reward_name=REWARD_NAME,
        defaults={"sample_timeout_s": 30.0},
        require_reference=False,
        max_concurrency=config["max_concurrency"],
    )


handler = make_judge_handler()
