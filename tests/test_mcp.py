"""The MCP server through the SDK's own client: over stdio (``rag mcp`` in a subprocess) and over streamable
HTTP (``/mcp`` on the API's app), against the real index: list the tools, call both, list and read the
documents, and bad arguments come back as tool errors while the server goes on answering."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import httpx
import httpx2
import openai
import pytest
from fastapi.testclient import TestClient
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from rag_eval.processes import free_port, stop, wait_until_up

from rag import Index
from rag.http_api import create_api
from rag.mcp_server import build_server, document_uri
from rag.testing import HeldGenerator, tiny_workspace

from .conftest import serving

RAG = Path(sys.executable).with_name("rag")
QUESTION = "Which fighter jet project was involved in the South Korean leak case?"
LOCAL = "http://127.0.0.1"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "t", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def rag_mcp(index: Path, generator: str = "extractive") -> StdioServerParameters:
    """``rag mcp`` as a desktop app starts it."""
    return StdioServerParameters(command=str(RAG), args=["mcp", "--index", str(index), "--generator", generator],
                                 env=dict(os.environ))


def with_key(url: str, key: str) -> Client:
    """A client of the HTTP endpoint that sends the API key, as an MCP config's ``headers`` would."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=httpx2.Timeout(60))
    return Client(streamable_http_client(url + "mcp", http_client=http))


