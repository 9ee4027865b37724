"""A tiny fake of Mantle's OpenAI-compatible fine-tuning API, served on 127.0.0.1.

Enough of the Files and fine-tuning endpoints for the real openai SDK to talk to it over HTTP:
uploads (multipart), job create/list/retrieve/cancel, and paginated events. Tests script job
statuses (``statuses[job_id]``, one popped per retrieve), add events (``add_metrics``), make the
next request fail (``fail_next``), and read every request received (``requests``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TERMINAL = ("succeeded", "failed", "cancelled")
# The request fields and query parameters the AWS RFT-on-Mantle samples send (and the SDK's own
# pagination cursor): anything else is refused the way the OpenAI API refuses it.
JOB_FIELDS = frozenset({"model", "training_file", "method"})
LIST_QUERY = frozenset({"limit", "after"})


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeMantle:
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_contents: dict[str, bytes] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: dict[str, list[str]] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    fail_next: tuple[int, str] | None = None
    fine_tuned_suffix: str = "ft"
    # What AWS shows a Mantle job create carrying; a test widens it to stand for a confirmed extra.
    accepted_job_fields: frozenset[str] = JOB_FIELDS

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                fake._dispatch(self, "GET")

            def do_POST(self) -> None:
                fake._dispatch(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeMantle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- scripting ------------------------------------------------------------------------------

    def add_metrics(self, job_id: str, step: int, total: int, **values: float) -> None:
        self._add_event(
            job_id, "metrics", f"Step {step}/{total}", {"step": step, "total_steps": total, **values}
        )

    def add_message(self, job_id: str, message: str) -> None:
        self._add_event(job_id, "message", message, None)

    def _add_event(self, job_id: str, kind: str, message: str, data: Any) -> None:
        with self._lock:
            self._counter += 1
            event = {
                "id": f"ftevent-{self._counter:06d}",
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()) + self._counter,
                "level": "info",
                "message": message,
                "type": kind,
                "data": data,
            }
            self.events.setdefault(job_id, []).insert(0, event)  # newest first, like the API

    # --- HTTP -----------------------------------------------------------------------------------

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        body = _read_body(handler)
        received = Received(
            method,
            parts.path,
            dict(parse_qsl(parts.query)),
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        with self._lock:
            self.requests.append(received)
            failure, self.fail_next = self.fail_next, None
        if failure is not None:
            status, message = failure
            return _send(handler, status, {"error": {"message": message, "type": "fake_error", "code": None}})
        routes = [
            ("POST", r"/v1/files", self._create_file),
            ("POST", r"/v1/fine_tuning/jobs", self._create_job),
            ("GET", r"/v1/fine_tuning/jobs", self._list_jobs),
            ("GET", r"/v1/fine_tuning/jobs/([^/]+)", self._get_job),
            ("GET", r"/v1/fine_tuning/jobs/([^/]+)/events", self._list_events),
            ("POST", r"/v1/fine_tuning/jobs/([^/]+)/cancel", self._cancel_job),
        ]
        for verb, pattern, route in routes:
            match = re.fullmatch(pattern, parts.path)
            if verb == method and match:
                status, payload = route(received, *match.groups())
                return _send(handler, status, payload)
        return _send(
            handler, 404, {"error": {"message": f"no route {method} {parts.path}", "type": "not_found"}}
        )

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}-{self._counter:04d}"

    def _create_file(self, received: Received) -> tuple[int, Any]:
        filename, content, purpose = _parse_multipart(received)
        file_id = self._next_id("file")
        self.file_contents[file_id] = content
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        return 200, self.files[file_id]

    def _create_job(self, received: Received) -> tuple[int, Any]:
        body = received.json()
        unknown = sorted(set(body) - self.accepted_job_fields)
        if unknown:
            return _unrecognized(unknown[0])
        if body.get("training_file") not in self.files:
            return 400, {"error": {"message": "training_file not found", "type": "invalid_request_error"}}
        job_id = self._next_id("ftjob")
        self.jobs[job_id] = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": int(time.time()),
            "model": body["model"],
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "status": "validating_files",
            "fine_tuned_model": None,
            "finished_at": None,
            "error": None,
            "hyperparameters": (body.get("method") or {}).get("reinforcement", {}).get("hyperparameters", {}),
            "method": body.get("method"),
            "metadata": body.get("metadata"),
            "suffix": body.get("suffix"),
            "organization_id": "org-fake",
            "result_files": [],
            "seed": 0,
            "trained_tokens": None,
        }
        return 200, self.jobs[job_id]

    def _list_jobs(self, received: Received) -> tuple[int, Any]:
        unknown = sorted(set(received.query) - LIST_QUERY)
        if unknown:
            return _unrecognized(unknown[0])
        newest_first = list(reversed(list(self.jobs.values())))
        after = received.query.get("after")
        start = next((i + 1 for i, j in enumerate(newest_first) if j["id"] == after), 0) if after else 0
        limit = int(received.query.get("limit", 20))
        page = newest_first[start : start + limit]
        return 200, {"object": "list", "data": page, "has_more": start + limit < len(newest_first)}

    def _get_job(self, received: Received, job_id: str) -> tuple[int, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            return 404, {"error": {"message": f"job {job_id} not found", "type": "not_found"}}
        script = self.statuses.get(job_id)
        if script:
            status = script.pop(0)
            job["status"] = status
            if status == "succeeded":
                job["fine_tuned_model"] = (
                    f"{job['model']}:{self.fine_tuned_suffix}:{job.get('suffix') or job_id}"
                )
                job["finished_at"] = int(time.time())
            if status == "failed":
                job["error"] = {
                    "code": "grader_error",
                    "message": "The grader Lambda timed out",
                    "param": None,
                }
                job["finished_at"] = int(time.time())
        return 200, job

    def _list_events(self, received: Received, job_id: str) -> tuple[int, Any]:
        events = self.events.get(job_id, [])
        limit = int(received.query.get("limit", 20))
        after = received.query.get("after")
        start = 0
        if after:
            start = next((i + 1 for i, e in enumerate(events) if e["id"] == after), len(events))
        page = events[start : start + limit]
        return 200, {"object": "list", "data": page, "has_more": start + limit < len(events)}

    def _cancel_job(self, received: Received, job_id: str) -> tuple[int, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            return 404, {"error": {"message": f"job {job_id} not found", "type": "not_found"}}
        if job["status"] in TERMINAL:
            return 400, {
                "error": {"message": f"Job is already {job['status']}", "type": "invalid_request_error"}
            }
        job["status"] = "cancelled"
        job["finished_at"] = int(time.time())
        return 200, job


def _unrecognized(name: str) -> tuple[int, Any]:
    message = f"Unrecognized request argument supplied: {name}"
    return 400, {"error": {"message": message, "type": "invalid_request_error", "param": name, "code": None}}


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().strip(), 16)
            if size == 0:
                handler.rfile.readline()
                break
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _parse_multipart(received: Received) -> tuple[str, bytes, str]:
    boundary = received.headers.get("content-type", "").split("boundary=", 1)[1].strip('"').encode()
    filename, content, purpose = "", b"", ""
    for part in received.body.split(b"--" + boundary):
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        data = data.removesuffix(b"\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name and name.group(1) == b"file":
            found = re.search(rb'filename="([^"]*)"', head)
            filename = found.group(1).decode() if found else ""
            content = data
        elif name and name.group(1) == b"purpose":
            purpose = data.decode()
    return filename, content, purpose


def _send(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
