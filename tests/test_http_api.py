"""The HTTP API on the real index and embedding model (extractive generator unless said otherwise):
same JSON as the CLI, clear 4xx errors, server-sent events, uploads, access control, `rag api`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from rag_eval.processes import free_port, stop, wait_until_up

from rag import AnswerSettings, ConfigError, Index
from rag.access import check_bind, is_loopback, load_key, presented_key
from rag.cli import main
from rag.http_api import create_api
from rag.testing import FailingGenerator, tiny_workspace
from rag.workspace import Workspace

from .conftest import CORPUS, serving

LOCAL = "http://127.0.0.1"  # the servers answer to loopback host names only (rag.crosssite)
QUESTION = "Which fighter jet project was involved in the South Korean leak case?"


@pytest.fixture(scope="module")
def client(workspace) -> TestClient:
    return TestClient(create_api(workspace), base_url=LOCAL)


def events(text: str) -> list[tuple[str, dict]]:
    """Parse a server-sent event stream into (event, data) pairs."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


@pytest.mark.integration
def test_search_returns_what_rag_search_json_prints(client, real_index):
    doc = "003_23837f97759bb32c.txt"
    cli = CliRunner().invoke(main, ["search", "South Korea Pillar 2", "-k", "3", "--mode", "bm25", "--doc", doc,
                                    "--index", str(real_index.path), "--json"])
    assert cli.exit_code == 0, cli.output
    response = client.post("/v1/search", json={"query": "South Korea Pillar 2", "k": 3, "mode": "bm25",
                                               "doc_ids": [doc]})
    assert response.status_code == 200
    assert response.json() == json.loads(cli.output)
    assert [h["doc_id"] for h in response.json()["hits"]] == [doc] * 3
    hybrid = client.post("/v1/search", json={"query": QUESTION}).json()
    assert len(hybrid["hits"]) == 5 and hybrid["mode"] == "hybrid"
    assert any("KF-21" in h["text"] for h in hybrid["hits"])


@pytest.mark.integration
@pytest.mark.parametrize(("body", "status", "kind", "message"), [
    ({"query": ""}, 422, "ValidationError", "query: String should have at least 1 character"),
    ({"query": "   "}, 400, "ConfigError", "the query is empty"),
    ({"query": "x", "k": 0}, 422, "ValidationError", "k: Input should be greater than or equal to 1"),
    ({"query": "x", "k": 101}, 422, "ValidationError", "k: Input should be less than or equal to 100"),
    ({"query": "x", "mode": "fuzzy"}, 422, "ValidationError", "mode: Input should be 'hybrid', 'dense' or 'bm25'"),
    ({"query": "x", "doc_ids": ["nope.txt"]}, 404, "DocumentNotFoundError", "unknown document(s): nope.txt"),
    ({"query": "x", "top_k": 3}, 422, "ValidationError", "top_k: Extra inputs are not permitted"),
    ({}, 422, "ValidationError", "query: Field required"),
])
def test_bad_search_requests_get_one_line_4xx_errors(client, body, status, kind, message):
    response = client.post("/v1/search", json=body)
    assert (response.status_code, response.json()["type"]) == (status, kind)
    assert response.json()["error"].startswith(message) and "\n" not in response.json()["error"]


