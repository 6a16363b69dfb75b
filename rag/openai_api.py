"""An OpenAI-compatible chat endpoint beside the API: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Any client of OpenAI's Chat Completions API (the ``openai`` packages, LangChain, chat front ends) gets
the usual grounded answer: retrieval, an answer whose sentences are verified against the passages
they cite as ``[n]``, or an abstention. The text stays plain ``content``; the ``rag ask --json``
object (citations with ``doc_id``, ``title``, ``start``, ``end``, ``quote``…, ``abstained``,
``reason``) travels in an extra top-level field ``rag``, which clients that do not know it ignore.

With ``stream: true`` the answer comes as ``chat.completion.chunk`` events, then ``data: [DONE]``.
The text is sent once verified, so a client never shows a sentence that verification removed; while
the model writes, the stream carries SSE comments (which clients skip). The last chunk
(``finish_reason: "stop"``) carries ``rag``. Errors use OpenAI's error object (``rag.openai_errors``).

    >>> from fastapi.testclient import TestClient
    >>> from rag.http_api import create_api
    >>> from rag.testing import tiny_workspace
    >>> client = TestClient(create_api(tiny_workspace()), base_url="http://127.0.0.1")
    >>> reply = client.post("/v1/chat/completions", json={"model": "rag", "messages": [
    ...     {"role": "user", "content": "When does the ferry leave?"}]}).json()
    >>> reply["object"], reply["rag"]["citations"][0]["doc_id"], "[1]" in reply["choices"][0]["message"]["content"]
    ('chat.completion', 'harbour.txt', True)
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, StreamingResponse

from .answer import Answer, AnswerStream
from .config import AnswerSettings
from .errors import RagError
from .models import BUNDLED_GGUF_NAME
from .openai_errors import OpenAIErrors, error_object
from .openai_models import ChatRequest, conversation
from .workspace import Workspace

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0  # while the model writes, an SSE comment this often: the client sees life, a gone one is noticed
STARTED = int(time.time())


def model_id(settings: AnswerSettings) -> str:
    """The id ``/v1/models`` lists: ``rag-`` and the answer model's name (or the generator's).

    >>> model_id(AnswerSettings()), model_id(AnswerSettings(generator="extractive"))
    ('rag-qwen2.5-coder-1.5b-instruct-q4_k_m', 'rag-extractive')
    """
    if settings.model:
        return "rag-" + Path(settings.model).name.removesuffix(".gguf")
    if settings.generator == "llama":
        return "rag-" + BUNDLED_GGUF_NAME.removesuffix(".gguf")
    return f"rag-{settings.generator}"


def install_openai(app: FastAPI, workspace: Workspace) -> None:
    """Add ``/v1/chat/completions``, ``/v1/models`` and ``/v1/models/{id}`` to ``app``, with OpenAI-style
    errors on them. Not in the app's OpenAPI spec: OpenAI's API reference is theirs."""
    router = APIRouter(include_in_schema=False)
    model = model_id(workspace.settings)

    def model_object() -> dict[str, Any]:
        return {"id": model, "object": "model", "created": STARTED, "owned_by": "rag"}

    @router.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [model_object()]}

    @router.get("/v1/models/{name:path}")
    def one_model(name: str):
        if name != model:
            return JSONResponse(error_object(f"no model {name!r} here; this server answers with {model!r}", 404,
                                             "model_not_found"), status_code=404)
        return model_object()

    @router.post("/v1/chat/completions")
    def chat_completions(body: ChatRequest):
        question, history = conversation(body.messages)
        workspace.index.snapshot()  # no index: 503 now, rather than an error event after a 200
        reply = Reply(model, workspace.answer_json)
        if not body.stream:
            return reply.completion(workspace.ask(question, history))
        stream = workspace.stream(question, history)
        return StreamingResponse(reply.chunks(stream), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    app.include_router(router)
    app.add_middleware(OpenAIErrors)


class Reply:
    """One answer in OpenAI's shapes: a ``chat.completion``, or ``chat.completion.chunk`` events."""

    def __init__(self, model: str, answer_json: Callable[[Answer], dict[str, Any]] = Answer.to_dict) -> None:
        self.model = model
        self.answer_json = answer_json  # the ``rag ask --json`` object (Workspace.answer_json: with locations)
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def completion(self, answer: Answer) -> dict[str, Any]:
        """The non-streamed response."""
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text, "refusal": None},
                             "finish_reason": "stop", "logprobs": None}],
                "rag": self.answer_json(answer)}

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    def chunks(self, stream: AnswerStream) -> Iterator[str]:
        """The streamed response: the role, comments while the model writes, the verified text word by
        word, the final chunk with ``rag``, then ``[DONE]`` (or an error object, then nothing)."""
        try:
            yield self.chunk({"role": "assistant", "content": ""})
            last = time.monotonic()
            for _ in stream:
                if time.monotonic() - last >= HEARTBEAT_S:
                    last = time.monotonic()
                    yield ": the model is writing; the text comes once verified\n\n"
            answer = stream.answer
            if answer is None:  # stopped before the end: nothing verified to send
                return
            for word in re.findall(r"\s*\S+", answer.text):
                yield self.chunk({"content": word})
            yield self.chunk({}, "stop", rag=self.answer_json(answer))
            yield "data: [DONE]\n\n"
        except RagError as exc:
            yield _error_event(str(exc), exc.status, type(exc).__name__)
        except Exception as exc:  # headers are sent: the client can only learn of it in the stream
            log.exception("chat completion stream failed")
            yield _error_event(f"internal error ({type(exc).__name__}); see the server log", 500, "InternalError")
        finally:
            stream.close()  # a client that disconnects frees the model for the next question


def _error_event(message: str, status: int, kind: str) -> str:
    return f"data: {json.dumps(error_object(message, status, kind), ensure_ascii=False)}\n\n"
