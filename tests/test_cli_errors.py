"""The ``rag`` command line on bad input: named, one-line problems and exit codes, never a traceback.

These build real indexes, so they load the embedding model (once per process).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rag.cli import main

pytestmark = pytest.mark.integration

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

GOOD_TEXT = (
    "Harbour expansion approved\n\n"
    "The city council approved the harbour expansion on Tuesday after a long debate about costs. "
    "Construction will begin next spring and is expected to take three years. "
    "Japan sent a delegation of engineers to observe the first phase of the work.\n"
)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_clean_failure_or_success(result: Result) -> None:
    """No traceback printed, and no exception escaped (CliRunner would swallow it silently)."""
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


def status_json(index: Path) -> dict:
    result = run("status", "--index", str(index), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def stderr_lines(result: Result) -> list[str]:
    return result.stderr.splitlines()


@dataclass
class Built:
    folder: Path
    index: Path
    good: Path
    result: Result
    bad: dict[Path, str] = field(default_factory=dict)  # path -> expected reason
    locked: Path | None = None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """A folder with one good article and several unusable files, indexed once."""
    root = tmp_path_factory.mktemp("cli")
    folder = root / "docs"
    folder.mkdir()
    good = folder / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    bad = {
        folder / "empty.txt": "empty file",
        folder / "binary.txt": "binary file",
        folder / "garbage.pdf": "unreadable PDF",
    }
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02\x03binary\x00" * 64)
    (folder / "garbage.pdf").write_bytes(random.Random(42).randbytes(1500))
    locked = None
    if not IS_ROOT:  # root can read anything, so this case only means something for other users
        locked = folder / "locked.txt"
        locked.write_text(GOOD_TEXT.replace("Harbour", "Airport"), encoding="utf-8")
        locked.chmod(0)
        bad[locked] = "cannot read"
    index = root / "idx"
    result = run("index", str(folder), "--index", str(index))
    yield Built(folder, index, good, result, bad, locked)
    if locked is not None:
        locked.chmod(0o644)


# ---------------------------------------------------------------- rag index


def test_index_with_bad_files_succeeds_for_the_good_one(built: Built):
    result = built.result
    assert_clean_failure_or_success(result)
    assert result.exit_code == 0, result.output
    assert "1 documents" in result.stdout


def test_index_names_each_bad_file_on_a_skipped_line(built: Built):
    skipped = [line for line in stderr_lines(built.result) if line.startswith("skipped:")]
    for path, reason in built.bad.items():
        matching = [line for line in skipped if f"{path}:" in line]
        assert len(matching) == 1, (path, skipped)
        assert reason in matching[0]
    assert len(skipped) == len(built.bad)
    assert not any(str(built.good) in line for line in skipped)


def test_index_unreadable_file_is_named(built: Built):
    if built.locked is None:
        pytest.skip("running as root: a chmod 000 file is still readable")
    line = next(ln for ln in stderr_lines(built.result) if str(built.locked) in ln)
    assert line.startswith("skipped:") and "cannot read" in line


def test_status_reports_only_the_good_document(built: Built):
    info = status_json(built.index)
    assert info["documents"] == 1
    assert [d["doc_id"] for d in info["document_list"]] == ["good.txt"]


def test_index_of_only_bad_files_fails(tmp_path: Path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(b"\x00" * 100)
    (folder / "garbage.pdf").write_bytes(random.Random(7).randbytes(800))

    result = run("index", str(folder), "--index", str(tmp_path / "idx"))

    assert_clean_failure_or_success(result)
    assert result.exit_code != 0
    assert "nothing could be indexed" in result.stderr
    assert sum(line.startswith("skipped:") for line in stderr_lines(result)) == 3


def test_index_missing_path_fails_with_one_line(tmp_path: Path):
    missing = tmp_path / "no" / "such" / "dir"

    result = run("index", str(missing), "--index", str(tmp_path / "idx"))

    assert_clean_failure_or_success(result)
    assert result.exit_code != 0
    naming = [line for line in result.output.splitlines() if str(missing) in line]
    assert len(naming) == 1, result.output
    assert "no such file or folder" in naming[0]


def test_index_missing_path_leaves_an_existing_index_alone(built: Built, tmp_path: Path):
    index = tmp_path / "idx"
    shutil.copytree(built.index, index)
    assert status_json(index)["documents"] == 1

    result = run("index", str(tmp_path / "typo"), "--index", str(index))

    assert_clean_failure_or_success(result)
    assert result.exit_code != 0
    assert status_json(index)["documents"] == 1


# ---------------------------------------------------------------- rag search / status


@pytest.mark.parametrize("command", [["search", "x"], ["status"]], ids=["search", "status"])
def test_no_index_is_a_one_line_error(tmp_path: Path, command: list[str]):
    empty = tmp_path / "empty"
    empty.mkdir()

    result = run(*command, "--index", str(empty))

    assert_clean_failure_or_success(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    errors = [line for line in stderr_lines(result) if line.startswith("error:")]
    assert len(errors) == 1
    assert "rag index" in errors[0] and str(empty) in errors[0]
    assert list(empty.iterdir()) == []  # looking does not create an index


@pytest.mark.parametrize("query", ["", "   "], ids=["empty", "blank"])
def test_search_empty_query(built: Built, query: str):
    result = run("search", query, "--index", str(built.index))

    assert_clean_failure_or_success(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert stderr_lines(result) == ["error: the query is empty"]


def test_search_unknown_document(built: Built):
    result = run("search", "Japan", "--doc", "nope.txt", "--index", str(built.index))

    assert_clean_failure_or_success(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    errors = [line for line in stderr_lines(result) if line.startswith("error:")]
    assert len(errors) == 1 and "nope.txt" in errors[0]


def test_search_known_document_works(built: Built):
    """Control for the test above: the same search restricted to the real document finds it."""
    result = run("search", "Japan", "--doc", "good.txt", "--index", str(built.index), "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert hits and {h["doc_id"] for h in hits} == {"good.txt"}


# ---------------------------------------------------------------- re-indexing a file that went bad


def test_reindex_keeps_document_whose_file_became_unreadable(tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    good = folder / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    index = tmp_path / "idx"
    first = run("index", str(folder), "--index", str(index))
    assert first.exit_code == 0, first.output
    assert status_json(index)["documents"] == 1

    good.write_bytes(b"\x00\xff\x00binary garbage\x00" * 50)
    second = run("index", str(folder), "--index", str(index))

    assert_clean_failure_or_success(second)
    assert second.exit_code == 0, second.output
    skipped = [line for line in stderr_lines(second) if line.startswith("skipped:")]
    assert len(skipped) == 1
    assert str(good) in skipped[0] and "kept the indexed version" in skipped[0]
    info = status_json(index)
    assert info["documents"] == 1
    assert [d["doc_id"] for d in info["document_list"]] == ["good.txt"]
    search = run("search", "harbour expansion", "--index", str(index), "--json")
    assert search.exit_code == 0, search.output
    assert any("harbour expansion" in h["text"] for h in json.loads(search.stdout)["hits"])


def test_reindex_keeps_document_when_reading_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Like a chmod 000 file, but works as root too: reading the file raises PermissionError."""
    folder = tmp_path / "docs"
    folder.mkdir()
    good = folder / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    index = tmp_path / "idx"
    assert run("index", str(folder), "--index", str(index)).exit_code == 0

    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "good.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = run("index", str(folder), "--index", str(index))
    monkeypatch.undo()

    assert_clean_failure_or_success(result)
    assert result.exit_code == 0, result.output
    skipped = [line for line in stderr_lines(result) if line.startswith("skipped:")]
    assert len(skipped) == 1
    assert str(good) in skipped[0]
    assert "cannot read (Permission denied)" in skipped[0] and "kept the indexed version" in skipped[0]
    assert status_json(index)["documents"] == 1
