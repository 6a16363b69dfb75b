"""The HTTP API's request and response bodies, as pydantic models: they validate requests and are the
OpenAPI schema. Response fields mirror ``rag search --json`` and ``rag ask --json`` exactly."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .config import ANSWER_K, SEARCH_K, Mode

MAX_QUESTION = 2000  # characters; a question, not a document
MAX_HISTORY = 20


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored


class SearchRequest(_Request):
    query: str = Field(min_length=1, max_length=MAX_QUESTION, description="What to look for.",
                       examples=["Which countries could join AUKUS Pillar 2?"])
    k: int = Field(5, ge=SEARCH_K[0], le=SEARCH_K[1], description="Number of passages to return.")
    mode: Mode = Field("hybrid", description="hybrid = dense + BM25 fused by reciprocal rank.")
    doc_ids: list[str] | None = Field(None, max_length=1000,
                                      description="Search only these documents (ids from GET /v1/documents).")


class HitOut(BaseModel):
    rank: int
    text: str
    doc_id: str
    title: str
    start: int = Field(description="Character offset in the document: document_text[start:end] == text.")
    end: int
    score: float
    dense_score: float | None
    bm25_score: float | None
    page: int | None
    location: str | None = Field(description="Where in the document: 'p. 3' (PDF), 'slide 4', 'Sheet1, rows 2–9', "
                                             "'§ Heading' (Word, EPUB, HTML, Markdown), or null.")
    also_in: list[str] = Field(description="Other documents carrying the same passage.")


class SearchResponse(BaseModel):
    query: str
    mode: Mode
    hits: list[HitOut]


class AskRequest(_Request):
    question: str = Field(min_length=1, max_length=MAX_QUESTION,
                          examples=["Which countries could join AUKUS Pillar 2?"])
    history: list[tuple[str, str]] = Field(default_factory=list, max_length=MAX_HISTORY,
                                           description="Earlier [question, answer] pairs, for follow-ups.")
    k: int | None = Field(None, ge=ANSWER_K[0], le=ANSWER_K[1],
                          description="Passages given to the model (default: the server's).")
    mode: Mode | None = Field(None, description="Retrieval mode (default: the server's).")
    stream: bool = Field(False, description="Answer as server-sent events: passages, token..., answer (or error).")


class PassageOut(BaseModel):
    """A numbered passage with its span: what a citation and a closest passage have in common."""

    n: int
    doc_id: str
    title: str
    start: int
    end: int
    text: str
    location: str | None = Field(description="Where in the document: 'p. 3' (PDF), 'slide 4', 'Sheet1, rows 2–9', "
                                             "'§ Heading' (Word, EPUB, HTML, Markdown), or null.")


class CitationOut(PassageOut):
    quote: str
    quote_start: int
    quote_end: int
    page: int | None


class SentenceOut(BaseModel):
    text: str
    citations: list[int]
    supported: bool
    support: float
    judge: float | None
    note: str
    quoted: bool = False  # a passage sentence the model chose as evidence, shown word for word


class ClosestOut(PassageOut):
    pass


class AskResponse(BaseModel):
    question: str
    standalone_question: str
    answer: str
    abstained: bool
    reason: str
    citations: list[CitationOut]
    sentences: list[SentenceOut]
    closest: list[ClosestOut]
    raw: str
    parts: list[str] = []  # the questions answered one by one, when the question was answered in parts
    timings: dict[str, float]


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    source: str
    chunks: int
    size: int
    characters: int
    sha256: str
    modified: str
    added: str


class DocumentsResponse(BaseModel):
    documents: list[DocumentOut]


class IndexReportOut(BaseModel):
    added: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: list[str]
    problems: list[str] = Field(description="One line per file not indexed (refused upload or unreadable).")
    found: int
    documents: int
    chunks: int
    embedded: int
    reused: int
    pruned: int = Field(0, description="Vectors dropped from the embedding cache (texts no longer indexed).")
    generation: str
    seconds: float
    changed: bool


class ErrorOut(BaseModel):
    error: str = Field(description="One line saying what went wrong and what to do.")
    type: str = Field(description="The error class, e.g. ConfigError, DocumentNotFoundError, ValidationError.")


class HealthOut(BaseModel):
    status: Literal["ok"]


class PassagesEvent(BaseModel):
    hits: list[HitOut]


class TokenEvent(BaseModel):
    text: str


def _inline(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s schema, pointing into the spec's components for the models it holds."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def _event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["event", "data"], "properties": {
        "event": {"const": name},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data}}}


# One server-sent event of ``POST /v1/ask`` with ``stream: true``: its name and its JSON data.
SSE_EVENT_SCHEMA: dict[str, Any] = {"oneOf": [
    _event("passages", _inline(PassagesEvent)),
    _event("token", _inline(TokenEvent)),
    _event("answer", {"$ref": "#/components/schemas/AskResponse"}),
    _event("error", {"$ref": "#/components/schemas/ErrorOut"}),
]}
