"""The workspace as an MCP server (Model Context Protocol): the tools ``search`` and ``ask``, and every
indexed document as a resource, for desktop apps and agents that speak MCP.

Built on the official ``mcp`` SDK (its ``MCPServer``). Served over stdio by ``rag mcp`` (``rag.mcp_cli``)
and over streamable HTTP at ``/mcp`` by ``rag api`` and ``rag serve`` (``rag.mcp_http``). Each tool
answers with text for the model to read and ``structuredContent`` for programs: ``search`` the
``rag search --json`` object, ``ask`` the ``rag ask --json`` object. A bad argument (``k=0``, an empty
query) comes back as a tool error (``isError``) of one line; the server goes on.

    >>> import anyio
    >>> from mcp import Client
    >>> from rag.testing import tiny_workspace
    >>> async def main():
    ...     async with Client(build_server(tiny_workspace())) as client:   # in-process, as in tests
    ...         found = await client.call_tool("search", {"query": "When does the ferry leave?", "k": 1})
    ...         bad = await client.call_tool("search", {"query": "ferry", "k": 0})
    ...         return found.structured_content["hits"][0]["doc_id"], bad.is_error, bad.content[0].text
    >>> anyio.run(main)
    ('harbour.txt', True, 'Error executing tool search: k: Input should be greater than or equal to 1')
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import metadata
from typing import Annotated, Any
from urllib.parse import quote

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from mcp_types import Resource as MCPResource
from pydantic import Field, ValidationError

from .answer import Answer, Citation
from .config import SEARCH_K, Mode
from .errors import RagError
from .http_models import MAX_QUESTION, AskResponse, SearchResponse
from .retriever import Hit, search_json
from .workspace import Workspace

DOCUMENT_URI = "rag://documents/{doc_id}"
INSTRUCTIONS = ("Searches and answers questions over the user's local documents. `ask` gives a short answer "
                "whose every sentence was checked against the passages it cites ([n] markers), or says the "
                "documents don't say; `search` returns passages with their document id and character span. "
                "Each indexed document is a resource (rag://documents/<doc_id>), its text as indexed.")
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)


def document_uri(doc_id: str) -> str:
    """The resource URI of a document (its id percent-encoded, so any id makes one path segment)."""
    return DOCUMENT_URI.format(doc_id=quote(doc_id, safe=""))


class RagMCPServer(MCPServer):
    """``MCPServer`` with the indexed documents listed as resources and one-line argument errors."""

    def __init__(self, workspace: Workspace) -> None:
        # The SDK calls logging.basicConfig() here; with a handler on the root logger, libraries that set
        # their own loggers to DEBUG (bm25s does) would print to the server's terminal. Put it back.
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        super().__init__(name="rag", title="rag: ask your documents", instructions=INSTRUCTIONS,
                         version=metadata.version("rag-assistant"), log_level="WARNING")
        root.handlers[:], root.level = handlers, level
        self.workspace = workspace

    async def list_resources(self) -> list[MCPResource]:
        """Every document in the index now (uploads and removals show at once), then any static resource."""
        try:
            documents = await anyio.to_thread.run_sync(self.workspace.documents)
        except RagError as exc:
            raise MCPError(code=INTERNAL_ERROR, message=str(exc)) from None
        listed = [MCPResource(uri=document_uri(d["doc_id"]), name=d["doc_id"], title=d["title"],
                              description=f"{d['source']} ({d['chunks']} passages)", mime_type="text/plain",
                              size=d["size"]) for d in documents]
        return listed + await super().list_resources()

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
                        ) -> CallToolResult | InputRequiredResult:
        """As ``MCPServer.call_tool``, but arguments that fail the schema are named in one line."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(f"Error executing tool {name}: {_first_error(cause)}") from cause


def _first_error(error: ValidationError) -> str:
    """``field: reason`` of the first problem, ``(and N more)`` for the rest: one line."""
    problems = error.errors()
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "arguments"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


