"""Search an index from Python and print the passages found.

    python examples/search.py "Which countries could join Pillar 2?" --index index -k 3

Build the index first with `rag index corpus/` (or `rag.build_index(["corpus"], "index")`).
"""

from __future__ import annotations

import argparse
import sys

import rag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("query")
    parser.add_argument("--index", default=None, help="index folder (default: $RAG_INDEX or ./index)")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--mode", default="hybrid", choices=rag.MODES)
    args = parser.parse_args(argv)
    try:
        retriever = rag.Retriever(rag.open_index(args.index))
        hits = retriever.search(args.query, k=args.k, mode=args.mode)
    except rag.RagError as exc:  # every error we raise on purpose reads as one line saying what to do
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for hit in hits:
        print(f"{hit.rank}. {hit.title}  [{hit.doc_id} {hit.start}:{hit.end}]  score {hit.score:.4f}")
        print(f"   {' '.join(hit.text.split())[:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
