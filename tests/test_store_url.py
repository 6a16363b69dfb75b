"""The PostgreSQL store's wiring without a server (unit tier): which location opens which index, and what a user
sees when the database cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rag import Index, ServerSettings
from rag.cli import main
from rag.pg.index import PgIndex

UNREACHABLE = "postgresql://rag:secret@127.0.0.1:1/rag"  # nothing listens on port 1


def test_a_url_or_rag_store_opens_the_postgresql_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert type(Index(tmp_path / "index")) is Index
    assert isinstance(Index(UNREACHABLE), PgIndex)
    monkeypatch.setenv("RAG_STORE", UNREACHABLE)
    assert isinstance(Index(), PgIndex) and isinstance(Index("index"), PgIndex)  # the default folder is replaced
    assert type(Index(tmp_path / "index")) is Index  # a folder named explicitly stays a folder
    assert Index().location == "postgresql://rag:***@127.0.0.1:1/rag"  # no password in messages


def test_server_settings_keep_a_store_url_and_put_uploads_in_a_local_folder() -> None:
    settings = ServerSettings.from_dict(ServerSettings(index=UNREACHABLE).to_dict())
    assert settings.index == UNREACHABLE and settings.uploads_dir == Path("uploads")


@pytest.mark.parametrize("args", [["search", "--store", UNREACHABLE, "ferry"], ["status", "--index", UNREACHABLE]])
def test_an_unreachable_database_is_one_line_with_what_to_do(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert result.output.startswith("error: cannot reach the PostgreSQL store postgresql://rag:***@127.0.0.1:1/rag")
    assert "start the server or fix the URL" in result.output and "secret" not in result.output


def test_the_store_counts_the_words_bm25s_counts() -> None:
    import bm25s
    import Stemmer

    from rag.pg.terms import terms

    corpus = Path(__file__).resolve().parent.parent / "corpus"
    texts = [p.read_text(encoding="utf-8")[:4000] for p in sorted(corpus.glob("*"))[:3]]
    texts.append("Japan's 2022 survey: e-mail, co-operation, naïve café, AUKUS_Pillar 2, a b c!")
    tokenizer = bm25s.tokenization.Tokenizer(stopwords="en", stemmer=Stemmer.Stemmer("english"))
    expected = tokenizer.tokenize(texts, return_as="string", show_progress=False)
    assert [terms(t) for t in texts] == [list(words) for words in expected]  # type: ignore[union-attr]
