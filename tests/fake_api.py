"""A local HTTP server answering as Koios (``/api/v1``) and Blockfrost (``/api/v0``) would: the
real paths, methods, headers and pagination, over rows the test gives it (built from recorded
real responses or from a simulated chain's ledger, in the real shapes). Stdlib only
(``http.server`` in a thread), so the product's own httpx client talks to it unpatched.

- Koios is PostgREST: RPC parameters (``_pool_bech32``, or a JSON body for POST), horizontal
  filters on the result (``col=eq.|gte.|lte.|gt.|lt.|neq.|in.(…)``), ``order=col.asc,…``,
  ``offset``/``limit``, at most ``max_rows`` rows per answer, ``Content-Range`` (with a total
  when ``Prefer: count=exact`` asks and ``honour_count``), 206 for a partial page.
- Blockfrost: the ``project_id`` header is required, ``page``/``count`` (≤ 100)/``order``, the
  documented error bodies (403, 404).
- Faults, consumed in order: an HTTP status (with headers, e.g. ``Retry-After``), a delay
  before answering (a timeout for the client), or another body (a changed shape).
- Every request is logged (method, path, query, body, headers) for the tests to count.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Json = Any
Rows = list[dict[str, Any]]
KOIOS, BLOCKFROST = "/api/v1", "/api/v0"
NOT_FOUND = {"status_code": 404, "error": "Not Found",
             "message": "The requested component has not been found."}
FORBIDDEN = {"status_code": 403, "error": "Forbidden", "message": "Invalid project token."}


@dataclass
class Request:
    method: str
    path: str  # below the API's base: /pool_history, /pools/pool1…/history
    api: str  # 'koios' | 'blockfrost'
    query: list[tuple[str, str]]
    body: Json
    headers: dict[str, str]

    def param(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]


@dataclass
class Fault:
    """Applied to the next ``times`` requests whose path starts with ``path`` (and that
    ``match`` accepts): ``status`` with ``headers``, or a ``delay_s`` before the normal
    answer, or ``body`` instead of it."""

    path: str
    times: int = 1
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body: Json = None  # JSON, or bytes sent as they are
    match: Callable[[Request], bool] | None = None


def _typed(sample: Any, text: str) -> Any:
    if isinstance(sample, bool):
        return text == "true"
    if isinstance(sample, int):
        return int(text)
    if isinstance(sample, float):
        return float(text)
    return text


def _keep(row: dict[str, Any], column: str, spec: str) -> bool:
    op, _, value = spec.partition(".")
    have = row.get(column)
    if op == "in":
        options = [v.strip().strip('"') for v in value.strip("()").split(",")]
        return have is not None and have in [_typed(have, v) for v in options]
    if have is None:
        return op == "is" and value == "null"
    want = _typed(have, value)
    return {"eq": have == want, "neq": have != want, "gte": have >= want, "lte": have <= want,
            "gt": have > want, "lt": have < want}[op]


class FakeApi:
    def __init__(self, *, project_id: str = "") -> None:
        self.koios_get: dict[str, Callable[[dict[str, str]], Rows]] = {}
        self.koios_post: dict[str, Callable[[Json], Rows]] = {}
        self.blockfrost: dict[str, Json] = {}  # path -> object, or list (paged)
        self.project_id = project_id
        self.max_rows = 1000
        self.honour_count = True
        self.faults: list[Fault] = []
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def koios_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{KOIOS}"

    @property
    def blockfrost_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{BLOCKFROST}"

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests(self, path: str = "", api: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.log if r.path.startswith(path) and api in (None, r.api)]

    # --- answering ---------------------------------------------------------------------------

    def _fault(self, req: Request) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.times > 0 and req.path.startswith(f.path) and (f.match is None
                                                                    or f.match(req)):
                    f.times -= 1
                    return f
        return None

    def answer(self, req: Request) -> tuple[int, dict[str, str], Json]:
        with self._lock:
            self.log.append(req)
        fault = self._fault(req)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.status is not None:
                return fault.status, fault.headers, {"message": f"injected {fault.status}"}
            if fault.body is not None:
                return 200, {}, fault.body
        if req.api == "koios":
            return self._koios(req)
        return self._blockfrost(req)

    def _koios(self, req: Request) -> tuple[int, dict[str, str], Json]:
        params = dict(req.query)
        if req.method == "GET" and req.path in self.koios_get:
            rows = self.koios_get[req.path]({k: v for k, v in params.items() if k[0] == "_"})
        elif req.method == "POST" and req.path in self.koios_post:
            rows = self.koios_post[req.path](req.body)
        else:
            return 404, {}, {"code": "PGRST202", "details": None, "hint": None,
                             "message": f"Could not find the function {req.path}"}
        for column, spec in req.query:
            if column[0] != "_" and column not in ("order", "offset", "limit", "select"):
                rows = [r for r in rows if _keep(r, column, spec)]
        for key in reversed(params.get("order", "").split(",") if params.get("order") else []):
            column, _, direction = key.partition(".")
            rows = sorted(rows, key=lambda r, c=column: r.get(c), reverse=direction == "desc")
        offset = int(params.get("offset", 0))
        limit = min(int(params.get("limit", self.max_rows)), self.max_rows)
        page = rows[offset:offset + limit]
        counted = self.honour_count and "count=exact" in req.headers.get("prefer", "")
        total = str(len(rows)) if counted else "*"
        span = f"{offset}-{offset + len(page) - 1}" if page else "*"
        partial = counted and (offset > 0 or offset + len(page) < len(rows))
        return 206 if partial else 200, {"Content-Range": f"{span}/{total}"}, page

    def _blockfrost(self, req: Request) -> tuple[int, dict[str, str], Json]:
        if req.headers.get("project_id") != self.project_id:
            return 403, {}, FORBIDDEN
        found = self.blockfrost.get(req.path)
        if found is None:
            return 404, {}, NOT_FOUND
        if not isinstance(found, list):
            return 200, {}, found
        params = dict(req.query)
        count = min(int(params.get("count", 100)), 100)
        page = int(params.get("page", 1))
        rows = found[::-1] if params.get("order") == "desc" else found
        return 200, {}, rows[(page - 1) * count:page * count]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                which = "koios" if url.path.startswith(KOIOS) else "blockfrost"
                base = KOIOS if which == "koios" else BLOCKFROST
                req = Request(method, url.path[len(base):], which,
                              parse_qsl(url.query, keep_blank_values=True),
                              json.loads(raw) if raw else None,
                              {k.lower(): v for k, v in self.headers.items()})
                status, headers, body = api.answer(req)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler
