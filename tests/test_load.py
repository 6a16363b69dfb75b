"""Load: the web chat says the assistant is busy when its queue is full."""

from __future__ import annotations

import json
import uuid

import httpx

from rag.testing import HeldGenerator, tiny_workspace

from .conftest import serving


def _join(client: httpx.Client, question: str) -> tuple[httpx.Response, str]:
    session = uuid.uuid4().hex[:11]
    body = {"data": [question, [], None, 5, "hybrid", "extractive"], "fn_index": 1, "trigger_id": 8,
            "session_hash": session, "event_data": None}
    return client.post("gradio_api/queue/join", json=body), session


def _completed(client: httpx.Client, session: str) -> dict:
    with client.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as events:
        for line in events.iter_lines():
            message = json.loads(line[5:]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                return message
    raise AssertionError("the question's events ended without process_completed")


def test_a_full_chat_queue_says_the_assistant_is_busy():
    """Gradio answers a full queue with 503, which its page shows as "This application is currently busy";
    ours is a 429 with Retry-After whose words the page shows, and the questions already queued are answered."""
    from rag_ui.server import create_app

    model = HeldGenerator()
    workspace = tiny_workspace(generator=model, max_waiting=1, wait_timeout_s=60)
    with serving(create_app(workspace)) as url, httpx.Client(base_url=url, timeout=30) as client:
        first, first_session = _join(client, "When does the ferry leave?")
        assert first.status_code == 200
        assert model.started.wait(10)  # the first question is being answered
        second, second_session = _join(client, "When does the ferry leave, please?")
        assert second.status_code == 200  # it waits in the chat's queue (max_size = max_waiting = 1)
        refused, _ = _join(client, "And the fare?")
        model.gate.set()
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "10"
        assert refused.json()["detail"] == "The assistant is busy: 1 question is waiting; ask again in a moment."
        for session in (first_session, second_session):
            done = _completed(client, session)
            assert done["success"] and "class='cite'" in str(done["output"]["data"][1])  # answered, cited
        health = client.get("/health")
        assert health.status_code == 200  # other routes pass through untouched