def test_malformed_and_oversized_bodies_are_refused_before_any_work():
    client = TestClient(create_api(tiny_workspace()), base_url=LOCAL)  # refused before any work: no real index needed
    bad = client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 422 and "not valid JSON" in bad.json()["error"]
    big = client.post("/v1/search", json={"query": "x" * 70_000})
    assert big.status_code == 413 and "at most 64 kB" in big.json()["error"]
    # Without a Content-Length (chunked), the body is counted as it arrives.
    chunked = client.post("/v1/ask", content=iter([b'{"question": "', b"x" * 40_000, b"y" * 40_000, b'"}']),
                          headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert client.get("/v1/nothing-here").json() == {"error": "Not Found", "type": "HTTPError"}


@pytest.mark.integration
def test_ask_returns_what_rag_ask_json_prints(client, real_index):
    cli = CliRunner().invoke(main, ["ask", QUESTION, "--generator", "extractive", "-k", "4",
                                    "--index", str(real_index.path), "--json"])
    assert cli.exit_code == 0, cli.output
    response = client.post("/v1/ask", json={"question": QUESTION, "k": 4})
    assert response.status_code == 200
    expected, got = json.loads(cli.output), response.json()
    assert set(got["timings"]) == set(expected["timings"])
    expected.pop("timings"), got.pop("timings")
    assert got == expected and not got["abstained"] and got["citations"]
    blank = client.post("/v1/ask", json={"question": " \t"})
    assert blank.status_code == 400 and blank.json() == {"error": "the question is empty", "type": "ConfigError"}


@pytest.mark.integration
def test_ask_streams_passages_then_tokens_then_the_answer(client):
    plain = client.post("/v1/ask", json={"question": QUESTION}).json()
    response = client.post("/v1/ask", json={"question": QUESTION, "stream": True})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    stream = events(response.text)
    names = [name for name, _ in stream]
    assert names[0] == "passages" and names[-1] == "answer" and set(names[1:-1]) == {"token"}
    passages, answer = stream[0][1]["hits"], stream[-1][1]
    assert "".join(data["text"] for name, data in stream if name == "token").strip() == answer["raw"]
    answer.pop("timings"), plain.pop("timings")
    assert answer == plain
    cited = {(c["doc_id"], c["start"]) for c in answer["citations"]}
    assert cited <= {(h["doc_id"], h["start"]) for h in passages}


def test_a_failure_mid_stream_arrives_as_an_error_event_and_frees_the_model(fake_index, corpus_copy):
    fake_index.sync([corpus_copy])
    workspace = Workspace(fake_index, AnswerSettings(min_dense_score=-1.0), generator=FailingGenerator())
    client = TestClient(create_api(workspace), base_url=LOCAL)
    stream = events(client.post("/v1/ask", json={"question": "Pillar 2 members", "stream": True}).text)
    assert [name for name, _ in stream] == ["passages", "token", "error"]
    assert stream[-1][1] == {"error": "the model stopped: out of memory", "type": "ModelError"}
    assert not workspace.assistant.exclusive().locked()


def test_without_an_index_every_route_says_how_to_build_one(tmp_path):
    client = TestClient(create_api(Workspace(Index(tmp_path / "none"), AnswerSettings(generator="extractive"))),
                        base_url=LOCAL)
    for response in (client.get("/health"), client.post("/v1/search", json={"query": "x"}),
                     client.post("/v1/ask", json={"question": "x", "stream": True}), client.get("/v1/documents")):
        assert response.status_code == 503, response.text
        assert response.json()["type"] == "IndexNotFoundError" and "rag index" in response.json()["error"]


@pytest.mark.integration
def test_upload_search_and_delete_documents(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "000_5e6a84f29a338f7b.txt", corpus)
    index = Index(tmp_path / "index")
    index.sync([corpus])
    workspace = Workspace(index, AnswerSettings(generator="extractive"), uploads=tmp_path / "uploads",
                          max_upload_mb=0.05)
    client = TestClient(create_api(workspace), base_url=LOCAL)
    assert [d["doc_id"] for d in client.get("/v1/documents").json()["documents"]] == ["000_5e6a84f29a338f7b.txt"]

    note = "The Zanzibar accord on lighthouse keepers was signed in 1911 by eleven harbour masters."
    response = client.post("/v1/documents", files=[("files", ("../../notes.txt", note.encode(), "text/plain")),
                                                   ("files", ("tool.exe", b"MZ", "application/octet-stream"))])
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["added"] == ["notes.txt"] and report["documents"] == 2
    assert any(p.startswith("tool.exe: not a supported type") for p in report["problems"])
    assert (tmp_path / "uploads" / "notes.txt").read_text() == note  # under the server's folder, safe name
    hits = client.post("/v1/search", json={"query": "lighthouse keepers accord", "k": 1}).json()["hits"]
    assert hits[0]["doc_id"] == "notes.txt" and hits[0]["text"] == note

    refused = client.post("/v1/documents", files=[("files", ("x.exe", b"MZ", "application/octet-stream"))])
    assert refused.status_code == 400 and "no file was added: x.exe: not a supported type" in refused.json()["error"]
    too_big = client.post("/v1/documents", files=[("files", ("big.txt", b"word " * 30_000, "text/plain"))])
    assert too_big.status_code == 413 and "0.114 MB per request" in too_big.json()["error"]
    assert client.post("/v1/documents").status_code == 422

    removed = client.delete("/v1/documents/notes.txt")
    assert removed.status_code == 200 and removed.json()["removed"] == ["notes.txt"]
    again = client.delete("/v1/documents/notes.txt")
    assert again.status_code == 404 and again.json()["type"] == "DocumentNotFoundError"
    assert [d["doc_id"] for d in client.get("/v1/documents").json()["documents"]] == ["000_5e6a84f29a338f7b.txt"]


def test_key_rules_and_where_the_key_comes_from(tmp_path, monkeypatch):
    monkeypatch.delenv("RAG_API_KEY", raising=False)
    assert load_key() is None
    monkeypatch.setenv("RAG_API_KEY", " from-env \n")
    assert load_key() == "from-env"
    (tmp_path / "key").write_text("from-file\n")
    assert load_key(tmp_path / "key") == "from-file"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_key(tmp_path / "empty")
    with pytest.raises(ConfigError, match="cannot read the API key file"):
        load_key(tmp_path / "missing")
    assert all(map(is_loopback, ["127.0.0.1", "127.0.1.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.5", "example.org"]))
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "k")
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without an API key: set RAG_API_KEY"):
        check_bind("0.0.0.0", None)
    basic = "Basic " + base64.b64encode(b"anyone:s3cret").decode()
    assert presented_key({"authorization": basic}) == "s3cret"
    assert presented_key({"authorization": "Bearer s3cret"}) == presented_key({"x-api-key": "s3cret"}) == "s3cret"
    assert presented_key({"authorization": "Basic %%%"}) is None and presented_key({}) is None


def test_with_a_key_every_route_but_health_needs_it(fake_index, corpus_copy):
    fake_index.sync([corpus_copy])
    client = TestClient(create_api(Workspace(fake_index, AnswerSettings(generator="extractive")), key="s3cret"),
                        base_url=LOCAL)
    body = {"query": "Pillar 2"}
    missing = client.post("/v1/search", json=body)
    assert missing.status_code == 401 and missing.json()["error"].startswith("an API key is required")
    assert "www-authenticate" not in missing.headers  # programs get JSON; browsers get a prompt elsewhere
    wrong = client.post("/v1/search", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"].startswith("the API key is wrong")
    assert client.delete("/v1/documents/x.txt").status_code == 401
    assert client.post("/v1/documents", files=[("files", ("a.txt", b"a", "text/plain"))]).status_code == 401
    assert client.get("/openapi.json").status_code == 401
    assert client.post("/v1/search", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.post("/v1/search", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
    assert client.get("/health").json() == {"status": "ok"}


@pytest.mark.integration
def test_chat_and_api_are_served_together_behind_one_key(workspace):
    from rag_ui.server import create_app

    with serving(create_app(workspace, key="s3cret")) as url:
        page = httpx.get(url)
        assert page.status_code == 401 and page.headers["www-authenticate"].startswith("Basic")
        assert httpx.get(url, auth=("me", "s3cret")).status_code == 200  # the browser's prompt
        assert httpx.get(url + "document?doc=003_23837f97759bb32c.txt", auth=("me", "s3cret")).status_code == 200
        assert httpx.get(url + "document?doc=003_23837f97759bb32c.txt").status_code == 401
        found = httpx.post(url + "v1/search", json={"query": QUESTION}, headers={"X-API-Key": "s3cret"})
        assert found.status_code == 200 and any("KF-21" in h["text"] for h in found.json()["hits"])
        assert httpx.post(url + "v1/search", json={"query": QUESTION}).status_code == 401
        assert httpx.get(url + "health").status_code == 200


def test_rag_api_and_serve_refuse_a_public_address_without_a_key(monkeypatch, tmp_path):
    monkeypatch.delenv("RAG_API_KEY", raising=False)
    for command in ("api", "serve"):
        result = CliRunner().invoke(main, [command, "--host", "0.0.0.0", "--index", str(tmp_path / "none")])
        assert result.exit_code == 2
        assert result.output == ("error: refusing to listen on 0.0.0.0 without an API key: set RAG_API_KEY=<key> "
                                 "or pass --api-key-file FILE (or listen on 127.0.0.1)\n")
    result = CliRunner().invoke(main, ["api", "--index", str(tmp_path / "none")])
    assert result.exit_code == 2 and "rag index" in result.output and "Traceback" not in result.output


@pytest.mark.integration
def test_rag_api_serves_the_api_alone(real_index, tmp_path):
    port = free_port()
    (tmp_path / "key").write_text("s3cret\n")
    rag = Path(sys.executable).with_name("rag")
    proc = subprocess.Popen([str(rag), "api", "--generator", "extractive", "--index", str(real_index.path),
                             "--port", str(port), "--api-key-file", str(tmp_path / "key")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, url + "/health", timeout=120)
        found = httpx.post(url + "/v1/search", json={"query": QUESTION, "k": 2},
                           headers={"Authorization": "Bearer s3cret"}, timeout=30)
        assert found.status_code == 200 and len(found.json()["hits"]) == 2
        assert httpx.get(url + "/", timeout=5).status_code == 401  # no chat here, and no key
        assert httpx.get(url + "/", headers={"X-API-Key": "s3cret"}, timeout=5).status_code == 404
    finally:
        out = stop(proc)
    assert f"HTTP API: {url}" in out and "API key required" in out and "Traceback" not in out


@pytest.mark.integration
@pytest.mark.slow
def test_the_real_model_streams_a_cited_answer_over_http(real_index):
    """The one test with the bundled llama.cpp model: a streamed /v1/ask end to end."""
    workspace = Workspace(real_index, AnswerSettings(generator="llama"))
    workspace.warm_up()
    with serving(create_api(workspace)) as url, httpx.stream(
            "POST", url + "v1/ask", json={"question": "At which think tank is Eleanor Shiori Hughes a non-resident "
                                          "fellow?", "stream": True}, timeout=300) as response:
        assert response.status_code == 200
        stream = events(response.read().decode())
    names = [name for name, _ in stream]
    assert names[0] == "passages" and names[-1] == "answer" and names.count("token") > 3
    answer = stream[-1][1]
    assert "".join(data["text"] for name, data in stream if name == "token").strip() == answer["raw"]
    assert not answer["abstained"] and "EconVue" in answer["answer"]
    assert {c["doc_id"][:3] for c in answer["citations"]} & {"001", "002"}
    passages = {(h["doc_id"], h["start"]) for h in stream[0][1]["hits"]}
    assert {(c["doc_id"], c["start"]) for c in answer["citations"]} <= passages
