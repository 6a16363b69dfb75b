"""Where `rag serve`'s start-up goes: each stage timed alone, one after the other, in a fresh process.

    .venv/bin/python eval/serve_stages.py [--index index]

`rag serve` overlaps most of these (ui/cli.py, Workspace.warm_up): this shows what there is to overlap.
Stages: the imports (rag, torch, sentence-transformers, Gradio, the server), the index and BM25, the
embedder, the answer model's crash probe (a cached verdict after the first run), loading the GGUF,
reading the fixed prompts, building the page. Prints one JSON object; nothing is asserted.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402 - the clock starts before the first import
import json  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402

STAGES: dict[str, float] = {}
_last = T0


def mark(stage: str) -> None:
    """The seconds since the previous mark, as ``stage``."""
    global _last
    now = time.perf_counter()
    STAGES[stage] = round(now - _last, 2)
    _last = now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path(__file__).resolve().parent.parent / "index")
    args = parser.parse_args()
    from rag.workspace import Workspace
    mark("import rag")
    import torch  # noqa: F401
    mark("import torch")
    import sentence_transformers  # noqa: F401
    mark("import sentence_transformers")
    import gradio  # noqa: F401
    mark("import gradio")
    from rag_ui.server import create_app  # pyright: ignore[reportMissingImports]
    mark("import the server (FastAPI, HTTP API)")
    from rag.index import Index
    from rag.models import bundled_gguf
    from rag.probe import choose_extra_bufts

    workspace = Workspace(Index(args.index))
    _ = workspace.index.snapshot().bm25
    mark("open the index, BM25")
    workspace.index.embedder.warm_up()
    mark("load the embedder")
    generator = workspace.assistant.generator
    threads = getattr(generator, "threads", 2)
    choose_extra_bufts(bundled_gguf(), threads)
    mark("crash probe (cached verdict)")
    generator.warm_up()
    mark("load the GGUF")
    workspace.warm_up()
    mark("read the fixed prompts")
    create_app(workspace)
    mark("build the page")
    print(json.dumps({"stages_s": STAGES, "total_s": round(time.perf_counter() - T0, 2),
                      "load1": round(os.getloadavg()[0], 2)}, indent=1))


if __name__ == "__main__":
    main()
