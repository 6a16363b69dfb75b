"""Local, offline question answering over a folder of documents: index, search, cite.

Importing this package loads no model; models load on first use, once per process.

    >>> import rag
    >>> from rag.testing import FakeEmbedder, tiny_documents
    >>> docs = tiny_documents()                       # a folder with two short .txt files
    >>> index = rag.Index(docs.parent / "index", embedder=FakeEmbedder())  # no embedder: the bundled model
    >>> index.sync([docs]).added
    ['harbour.txt', 'pillar.txt']
    >>> for hit in rag.Retriever(index).search("Who may join Pillar 2?", k=1):
    ...     print(hit.doc_id, hit.start, hit.end, hit.title)
    pillar.txt 0 152 Pillar 2 notes
"""

from collections.abc import Iterable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .chunking import Chunker, Span
from .config import MODES, AnswerSettings, ServerSettings, Settings
from .documents import Document, find_files, load_document
from .embedding import Embedder, SentenceTransformerEmbedder, get_embedder
from .errors import (
    BusyError,
    ConfigError,
    DocumentError,
    DocumentNotFoundError,
    IndexBusyError,
    IndexDamagedError,
    IndexIncompatibleError,
    IndexNotFoundError,
    IndexWriteError,
    ModelError,
    RagError,
    WaitTimeoutError,
)
from .index import FORMAT_VERSION, Index, IndexReport
from .models import bundled_gguf
from .retriever import Hit, Retriever
from .vectorstore import FaissStore, VectorStore

# The answer machinery loads when first named (``rag.Assistant``, ``from rag import Workspace``): a one-shot
# ``rag search`` never needs it, and importing it cost the command about 0.05-0.1 s of its 1 s.
_LAZY = {**dict.fromkeys(("Answer", "AnswerStream", "Assistant", "Citation", "Claim"), "answer"),
         **dict.fromkeys(("GENERATORS", "ExtractiveGenerator", "Generator", "LlamaGenerator", "TransformersGenerator",
                          "make_generator"), "generation"),
         **dict.fromkeys(("UploadResult", "Workspace"), "workspace")}
if TYPE_CHECKING:
    from .answer import Answer, AnswerStream, Assistant, Citation, Claim
    from .generation import (
        GENERATORS,
        ExtractiveGenerator,
        Generator,
        LlamaGenerator,
        TransformersGenerator,
        make_generator,
    )
    from .workspace import UploadResult, Workspace


def __getattr__(name: str) -> Any:
    """``rag.Assistant`` and the other names of ``_LAZY``, imported on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def open_index(path: str | Path | None = None, settings: Settings | None = None) -> Index:
    """Open an existing index (raises ``IndexNotFoundError`` with the command to build one).

    >>> import rag
    >>> from rag.testing import tiny_workspace
    >>> index = rag.open_index(tiny_workspace().index.path)
    >>> [d["doc_id"] for d in index.documents()]
    ['harbour.txt', 'pillar.txt']
    """
    index = Index(path, settings)
    index.snapshot()
    return index


def build_index(paths: Iterable[str | Path], path: str | Path | None = None,
                settings: Settings | None = None) -> Index:
    """Make the index at ``path`` mirror the files under ``paths`` (incremental) and return it.

    Files that cannot be read are skipped (``index.sync`` reports them); raises ``DocumentError``
    when nothing at all could be indexed.

    >>> index = rag.build_index(["corpus"], "index")   # embeds with the bundled model  # doctest: +SKIP
    >>> index.status()["documents"]                    # doctest: +SKIP
    5
    """
    index = Index(path, settings)
    paths = list(paths)
    report = index.sync(paths)
    if report.documents == 0:
        detail = "; ".join(report.problems) or "no .txt, .md, .html or .pdf files found"
        raise DocumentError(", ".join(map(str, paths)), f"nothing could be indexed ({detail})")
    return index


def search(query: str, k: int = 5, mode: str = "hybrid", index: str | Path | Index | None = None) -> list[Hit]:
    """One-call search of an index folder (default ``$RAG_INDEX`` or ``./index``).

    >>> import rag
    >>> from rag.testing import tiny_workspace
    >>> for hit in rag.search("When does the ferry leave?", k=1, index=tiny_workspace().index):
    ...     print(hit.rank, hit.doc_id, hit.start, hit.end)
    1 harbour.txt 0 111
    """
    target = index if isinstance(index, Index) else Index(index)
    return Retriever(target).search(query, k=k, mode=mode)


__all__ = [
    "FORMAT_VERSION",
    "GENERATORS",
    "MODES",
    "Answer",
    "AnswerSettings",
    "AnswerStream",
    "Assistant",
    "BusyError",
    "Chunker",
    "Citation",
    "Claim",
    "ConfigError",
    "Document",
    "DocumentError",
    "DocumentNotFoundError",
    "Embedder",
    "ExtractiveGenerator",
    "FaissStore",
    "Generator",
    "Hit",
    "Index",
    "IndexBusyError",
    "IndexDamagedError",
    "IndexIncompatibleError",
    "IndexNotFoundError",
    "IndexReport",
    "IndexWriteError",
    "LlamaGenerator",
    "ModelError",
    "RagError",
    "Retriever",
    "SentenceTransformerEmbedder",
    "ServerSettings",
    "Settings",
    "Span",
    "TransformersGenerator",
    "UploadResult",
    "VectorStore",
    "WaitTimeoutError",
    "Workspace",
    "build_index",
    "bundled_gguf",
    "find_files",
    "get_embedder",
    "load_document",
    "make_generator",
    "open_index",
    "search",
]
