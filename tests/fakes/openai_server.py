"""The one local fake of the OpenAI-compatible API (Mantle, or the gateway), for tests.

Stdlib only: an ``http.server`` on 127.0.0.1 in a daemon thread. It speaks what the real ``openai``
SDK sends and parses, so tests exercise the SDK over HTTP rather than a mock of it. It is as strict
as the real Mantle is known to be: every route takes only the request fields and query parameters
an AWS source shows on Mantle (``REQUEST_FIELDS``, ``QUERY_PARAMETERS``: each name with its source),
so a chat completion with ``top_k``, a fine-tuning job with ``suffix``, ``metadata`` or
``validation_file``, a file upload with a field other than ``file`` and ``purpose``, or a query
parameter on a route that takes none is refused with the OpenAI API's 400 ``invalid_request_error``
``Unrecognized request argument supplied: <name>`` naming the parameter. A test stands for a
confirmed extra by widening ``accepted_job_fields``.

- ``GET  /v1/models``, ``GET /v1/models/{id}``
- ``POST /v1/chat/completions`` (``n`` choices, and ``stream: true`` as server-sent events)
- ``POST /v1/files`` (multipart upload), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``
- ``POST /v1/fine_tuning/jobs``, ``GET /v1/fine_tuning/jobs`` (newest first),
  ``GET /v1/fine_tuning/jobs/{id}``, ``POST /v1/fine_tuning/jobs/{id}/cancel``,
  ``GET /v1/fine_tuning/jobs/{id}/events`` (newest first, like OpenAI), ``.../checkpoints``

Scripting, from the test::

    with FakeOpenAIServer() as server:
        server.reply = lambda request, index: "#### 18"       # what a chat completion answers
        server.fail_next("/v1/chat/completions", 429, "slow down")
        job = server.jobs["ftjob-1"]; server.set_job("ftjob-1", status="succeeded", fine_tuned_model="ft:x")
        server.add_metrics("ftjob-1", step=3, total_steps=10, critic_rewards_mean=0.6)
        client = openai.OpenAI(base_url=server.base_url, api_key="test")

Every request is recorded in ``server.requests`` (method, path, query, headers, JSON body).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Reply = Callable[[dict[str, Any], int], "str | dict[str, Any]"]

# Where each accepted name comes from. The samples are the AWS RFT-on-Mantle notebooks
# (aws-samples/amazon-bedrock-samples, custom-models/bedrock-reinforcement-fine-tuning/models/
# gpt-oss/gptoss_gsm8k_rft.ipynb and qwen/qwen_gsm8k_rft.ipynb); the chat page is the Bedrock user
# guide's "Inference using Chat Completions API" (bedrock-mantle), which names OpenAI's Chat
# Completions reference for the complete API: the sampling fields below are taken from that
# reference, limited to those a client of this project sends. rft.assumptions flags the rest
# (job `suffix`, `metadata`, `validation_file`) as unconfirmed extras.
_SAMPLES = "AWS RFT sample notebooks (gpt-oss, Qwen)"
_CHAT_PAGE = "Bedrock user guide, Inference using Chat Completions API (bedrock-mantle example)"
_OPENAI_REFERENCE = "OpenAI Chat Completions reference, named by the Bedrock chat page for the complete API"
CHAT_FIELDS: dict[str, str] = {
    "model": _CHAT_PAGE,
    "messages": _CHAT_PAGE,
    "max_tokens": f"{_SAMPLES}: chat.completions.create(..., max_tokens=100)",
    "max_completion_tokens": _OPENAI_REFERENCE,
    "temperature": _OPENAI_REFERENCE,
    "top_p": _OPENAI_REFERENCE,
    "n": _OPENAI_REFERENCE,
    "stop": _OPENAI_REFERENCE,
    "stream": _OPENAI_REFERENCE,
    "stream_options": _OPENAI_REFERENCE,
}
MANTLE_JOB_FIELD_SOURCES: dict[str, str] = {
    "model": f"{_SAMPLES}: fine_tuning.jobs.create(model=...)",
    "training_file": f"{_SAMPLES}: fine_tuning.jobs.create(training_file=...)",
    "method": f"{_SAMPLES}: extra_body={{'method': {{'type': 'reinforcement', ...}}}}",
}
MANTLE_JOB_FIELDS = frozenset(MANTLE_JOB_FIELD_SOURCES)
FILE_FIELDS: dict[str, str] = {
    "file": f"{_SAMPLES}: files.create(file=f, purpose='fine-tune')",
    "purpose": f"{_SAMPLES}: files.create(file=f, purpose='fine-tune')",
}
LIST_QUERY: dict[str, str] = {
    "limit": f"{_SAMPLES}: fine_tuning.jobs.list(limit=10), jobs.list_events(..., limit=100)",
    "after": "the OpenAI SDK's cursor pagination of the same lists (the next page's request)",
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: Any  # parsed JSON, the multipart fields, or None


def _default_reply(request: dict[str, Any], index: int) -> str:
    """Echo the last user message, so a test can tell which prompt was answered."""
    for message in reversed(request.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content)
            return f"echo: {text}"
    return "echo"


@dataclass
class _Failure:
    path_prefix: str
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


class FakeOpenAIServer:
    """An OpenAI-compatible API on 127.0.0.1 for tests; use as a context manager."""

    def __init__(
        self,
        *,
        models: tuple[str, ...] = ("openai.gpt-oss-20b", "qwen.qwen3-32b"),
        api_key: str | None = None,
    ):
        self.models: list[str] = list(models)
        self.api_key = api_key  # when set, requests without "Bearer <api_key>" get 401
        self.reply: Reply = _default_reply
        self.stream_chunk_chars = 4  # characters per streamed delta
        self.requests: list[RecordedRequest] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.file_contents: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.accepted_job_fields: frozenset[str] = MANTLE_JOB_FIELDS
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The URL to give ``openai.OpenAI(base_url=...)``."""
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    # --- scripting ----------------------------------------------------------------------------

    def fail_next(
        self, path_prefix: str, status: int, message: str = "scripted failure", **headers: str
    ) -> None:
        """The next request whose path starts with ``path_prefix`` gets an OpenAI error object."""
        with self._lock:
            self._failures.append(_Failure(path_prefix, status, message, dict(headers)))

    def add_job(
        self, job_id: str | None = None, *, model: str = "openai.gpt-oss-20b", **fields: Any
    ) -> dict[str, Any]:
        """A fine-tuning job that exists without a create call (e.g. one the workflow started)."""
        with self._lock:
            job_id = job_id or self._new_id("ftjob")
            self.jobs[job_id] = {**_new_job(job_id, model, "file-none", {}), **fields}
            return dict(self.jobs[job_id])

    def set_job(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Change a fine-tuning job (status, fine_tuned_model, error, ...)."""
        with self._lock:
            job = self.jobs[job_id]
            job.update(changes)
            if changes.get("status") in ("succeeded", "failed", "cancelled") and not job.get("finished_at"):
                job["finished_at"] = int(time.time())
            return dict(job)

    def add_event(
        self, job_id: str, message: str, *, data: dict[str, Any] | None = None, type: str = "message"
    ) -> None:
        with self._lock:
            sequence = next(self._ids)
            self.events.setdefault(job_id, []).append(
                {
                    "id": f"ftevent-{sequence}",
                    "object": "fine_tuning.job.event",
                    "created_at": int(time.time()) + sequence,  # strictly increasing, like real events
                    "level": "info",
                    "message": message,
                    "data": data or {},
                    "type": type,
                }
            )

    def add_metrics(self, job_id: str, **metrics: Any) -> None:
        """A per-step metrics event, as Mantle reports training progress."""
        step = metrics.get("step")
        self.add_event(job_id, f"Step {step}/{metrics.get('total_steps')}", data=metrics, type="metrics")

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    # --- internals ----------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def _take_failure(self, path: str) -> _Failure | None:
        with self._lock:
            for index, failure in enumerate(self._failures):
                if path.startswith(failure.path_prefix):
                    return self._failures.pop(index)
        return None


def _error(status: int, message: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    kinds = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }
    return {
        "error": {"message": message, "type": kinds.get(status, "api_error"), "param": param, "code": code}
    }


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    # --- plumbing -----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # a streamed upload
            chunks = []
            while size := int(self.rfile.readline().strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, method: str) -> None:
        fake = self.server_fake
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        query = parse_qs(url.query)
        raw = self._read_body()
        body: Any = None
        content_type = self.headers.get("Content-Type", "")
        if raw and content_type.startswith("application/json"):
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                self._send_json(400, _error(400, "request body is not valid JSON"))
                return
        elif raw and content_type.startswith("multipart/form-data"):
            body = _parse_multipart(content_type, raw)
        headers = {key.lower(): value for key, value in self.headers.items()}
        fake.requests.append(RecordedRequest(method, path, query, headers, body))

        if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            self._send_json(401, _error(401, "Incorrect API key provided.", code="invalid_api_key"))
            return
        failure = fake._take_failure(path)
        if failure is not None:
            self._send_json(failure.status, _error(failure.status, failure.message), failure.headers)
            return
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["v1"]:
            self._send_json(404, _error(404, f"no route {path}"))
            return
        route = parts[1:]
        try:
            handled = self._route(method, route, query, body)
        except KeyError as exc:
            self._send_json(404, _error(404, f"No such object: {exc.args[0]}"))
            return
        if not handled:
            self._send_json(404, _error(404, f"no route {method} {path}"))

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # --- routes -------------------------------------------------------------------------------

    def _route(self, method: str, route: list[str], query: dict[str, list[str]], body: Any) -> bool:
        fake = self.server_fake
        refused = self._unrecognized(method, route, query, body)
        if refused is not None:
            self._send_json(
                400, _error(400, f"Unrecognized request argument supplied: {refused}", param=refused)
            )
            return True
        match method, route:
            case "GET", ["models"]:
                self._send_json(200, {"object": "list", "data": [_model(m) for m in fake.models]})
            case "GET", ["models", *model_id]:
                name = "/".join(model_id)
                if name not in fake.models and name not in _fine_tuned(fake):
                    self._send_json(
                        404, _error(404, f"The model {name!r} does not exist", code="model_not_found")
                    )
                else:
                    self._send_json(200, _model(name))
            case "POST", ["chat", "completions"]:
                self._chat(body or {})
            case "POST", ["files"]:
                self._create_file(body or {})
            case "GET", ["files", file_id]:
                self._send_json(200, fake.files[file_id])
            case "GET", ["files", file_id, "content"]:
                self._send_bytes(200, fake.file_contents[file_id], "application/octet-stream")
            case "POST", ["fine_tuning", "jobs"]:
                self._create_job(body or {})
            case "GET", ["fine_tuning", "jobs"]:
                self._list_jobs(query)
            case "GET", ["fine_tuning", "jobs", job_id]:
                self._send_json(200, fake.jobs[job_id])
            case "POST", ["fine_tuning", "jobs", job_id, "cancel"]:
                job = fake.jobs[job_id]
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    self._send_json(400, _error(400, f"Job {job_id} is already {job['status']}"))
                else:
                    self._send_json(200, fake.set_job(job_id, status="cancelled"))
            case "GET", ["fine_tuning", "jobs", job_id, "events"]:
                _ = fake.jobs[job_id]  # an unknown job is a 404
                events = list(reversed(fake.events.get(job_id, [])))
                self._send_json(200, _page(events, query))
            case "GET", ["fine_tuning", "jobs", job_id, "checkpoints"]:
                _ = fake.jobs[job_id]
                self._send_json(200, {"object": "list", "data": [], "has_more": False})
            case _:
                return False
        return True

    def _unrecognized(
        self, method: str, route: list[str], query: dict[str, list[str]], body: Any
    ) -> str | None:
        """The first request field or query parameter no AWS source shows for this route."""
        fields, parameters = self._accepted(method, route)
        if isinstance(body, dict):
            unknown = sorted(set(body) - set(fields))
            if unknown:
                return unknown[0]
        unknown = sorted(set(query) - set(parameters))
        return unknown[0] if unknown else None

    def _accepted(self, method: str, route: list[str]) -> tuple[Iterable[str], Iterable[str]]:
        """(request fields, query parameters) this route takes; none for a route not listed."""
        match method, route:
            case "POST", ["chat", "completions"]:
                return CHAT_FIELDS, ()
            case "POST", ["files"]:
                return FILE_FIELDS, ()
            case "POST", ["fine_tuning", "jobs"]:
                return self.server_fake.accepted_job_fields, ()
            case "GET", ["fine_tuning", "jobs"] | ["fine_tuning", "jobs", _, "events" | "checkpoints"]:
                return (), LIST_QUERY
        return (), ()

    def _chat(self, request: dict[str, Any]) -> None:
        fake = self.server_fake
        model = request.get("model")
        if not isinstance(request.get("messages"), list) or not request["messages"]:
            self._send_json(400, _error(400, "'messages' is required", param="messages"))
            return
        if model not in fake.models and model not in _fine_tuned(fake):
            self._send_json(404, _error(404, f"The model {model!r} does not exist", code="model_not_found"))
            return
        n = int(request.get("n") or 1)
        replies = []
        for index in range(n):
            answer = fake.reply(request, index)
            replies.append(answer if isinstance(answer, dict) else {"content": str(answer)})
        completion_id = fake._new_id("chatcmpl")
        created = int(time.time())
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request["messages"])
        completion_tokens = sum(len(str(r.get("content", "")).split()) for r in replies)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if request.get("stream"):
            self._stream(completion_id, created, model, replies, usage, request)
            return
        choices = [
            {
                "index": index,
                "message": {"role": "assistant", "content": reply.get("content"), "refusal": None},
                "finish_reason": reply.get("finish_reason", "stop"),
                "logprobs": None,
            }
            for index, reply in enumerate(replies)
        ]
        self._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": choices,
                "usage": usage,
            },
        )

    def _stream(
        self,
        completion_id: str,
        created: int,
        model: str,
        replies: list[dict[str, Any]],
        usage: dict[str, int],
        request: dict[str, Any],
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        size = max(1, self.server_fake.stream_chunk_chars)

        def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        for index, reply in enumerate(replies):
            send([{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            text = reply.get("content") or ""
            for start in range(0, len(text), size):
                send(
                    [
                        {
                            "index": index,
                            "delta": {"content": text[start : start + size]},
                            "finish_reason": None,
                        }
                    ]
                )
            send([{"index": index, "delta": {}, "finish_reason": reply.get("finish_reason", "stop")}])
        if (request.get("stream_options") or {}).get("include_usage"):
            send([], usage=usage)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _create_file(self, fields: dict[str, Any]) -> None:
        fake = self.server_fake
        upload = fields.get("file")
        if not isinstance(upload, dict) or fields.get("purpose") is None:
            self._send_json(400, _error(400, "'file' and 'purpose' are required"))
            return
        file_id = fake._new_id("file")
        fake.file_contents[file_id] = upload["content"]
        fake.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(upload["content"]),
            "created_at": int(time.time()),
            "filename": upload.get("filename") or "upload",
            "purpose": fields["purpose"],
            "status": "processed",
        }
        self._send_json(200, fake.files[file_id])

    def _create_job(self, request: dict[str, Any]) -> None:
        fake = self.server_fake
        for key in ("model", "training_file"):
            if not request.get(key):
                self._send_json(400, _error(400, f"'{key}' is required", param=key))
                return
        if request["training_file"] not in fake.files:
            self._send_json(
                400, _error(400, f"File {request['training_file']} not found", param="training_file")
            )
            return
        job_id = fake._new_id("ftjob")
        fake.jobs[job_id] = _new_job(job_id, request["model"], request["training_file"], request)
        self._send_json(200, fake.jobs[job_id])

    def _list_jobs(self, query: dict[str, list[str]]) -> None:
        self._send_json(200, _page(list(reversed(list(self.server_fake.jobs.values()))), query))


def _new_job(job_id: str, model: str, training_file: str, request: dict[str, Any]) -> dict[str, Any]:
    method = request.get("method") or {}
    return {
        "id": job_id,
        "object": "fine_tuning.job",
        "created_at": int(time.time()),
        "model": model,
        "fine_tuned_model": None,
        "finished_at": None,
        "status": "validating_files",
        "training_file": training_file,
        "validation_file": request.get("validation_file"),
        "hyperparameters": (method.get(method.get("type", ""), {}) or {}).get("hyperparameters")
        or request.get("hyperparameters")
        or {},
        "method": method,
        "metadata": request.get("metadata"),
        "suffix": request.get("suffix"),
        "seed": request.get("seed") or 0,
        "error": None,
        "organization_id": "org-fake",
        "result_files": [],
        "trained_tokens": None,
        "estimated_finish": None,
        "integrations": [],
    }


def _fine_tuned(fake: FakeOpenAIServer) -> set[str]:
    return {job["fine_tuned_model"] for job in fake.jobs.values() if job.get("fine_tuned_model")}


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "fake"}


def _page(items: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
    after = (query.get("after") or [None])[0]
    limit = int((query.get("limit") or ["20"])[0])
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit}


def _parse_multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """Form fields as strings; file fields as {"filename", "content": bytes}."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        fields[name] = (
            {"filename": filename, "content": payload} if filename is not None else payload.decode()
        )
    return fields