async def exercise(client: Client, index: Index) -> None:
    """What a host does with the server, and what a model may get wrong."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"search", "ask"}
    k = tools["search"].input_schema["properties"]["k"]
    assert (k["minimum"], k["maximum"], k["default"]) == (1, 100, 5)
    assert tools["ask"].output_schema and "citations" in tools["ask"].output_schema["properties"]

    found = await client.call_tool("search", {"query": "South Korea Pillar 2", "k": 3, "mode": "bm25"})
    assert not found.is_error and found.structured_content
    hits = found.structured_content["hits"]
    assert found.structured_content["mode"] == "bm25" and [h["rank"] for h in hits] == [1, 2, 3]
    for hit in hits:
        document = index.document(hit["doc_id"])
        assert document.text[hit["start"]:hit["end"]] == hit["text"] and hit["title"] == document.title
        assert f"{hit['doc_id']} [{hit['start']}:{hit['end']}]" in found.content[0].text

    answer = await client.call_tool("ask", {"question": QUESTION})
    assert not answer.is_error and answer.structured_content
    data = answer.structured_content
    assert not data["abstained"] and "KF-21" in data["answer"] and data["citations"]
    for c in data["citations"]:
        text = index.document(c["doc_id"]).text
        assert text[c["start"]:c["end"]] == c["text"] and text[c["quote_start"]:c["quote_end"]] == c["quote"]
    assert answer.content[0].text.startswith(data["answer"] + "\n\nSources:\n[")

    for tool, arguments, message in [
        ("search", {"query": "Pillar 2", "k": 0}, "Error executing tool search: k: Input should be greater than or "
                                                   "equal to 1"),
        ("search", {"query": ""}, "Error executing tool search: query: String should have at least 1 character"),
        ("search", {"query": "x", "mode": "fuzzy"}, "Error executing tool search: mode: Input should be 'hybrid', "
                                                    "'dense' or 'bm25'"),
        ("search", {}, "Error executing tool search: query: Field required"),
        ("ask", {"question": "   "}, "Error executing tool ask: the question is empty"),
        ("summarise", {}, "Unknown tool: summarise"),
    ]:
        refused = await client.call_tool(tool, arguments)
        assert refused.is_error and refused.content[0].text == message

    resources = (await client.list_resources()).resources
    assert [r.name for r in resources] == [d["doc_id"] for d in index.documents()]
    first = resources[0]
    assert str(first.uri) == document_uri(first.name) == f"rag://documents/{first.name}"
    assert first.title == index.document(first.name).title and first.mime_type == "text/plain"
    read = await client.read_resource(first.uri)
    assert read.contents[0].text == index.document(first.name).text
    with pytest.raises(MCPError, match=r"no document 'nothing\.txt' in the index"):
        await client.read_resource(document_uri("nothing.txt"))

    again = await client.call_tool("search", {"query": QUESTION})  # still serving after all that
    assert not again.is_error and "KF-21" in again.content[0].text


@pytest.mark.integration
def test_rag_mcp_over_stdio(real_index):
    async def session() -> str:
        async with Client(rag_mcp(real_index.path)) as client:  # the newest protocol revision the SDK offers
            await exercise(client, real_index)
            return client.session.protocol_version or ""

    assert anyio.run(session) == "2026-07-28"


@pytest.mark.integration
def test_mcp_over_http_on_the_api(workspace, real_index):
    async def session(url: str) -> str:
        async with Client(url + "mcp", mode="legacy") as client:  # the initialize handshake, as 2025 hosts do
            await exercise(client, real_index)
            return client.session.protocol_version or ""

    with serving(create_api(workspace)) as url:
        assert anyio.run(session, url) == "2025-11-25"


def test_rag_mcp_without_an_index_says_how_to_build_one(tmp_path):
    done = subprocess.run([str(RAG), "mcp", "--index", str(tmp_path / "none"), "--generator", "extractive"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and "rag index" in done.stderr and "Traceback" not in done.stderr


def test_the_http_endpoint_runs_with_the_app_and_keeps_no_sessions():
    app = create_api(tiny_workspace())
    client = TestClient(app, base_url=LOCAL)  # without `with`, the app's lifespan does not run
    early = client.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert early.status_code == 503 and "not running" in early.json()["error"]
    for _ in range(2):  # a fresh session manager each time the app starts
        with TestClient(app, base_url=LOCAL) as running:
            reply = running.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            assert reply.status_code == 200, reply.text
            assert reply.json()["result"]["protocolVersion"] == "2025-11-25"
            assert reply.json()["result"]["serverInfo"]["name"] == "rag"
            assert "mcp-session-id" not in reply.headers  # stateless: nothing kept between requests
            big = running.post("/mcp", content=b"x" * 70_000,
                               headers={**MCP_HEADERS, "content-type": "application/json"})
            assert big.status_code == 413  # the API's JSON limit


def test_with_a_key_the_mcp_endpoint_needs_it():
    async def tools(url: str, key: str) -> list[str]:
        async with with_key(url, key) as client:
            return [tool.name for tool in (await client.list_tools()).tools]

    with serving(create_api(tiny_workspace(), key="s3cret")) as url:
        assert httpx.post(url + "mcp", json=INITIALIZE, headers=MCP_HEADERS).status_code == 401
        wrong = httpx.post(url + "mcp", json=INITIALIZE, headers={**MCP_HEADERS, "X-API-Key": "nope"})
        assert wrong.status_code == 401 and wrong.json()["error"].startswith("the API key is wrong")
        assert anyio.run(tools, url, "s3cret") == ["search", "ask"]


def test_other_web_pages_reach_neither_new_surface():
    """The cross-site guard (rag.crosssite) covers the OpenAI routes and /mcp as it covers /v1."""
    with TestClient(create_api(tiny_workspace()), base_url=LOCAL) as client:
        question = {"messages": [{"role": "user", "content": "When does the ferry leave?"}]}
        evil = {"Origin": "http://evil.example"}
        for response in (client.post("/v1/chat/completions", json=question, headers=evil),
                         client.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **evil}),
                         client.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Host": "evil.example"}),
                         client.get("/v1/models", headers={"Host": "rebound.example:8000"})):
            assert response.status_code == 403, response.text
        assert client.post("/v1/chat/completions", json=question, headers={"Origin": LOCAL}).status_code == 200


def test_a_full_queue_refuses_on_both_surfaces():
    """The bounded answer queue (rag.worker) refuses a question on the OpenAI route and the MCP tool alike."""
    model = HeldGenerator()
    workspace = tiny_workspace(generator=model, max_waiting=1, wait_timeout_s=60)
    client = TestClient(create_api(workspace), base_url=LOCAL)
    question = {"model": "rag", "messages": [{"role": "user", "content": "When does the ferry leave?"}]}
    replies: list[int] = []
    askers = [threading.Thread(target=lambda: replies.append(
        client.post("/v1/chat/completions", json=question).status_code)) for _ in range(2)]
    askers[0].start()
    assert model.started.wait(10)  # one answer is being written
    askers[1].start()
    deadline = time.monotonic() + 10
    while workspace.waiting() < 1:  # and one waits
        assert time.monotonic() < deadline, "the second question never queued"
        time.sleep(0.02)

    async def ask_by_mcp():
        async with Client(build_server(workspace)) as mcp:
            return await mcp.call_tool("ask", {"question": "When does the ferry leave?"})

    try:
        for stream in (False, True):
            busy = client.post("/v1/chat/completions", json={**question, "stream": stream})
            assert busy.status_code == 429 and int(busy.headers["retry-after"]) > 0
            assert busy.json()["error"]["type"] == "rate_limit_error" and busy.json()["error"]["code"] == "BusyError"
        refused = anyio.run(ask_by_mcp)
        assert refused.is_error and "the assistant is busy" in refused.content[0].text
    finally:
        model.gate.set()
        for asker in askers:
            asker.join(30)
    assert replies == [200, 200]


@pytest.mark.integration
def test_the_chat_server_serves_both_behind_its_key():
    from rag_ui.server import create_app

    async def tools(url: str) -> list[str]:
        async with with_key(url, "s3cret") as client:
            return [tool.name for tool in (await client.list_tools()).tools]

    with serving(create_app(tiny_workspace(), key="s3cret")) as url:  # gradio claims "/" after the API
        assert anyio.run(tools, url) == ["search", "ask"]
        assert httpx.post(url + "mcp", json=INITIALIZE, headers=MCP_HEADERS).status_code == 401
        client = openai.OpenAI(base_url=url + "v1", api_key="s3cret", max_retries=0)
        reply = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "ferry times?"}])
        assert "7:45" in (reply.choices[0].message.content or "")


@pytest.mark.integration
def test_rag_api_serves_both_behind_its_key(real_index, tmp_path):
    port = free_port()
    (tmp_path / "key").write_text("s3cret\n")
    proc = subprocess.Popen([str(RAG), "api", "--generator", "extractive", "--index", str(real_index.path),
                             "--port", str(port), "--api-key-file", str(tmp_path / "key")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}/"

    async def search(url: str) -> str:
        async with with_key(url, "s3cret") as client:
            found = await client.call_tool("search", {"query": QUESTION})
            return found.content[0].text

    try:
        assert wait_until_up(proc, url + "health", timeout=120)
        assert "KF-21" in anyio.run(search, url)
        client = openai.OpenAI(base_url=url + "v1", api_key="s3cret", max_retries=0)
        assert "KF-21" in (client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": QUESTION}]).choices[0].message.content or "")
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "v1", api_key="nope", max_retries=0).models.list()
    finally:
        out = stop(proc)
    assert "Traceback" not in out, out


@pytest.mark.integration
@pytest.mark.slow
def test_the_real_model_answers_through_rag_mcp(real_index):
    """``rag mcp`` with the bundled llama.cpp model, as a desktop app runs it."""
    async def ask() -> dict:
        async with Client(rag_mcp(real_index.path, generator="llama")) as client:
            answer = await client.call_tool("ask", {"question": "At which think tank is Eleanor Shiori Hughes a "
                                                                "non-resident fellow?"})
            assert not answer.is_error and answer.structured_content
            return answer.structured_content

    data = anyio.run(ask)
    assert not data["abstained"] and "EconVue" in data["answer"]
    assert {c["doc_id"][:3] for c in data["citations"]} & {"001", "002"}
