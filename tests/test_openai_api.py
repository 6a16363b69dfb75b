"""The OpenAI-compatible endpoint, driven by the real ``openai`` client: answers with their [n] markers and
the citations in the extra ``rag`` field, streamed and not, follow-ups from the message history, models,
OpenAI-shaped errors, the API key. The real index with the extractive generator unless said otherwise."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from rag import AnswerSettings, Index, RagError, Workspace
from rag.http_api import create_api
from rag.openai_api import model_id
from rag.testing import FailingGenerator, ScriptedGenerator, tiny_workspace

from .conftest import serving

QUESTION = "Which fighter jet project was involved in the South Korean leak case?"
LOCAL = "http://127.0.0.1"
CITATION_FIELDS = {"n", "doc_id", "title", "start", "end", "text", "quote", "quote_start", "quote_end", "page",
                   "location"}


@pytest.fixture(scope="module")
def client(workspace):
    with serving(create_api(workspace)) as url:
        yield openai.OpenAI(base_url=url + "v1", api_key="unused", max_retries=0)


def check_citations(rag: dict, index: Index) -> None:
    """Every citation has the `rag ask --json` span fields, and its spans point into the document."""
    assert rag["citations"], rag
    for c in rag["citations"]:
        assert set(c) == CITATION_FIELDS
        text = index.document(c["doc_id"]).text
        assert text[c["start"]:c["end"]] == c["text"] and text[c["quote_start"]:c["quote_end"]] == c["quote"]
        assert f"[{c['n']}]" in rag["answer"]


@pytest.mark.integration
def test_a_chat_completion_is_the_grounded_answer_with_its_citations(client, workspace, real_index):
    reply = client.chat.completions.create(model=model_id(workspace.settings),
                                           messages=[{"role": "user", "content": QUESTION}])
    text = reply.choices[0].message.content
    assert reply.object == "chat.completion" and reply.choices[0].finish_reason == "stop"
    assert reply.model == "rag-extractive" and "KF-21" in text
    rag = (reply.model_extra or {})["rag"]
    assert rag["answer"] == text and not rag["abstained"] and rag["question"] == QUESTION
    check_citations(rag, real_index)
    expected = workspace.answer_json(workspace.ask(QUESTION))  # what `rag ask --json` prints
    expected.pop("timings"), rag.pop("timings")
    assert rag == expected


@pytest.mark.integration
def test_a_streamed_completion_ends_with_the_citations_and_done(client, real_index):
    chunks = list(client.chat.completions.create(model="anything", stream=True,
                                                 messages=[{"role": "user", "content": QUESTION}]))
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and [c.choices[0].finish_reason for c in chunks[:-1]] == \
        [None] * (len(chunks) - 1)
    rag = (last.model_extra or {})["rag"]
    assert text == rag["answer"] and re.search(r"\[\d+\]", text) and "KF-21" in text
    check_citations(rag, real_index)
    assert all("rag" not in (c.model_extra or {}) for c in chunks[:-1])


@pytest.mark.integration
def test_the_message_history_makes_a_follow_up_standalone(client, workspace):
    first = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    follow_up = "And who was arrested for it?"
    messages = [{"role": "system", "content": "Answer in French."},  # ignored, as documented
                {"role": "user", "content": QUESTION},
                {"role": "assistant", "content": first.choices[0].message.content},
                {"role": "user", "content": [{"type": "text", "text": follow_up}]}]
    reply = client.chat.completions.create(model="rag", messages=messages)
    rag = (reply.model_extra or {})["rag"]
    # The extractive generator rewrites a follow-up by prefixing the previous question.
    assert rag["question"] == follow_up and rag["standalone_question"] == f"{QUESTION} {follow_up}"
    alone = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": follow_up}])
    assert (alone.model_extra or {})["rag"]["standalone_question"] == follow_up
    streamed = list(client.chat.completions.create(model="rag", messages=messages, stream=True))
    assert (streamed[-1].model_extra or {})["rag"]["standalone_question"] == f"{QUESTION} {follow_up}"


@pytest.mark.integration
def test_models_lists_the_one_model(client):
    assert [m.id for m in client.models.list()] == ["rag-extractive"]
    assert client.models.retrieve("rag-extractive").owned_by == "rag"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-4o")
    assert caught.value.code == "model_not_found" and "rag-extractive" in caught.value.body["message"]


@pytest.mark.integration
def test_the_client_raises_on_a_bad_request_with_the_one_line_reason(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="rag", messages=[{"role": "assistant", "content": "Hello"}])
    assert caught.value.status_code == 400 and caught.value.code == "ConfigError"
    assert caught.value.body["message"] == "messages[0]: the last message must be the user's question " \
        "(role \"user\"), not 'assistant'"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": " "}], stream=True)
    assert caught.value.body["message"] == "the question is empty"


@pytest.mark.parametrize(("body", "status", "code", "param", "message"), [
    ({}, 400, "ValidationError", "messages", "messages: Field required"),
    ({"messages": []}, 400, "ValidationError", "messages", "messages: List should have at least 1 item"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, 400, "ValidationError", "messages.0.role",
     "messages.0.role: Input should be"),
    ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, 400, "ValidationError", "n",
     "n: Input should be less than or equal to 1"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, 400,
     "ConfigError", None, "messages[0]: only text content can be answered from documents, not 'image_url'"),
    ({"messages": [{"role": "user", "content": "x" * 3000}]}, 400, "ConfigError", None,
     "messages[0]: the question is 3000 characters long; at most 2000 are read"),
    ({"messages": [{"role": "user", "content": "\t"}]}, 400, "ConfigError", None, "the question is empty"),
    ({"messages": [{"role": "user", "content": "x" * 70_000}]}, 413, "PayloadTooLarge", None,
     "request body too large: this route accepts at most 64 kB of JSON"),
])
def test_mistakes_get_openais_error_object_with_one_line(body, status, code, param, message):
    client = TestClient(create_api(tiny_workspace()), base_url=LOCAL)
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert error["message"].startswith(message) and "\n" not in error["message"]


def test_other_errors_on_these_routes_are_openai_shaped_and_the_rag_routes_keep_theirs(tmp_path):
    client = TestClient(create_api(tiny_workspace()), base_url=LOCAL)
    bad = client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("body: not valid JSON")
    wrong_method = client.get("/v1/chat/completions")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "HTTPError"
    assert client.post("/v1/search", json={}).json()["type"] == "ValidationError"  # the rag API: its own shape
    empty = TestClient(create_api(Workspace(Index(tmp_path / "none"), AnswerSettings(generator="extractive"))),
                       base_url=LOCAL)
    for stream in (False, True):
        missing = empty.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}],
                                                           "stream": stream})
        assert missing.status_code == 503 and missing.json()["error"]["type"] == "server_error"
        error = missing.json()["error"]
        assert error["code"] == "IndexNotFoundError" and "rag index" in error["message"]


def test_only_verified_sentences_are_streamed(tmp_path):
    """The model's draft has a sentence no passage supports: a client that shows the deltas never shows it."""
    tiny = tiny_workspace()
    model = ScriptedGenerator(["Japan may join Pillar 2 [1]. Bananas grow on the moon [1]."])
    workspace = Workspace(tiny.index, tiny.settings, generator=model)
    with serving(create_api(workspace)) as url:
        client = openai.OpenAI(base_url=url + "v1", api_key="unused", max_retries=0)
        chunks = list(client.chat.completions.create(
            model="rag", stream=True, messages=[{"role": "user", "content": "Which countries could join Pillar 2?"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    rag = (chunks[-1].model_extra or {})["rag"]
    assert text == rag["answer"] == "Japan may join Pillar 2 [1]." and "Bananas" in rag["raw"]
    assert [s["supported"] for s in rag["sentences"]] == [True, False]


def test_the_stream_on_the_wire_is_data_lines_then_done():
    client = TestClient(create_api(tiny_workspace()), base_url=LOCAL)
    response = client.post("/v1/chat/completions", json={"model": "rag", "stream": True, "messages": [
        {"role": "user", "content": "When does the ferry leave?"}]})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    blocks = response.text.split("\n\n")
    assert blocks[-2:] == ["data: [DONE]", ""]
    events = [json.loads(b.removeprefix("data: ")) for b in blocks[:-2] if not b.startswith(":")]
    assert all(b.startswith(("data: ", ": ")) and "\n" not in b for b in blocks[:-1])
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events) == events[-1]["rag"]["answer"]


def test_a_failure_mid_stream_reaches_the_client_as_an_error():
    tiny = tiny_workspace()
    failing = FailingGenerator(RagError("the model stopped: out of memory"))
    workspace = Workspace(tiny.index, tiny.settings, generator=failing)
    with serving(create_api(workspace)) as url:
        client = openai.OpenAI(base_url=url + "v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.APIError) as caught:
            list(client.chat.completions.create(model="rag", stream=True,
                                                messages=[{"role": "user", "content": "Pillar 2 members"}]))
        assert caught.value.message == "the model stopped: out of memory"
        assert caught.value.body == {"message": "the model stopped: out of memory", "type": "invalid_request_error",
                                     "param": None, "code": "RagError"}
        assert not workspace.assistant.exclusive().locked()  # the model is free for the next question
        assert client.models.list().data[0].id == "rag-extractive"


def test_with_a_key_the_openai_routes_need_it():
    with serving(create_api(tiny_workspace(), key="s3cret")) as url:
        question = {"model": "rag", "messages": [{"role": "user", "content": "When does the ferry leave?"}]}
        denied = httpx.post(url + "v1/chat/completions", json=question)
        assert denied.status_code == 401
        assert denied.json()["error"]["type"] == "authentication_error"
        assert denied.json()["error"]["message"].startswith("an API key is required")
        assert httpx.get(url + "v1/models").status_code == 401
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "v1", api_key="wrong", max_retries=0).models.list()
        client = openai.OpenAI(base_url=url + "v1", api_key="s3cret", max_retries=0)  # sent as a Bearer token
        assert [m.id for m in client.models.list()] == ["rag-extractive"]
        reply = client.chat.completions.create(model="rag", messages=question["messages"])
        assert "7:45" in reply.choices[0].message.content


@pytest.mark.integration
@pytest.mark.slow
def test_the_real_model_answers_and_follows_up_through_the_openai_client(real_index):
    """The bundled llama.cpp model behind the OpenAI client: a streamed cited answer, then a follow-up."""
    workspace = Workspace(real_index, AnswerSettings(generator="llama"))
    workspace.warm_up()
    question = "At which think tank is Eleanor Shiori Hughes a non-resident fellow?"
    with serving(create_api(workspace)) as url:
        client = openai.OpenAI(base_url=url + "v1", api_key="unused", max_retries=0, timeout=300)
        assert client.models.list().data[0].id == "rag-qwen2.5-coder-1.5b-instruct-q4_k_m"
        chunks = list(client.chat.completions.create(model="rag", stream=True,
                                                     messages=[{"role": "user", "content": question}]))
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        rag = (chunks[-1].model_extra or {})["rag"]
        assert text == rag["answer"] and not rag["abstained"] and "EconVue" in text
        check_citations(rag, real_index)
        follow_up = "Where is it based?"
        reply = client.chat.completions.create(model="rag", messages=[
            {"role": "user", "content": question}, {"role": "assistant", "content": text},
            {"role": "user", "content": follow_up}])
    rag = (reply.model_extra or {})["rag"]
    assert rag["question"] == follow_up and rag["standalone_question"] != follow_up, json.dumps(rag)[:500]
