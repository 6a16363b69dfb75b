"""Load: the web chat says the assistant is busy when its queue is full, and a short run of the load benchmark
(eval/bench_load.py: chat sessions and API clients against a real `rag serve` with the real models) gets no
5xx but deliberate wait timeouts, drops nothing, and answers every chat session."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from rag.testing import HeldGenerator, tiny_workspace

from .conftest import ROOT, serving


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
    """Chat questions wait in the answer queue the API's wait in (one bound for both), then in Gradio's own
    queue. Gradio answers a full queue with 503, which its page shows as "This application is currently busy";
    ours is a 429 with Retry-After whose words the page shows, and the questions already queued are answered."""
    from rag_ui.server import create_app

    model = HeldGenerator()
    workspace = tiny_workspace(generator=model, max_waiting=1, wait_timeout_s=60)
    with serving(create_app(workspace)) as url, httpx.Client(base_url=url, timeout=30) as client:
        first, first_session = _join(client, "When does the ferry leave?")
        assert first.status_code == 200
        assert model.started.wait(10)  # the first question is being answered
        second, second_session = _join(client, "When does the ferry leave, please?")
        assert second.status_code == 200
        deadline = time.monotonic() + 10
        while workspace.waiting() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # it waits in the answer queue, like an API question would
        api = client.post("/v1/ask", json={"question": "And the fare?"})
        assert api.status_code == 429  # the same bound holds the API's questions
        third, third_session = _join(client, "When does the ferry leave, then?")
        assert third.status_code == 200  # it waits in Gradio's queue (max_size = max_waiting = 1)
        refused, _ = _join(client, "And the fare?")
        model.gate.set()
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "10"
        assert refused.json()["detail"] == "The assistant is busy: 1 question is waiting; ask again in a moment."
        for session in (first_session, second_session, third_session):
            done = _completed(client, session)
            assert done["success"] and "class='cite'" in str(done["output"]["data"][1])  # answered, cited
        health = client.get("/health")
        assert health.status_code == 200  # other routes pass through untouched


def test_the_load_verdict_fails_on_a_server_error_a_dropped_request_or_a_chat_without_answers():
    from rag_eval.bench_load import summarize, verdict

    def record(kind: str, status: int | None, outcome: str, user: str = "u", **fields) -> dict:
        return {"kind": kind, "user": user, "t": 0.0, "status": status, "outcome": outcome, "latency_s": 0.1,
                **fields}

    good = [record("chat", 200, "answered", "tab", ttft_s=2.0, gradio_wait_s=0.1),
            record("chat_stream", 200, "ok", "tab"), record("search", 200, "ok"),
            record("ask", 429, "busy"), record("ask", 503, "wait_timeout"), record("documents", 200, "ok")]
    assert verdict(summarize(good, chat_users=1)) == []
    assert any("5xx" in p for p in verdict(summarize([*good, record("search", 500, "error")], chat_users=1)))
    assert any("no response" in p for p in verdict(summarize([*good, record("ask", None, "unfinished")],
                                                             chat_users=1)))
    assert any("5xx" in p for p in verdict(summarize([*good, record("ask", 503, "error")], chat_users=1)))
    lonely = [*good, record("chat", 429, "busy", "other-tab")]
    assert any("without an answer" in p for p in verdict(summarize(lonely, chat_users=2)))


@pytest.mark.integration
@pytest.mark.slow
def test_a_minute_of_chat_sessions_and_api_clients_on_the_real_server(tmp_path: Path):
    """About 60 s of load (3 chat sessions, 6 API clients) on `rag serve` with the bundled models; the queue is
    made short (--max-waiting 3) so that refusals happen and are told apart from failures."""
    out = tmp_path / "load"
    run = subprocess.run([sys.executable, str(ROOT / "eval/bench_load.py"), "--minutes", "1", "--chat-users", "3",
                          "--api-users", "6", "--max-waiting", "3", "--out", str(out), "--idle-searches", "10"],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert (out / "report.json").exists(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["problems"] == [], report["problems"]
    assert run.returncode == 0, run.stderr[-3000:]
    served = report["requests"]
    assert served["total"] > 50 and served["no_response"] == 0
    assert all(n >= 1 for n in report["chat"]["answers_per_session"].values())
    assert len(report["chat"]["answers_per_session"]) == 3
    assert report["search"]["load"]["n"] > 0 and report["server"]["log_errors"] == []
