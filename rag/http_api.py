"""The HTTP API: search, ask (JSON or server-sent events), list/upload/remove documents, health.

Served alone by ``rag api`` (``create_api``) and beside the chat by ``rag serve`` (``install`` on the
chat's FastAPI app). The OpenAPI spec is at ``/openapi.json``. Errors are JSON
``{"error": "<one line>", "type": "<ErrorClass>"}``; user mistakes are 4xx, never 500.

    >>> from rag.testing import tiny_workspace
    >>> from fastapi.testclient import TestClient
    >>> client = TestClient(create_api(tiny_workspace()), base_url="http://127.0.0.1")
    >>> client.post("/v1/search", json={"query": "When does the ferry leave?", "k": 1}).json()["hits"][0]["doc_id"]
    'harbour.txt'
    >>> client.delete("/v1/documents/nothing.txt").json()["type"], client.get("/health").status_code
    ('DocumentNotFoundError', 200)

``uvicorn.run(create_api(workspace), host="127.0.0.1", port=8000)`` serves it (what ``rag api`` does).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .access import RequireKey
from .answer import AnswerStream
from .crosssite import LOOPBACK_HOSTS, SameOrigin
from .documents import SUPPORTED_SUFFIXES
from .errors import (
    BusyError,
    DocumentError,
    RagError,
)
from .http_models import (
    SSE_EVENT_SCHEMA,
    AskRequest,
    AskResponse,
    DocumentsResponse,
    ErrorOut,
    HealthOut,
    IndexReportOut,
    SearchRequest,
    SearchResponse,
)
from .limits import LimitBody
from .ratelimit import RateLimit
from .retriever import search_json
from .uploads import safe_name
from .workspace import Workspace

log = logging.getLogger(__name__)
UPLOAD_TYPES = "One or more documents: " + ", ".join(sorted(SUPPORTED_SUFFIXES)) + "."

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in [
        (400, "Bad request: a value we cannot use (e.g. a blank query)."),
        (401, "Missing or wrong API key."),
        (413, "Request body too large."),
        (422, "The body does not match the schema."),
        (503, "No usable index (build one with `rag index`), or it is being written."),
    ]
}
NOT_FOUND = {404: {"model": ErrorOut, "description": "Unknown document id."}}
SSE_DOC = {"text/event-stream": {"schema": SSE_EVENT_SCHEMA,
                                 "example": 'event: token\ndata: {"text": "Japan"}\n\n'}}


def create_api(workspace: Workspace, key: str | None = None,
               hosts: Collection[str] | None = LOOPBACK_HOSTS, rate_limit: str | None = None) -> FastAPI:
    """The API alone as an ASGI app (what ``rag api`` serves). ``key``: see ``rag.access``; ``hosts``: the
    ``Host`` names served (``rag.crosssite``; None: any); ``rate_limit``: per client (``rag.ratelimit``)."""
    app = FastAPI(title="rag: ask your documents", version="1",
                  description="Search and cited answers over a local index of documents.")
    install(app, workspace, key, hosts, rate_limit)
    return app


def install(app: FastAPI, workspace: Workspace, key: str | None = None,
            hosts: Collection[str] | None = LOOPBACK_HOSTS, rate_limit: str | None = None) -> None:
    """Add the ``/v1`` routes, ``/health``, JSON error handlers, body limits, the API-key check and the
    cross-site guard to ``app``. Call before mounting anything at ``/``; the checks then cover the whole app."""

    @app.get("/health", response_model=HealthOut, responses={503: ERRORS[503]}, tags=["meta"])
    def health() -> dict[str, str]:
        """Whether the server is up and has an index to answer from (needs no API key)."""
        workspace.index.snapshot()
        return {"status": "ok"}

    @app.post("/v1/search", response_model=SearchResponse, responses={**ERRORS, **NOT_FOUND}, tags=["search"])
    def search(body: SearchRequest) -> dict[str, Any]:
        """The `k` passages that best match `query`; same JSON as `rag search --json`.

        Runs beside answers being generated (it does not wait for them)."""
        hits = workspace.search(body.query, k=body.k, mode=body.mode, doc_ids=body.doc_ids)
        return search_json(body.query, body.mode, hits)

    @app.post("/v1/ask", response_model=AskResponse, tags=["answers"],
              responses={**ERRORS, 200: {"description": "The answer (`rag ask --json`), or with `stream: true` "
                                         "server-sent events: `passages`, `token`..., then `answer` or `error`.",
                                         "content": SSE_DOC}})
    def ask(body: AskRequest):
        """A verified answer with citations, or an abstention naming the closest passages.

        One answer is generated at a time; others wait their turn."""
        workspace.index.snapshot()  # no index: 503 now, rather than an error event after a 200
        if not body.stream:
            return workspace.answer_json(workspace.ask(body.question, body.history, k=body.k, mode=body.mode))
        stream = workspace.stream(body.question, body.history, k=body.k, mode=body.mode)
        return StreamingResponse(_events(stream, workspace), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/v1/documents", response_model=DocumentsResponse, responses={401: ERRORS[401], 503: ERRORS[503]},
             tags=["documents"])
    def documents() -> dict[str, Any]:
        """Every indexed document: id, title, source, chunks, size, when added."""
        return {"documents": workspace.documents()}

    @app.post("/v1/documents", response_model=IndexReportOut, responses=ERRORS, tags=["documents"])
    def upload(files: list[UploadFile] = File(description=UPLOAD_TYPES)):  # noqa: B008
        """Add or update documents (multipart field `files`). Refused files are named in `problems`;
        the others are indexed. 400 when none could be."""
        with tempfile.TemporaryDirectory() as tmp:
            received = []
            for n, part in enumerate(files):
                folder = Path(tmp, str(n))  # each in its own folder: two files may share a name
                folder.mkdir()
                path = folder / safe_name(part.filename or "")
                with path.open("wb") as out:
                    while chunk := part.file.read(1 << 20):
                        out.write(chunk)
                received.append(str(path))
            result = workspace.upload(received)
        if result.report is None:
            raise DocumentError("upload", "no file was added: " + "; ".join(result.problems))
        return result.to_dict()

    @app.delete("/v1/documents/{doc_id:path}", response_model=IndexReportOut, responses={**ERRORS, **NOT_FOUND},
                tags=["documents"])
    def remove(doc_id: str) -> dict[str, Any]:
        """Remove one document: its text, vectors and uploaded file (a file of your own folder stays)."""
        return workspace.remove(doc_id).to_dict()

    install_errors(app)
    app.add_middleware(LimitBody, upload_limit=int(workspace.max_upload_mb * 1_000_000) + 64_000)
    app.add_middleware(RequireKey, key=key)  # no key, no body read
    if rate_limit:
        app.add_middleware(RateLimit, limit=rate_limit)  # before the key check: guessing keys is limited too
    app.add_middleware(SameOrigin, hosts=hosts)  # runs before the key and body checks: other web pages get nothing
    from .integrations import install_integrations  # OpenAI-compatible chat, MCP: behind the checks above
    install_integrations(app, workspace)


def _events(stream: AnswerStream, workspace: Workspace) -> Iterator[str]:
    """The answer as server-sent events. ``passages`` comes once retrieval is done, before the text."""
    try:
        sent_passages = False
        for piece in stream:
            if not sent_passages:
                sent_passages = True
                yield _event("passages", {"hits": search_json("", "", stream.passages)["hits"]})
            yield _event("token", {"text": piece})
        if stream.answer is not None:
            if not sent_passages:
                yield _event("passages", {"hits": search_json("", "", stream.passages)["hits"]})
            yield _event("answer", workspace.answer_json(stream.answer))
    except RagError as exc:
        yield _event("error", {"error": str(exc), "type": type(exc).__name__})
    except Exception as exc:  # headers are sent: the client can only learn of it in the stream
        log.exception("answer stream failed")
        yield _event("error", {"error": f"internal error ({type(exc).__name__}); see the server log",
                               "type": "InternalError"})
    finally:
        stream.close()  # a client that disconnects frees the model for the next question


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _error(status: int, message: str, kind: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, "type": kind, **extra}, status_code=status)


def install_errors(app: FastAPI) -> None:
    """JSON one-line error responses: a ``RagError`` with its class's status, validation errors 422, bugs 500."""
    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        response = _error(exc.status, str(exc), type(exc).__name__)  # the most specific class's status
        if isinstance(exc, BusyError):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", ""))}
                   for e in exc.errors()]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"][1:] if first["loc"][:1] == ["body"] else first["loc"]) or "body"
        if exc.errors() and exc.errors()[0].get("type") == "json_invalid":
            where, first["msg"] = "body", "not valid JSON (send Content-Type: application/json and a JSON object)"
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        return _error(422, f"{where}: {first['msg']}{more}", "ValidationError", details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail), "type": "HTTPError"}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not the user's fault: log the traceback here, send one line there.
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal error ({type(exc).__name__}); see the server log", "InternalError")
