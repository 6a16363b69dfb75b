"""A minimal web app of another framework (Starlette) that calls our retriever in-process.

    python examples/starlette_app.py --index index --port 8001
    curl 'http://127.0.0.1:8001/search?q=Which+countries+could+join+Pillar+2%3F&k=3'

The retriever is built once and warmed up before the server listens (the embedding model loads
once); each search runs in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

import rag

PAGE = """<!doctype html><meta charset="utf-8"><title>Search</title>
<form action="/search"><input name="q" size="60" placeholder="Ask the documents"> <button>Search</button></form>"""


def create_app(index: str | None = None) -> Starlette:
    retriever = rag.Retriever(rag.open_index(index))
    retriever.warm_up()

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)

    async def search(request: Request) -> JSONResponse:
        query = request.query_params.get("q", "")
        try:
            k = int(request.query_params.get("k", "5"))
            hits = await run_in_threadpool(retriever.search, query, k)
        except (ValueError, rag.RagError) as exc:  # ConfigError is a ValueError: blank query, k out of range
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"query": query, "hits": [
            {"title": h.title, "doc_id": h.doc_id, "start": h.start, "end": h.end, "text": h.text} for h in hits]})

    return Starlette(routes=[Route("/", home), Route("/search", search)])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A Starlette app searching a rag index.")
    parser.add_argument("--index", default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    app = create_app(args.index)
    print(f"Listening on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
