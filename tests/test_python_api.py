"""The public Python surface: documented with an example each, one error hierarchy, nothing heavy on import."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import rag
from rag import Assistant, Index, Retriever

ENTRY_POINTS = [rag.open_index, rag.build_index, rag.search, Index.sync, Index.add, Index.remove, Index.documents,
                Retriever.search, Assistant.ask, Assistant.stream]


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda f: f.__qualname__)
def test_entry_points_have_a_docstring_with_an_example(entry):
    doc = inspect.getdoc(entry) or ""
    assert doc and ">>>" in doc, f"{entry.__qualname__} needs a docstring with a short example"


def test_every_error_is_a_rag_error_with_a_docstring():
    errors = [getattr(rag, name) for name in rag.__all__ if name.endswith("Error")]
    assert len(errors) >= 8
    for error in errors:
        assert issubclass(error, rag.RagError) and error.__doc__, error
    assert issubclass(rag.DocumentNotFoundError, rag.ConfigError)  # callers catching ConfigError still do


def test_importing_rag_loads_no_web_or_langchain_library():
    code = ("import sys, rag; print([m for m in ('fastapi', 'starlette', 'uvicorn', 'gradio', 'langchain_core') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_build_index_says_when_nothing_could_be_indexed(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "empty.txt").write_text("")
    with pytest.raises(rag.DocumentError, match=r"nothing could be indexed \(.*empty.txt"):
        rag.build_index([tmp_path / "docs"], tmp_path / "index")
