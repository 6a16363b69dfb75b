"""Collection of the ``>>>`` examples in rag/ (pyproject: ``--doctest-modules``, testpaths tests and rag).

Every module in rag/ is imported to find its examples, except these two.
"""

import importlib.util

import pytest

# A script that rag.probe runs in a child process with its own arguments; it has no examples.
collect_ignore = ["rag/_decode_child.py"]
if importlib.util.find_spec("langchain_core") is None:
    collect_ignore.append("rag/langchain.py")  # the optional [langchain] extra; tests/test_langchain.py says so


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-examples", type=int, default=None, metavar="N",
                     help="cases per reader in tests/test_fuzz_documents.py (default: its CI budget, 2,200 in all)")