def build_server(workspace: Workspace) -> RagMCPServer:
    """The MCP server of ``workspace``: tools ``search`` and ``ask``, documents as resources."""
    server = RagMCPServer(workspace)

    @server.tool(title="Search the documents", annotations=READ_ONLY)
    def search(query: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION,
                                           description="What to look for, in words.")],
               k: Annotated[int, Field(ge=SEARCH_K[0], le=SEARCH_K[1], description="Passages to return.")] = 5,
               mode: Annotated[Mode, Field(description="hybrid = dense + BM25 fused (best); dense; bm25.")]
               = "hybrid") -> Annotated[CallToolResult, SearchResponse]:
        """Find the passages of the user's documents that best match `query`, each with its document id,
        title and character span (start, end) in that document."""
        try:
            hits = workspace.search(query, k=k, mode=mode)
        except RagError as exc:
            raise ToolError(str(exc)) from None
        return CallToolResult(content=[TextContent(type="text", text=hits_text(hits))],
                              structured_content=search_json(query, mode, hits))

    @server.tool(title="Ask the documents", annotations=READ_ONLY)
    async def ask(question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION,
                                                 description="A standalone question.")]
                  ) -> Annotated[CallToolResult, AskResponse]:
        """Answer `question` from the user's documents in one to three sentences, each citing its passage
        as [n]; every sentence is verified against the passage it cites. When the documents do not hold
        the answer it says so (abstained) and lists the closest passages. Takes seconds: one answer is
        written at a time."""
        try:
            answer = await answer_in_thread(workspace, question)
        except RagError as exc:
            raise ToolError(str(exc)) from None
        return CallToolResult(content=[TextContent(type="text", text=answer_text(answer, workspace.index.locate))],
                              structured_content=workspace.answer_json(answer))

    @server.resource(DOCUMENT_URI, name="document", title="An indexed document", mime_type="text/plain",
                     description="The document's text as indexed: every span (start, end) refers to it.")
    def document(doc_id: str) -> str:
        row = workspace.document(doc_id)
        if row is None:
            raise ResourceNotFoundError(f"no document {doc_id!r} in the index (list the resources for the ids)")
        return row.text

    return server


async def answer_in_thread(workspace: Workspace, question: str) -> Answer:
    """``workspace.ask`` without blocking the event loop; a caller that gives up (a cancelled request)
    stops the answer and frees the model for the next question."""
    stream = workspace.stream(question)
    try:
        return await anyio.to_thread.run_sync(stream.result, abandon_on_cancel=True)
    finally:
        stream.close()


def _where(doc_id: str, start: int, end: int, location: str | None) -> str:
    return f"{doc_id} [{start}:{end}]" + (f" {location}" if location else "")


def hits_text(hits: list[Hit]) -> str:
    """Passages as the model reads them: rank, title, where, then the text."""
    if not hits:
        return "No passages found."
    return "\n\n".join(f"{h.rank}. {h.title} ({_where(h.doc_id, h.start, h.end, h.location)})\n{h.text}" for h in hits)


def answer_text(answer: Answer, locate: Callable[[str, int, int], str | None] | None = None) -> str:
    """The verified answer with its sources (where they are, when ``locate`` says: ``Index.locate``) and their
    supporting sentences, or the abstention with the closest passages."""
    def where(c: Citation) -> str:
        return _where(c.doc_id, c.start, c.end, locate(c.doc_id, c.start, c.end) if locate else None)

    if answer.abstained:
        closest = "\n".join(f"{n}. {h.title} ({_where(h.doc_id, h.start, h.end, h.location)}): "
                            f"{' '.join(h.text.split())[:300]}" for n, h in enumerate(answer.passages[:3], 1))
        return f"{answer.text} (reason: {answer.reason})" + (f"\n\nClosest passages:\n{closest}" if closest else "")
    sources = "\n".join(f"[{c.n}] {c.title} ({where(c)}): "
                        f"\u201c{' '.join(c.quote.split())}\u201d" for c in answer.citations)
    return f"{answer.text}\n\nSources:\n{sources}"
