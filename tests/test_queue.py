"""The answer queue is bounded: past its depth an ask gets 429 with Retry-After, and searches never wait
behind answers."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from rag.http_api import create_api
from rag.testing import HeldGenerator, tiny_workspace

LOCAL = "http://127.0.0.1"


def test_a_full_queue_answers_429_and_searches_do_not_wait():
    model = HeldGenerator()
    workspace = tiny_workspace(generator=model, max_waiting=1, wait_timeout_s=60)
    client = TestClient(create_api(workspace), base_url=LOCAL)
    replies: list[int] = []
    ask = {"question": "When does the ferry leave?"}

    def asking() -> None:
        replies.append(client.post("/v1/ask", json=ask).status_code)

    first = threading.Thread(target=asking)
    first.start()
    assert model.started.wait(10)  # one answer is being written
    second = threading.Thread(target=asking)
    second.start()
    deadline = time.monotonic() + 10
    while workspace.waiting() < 1:
        assert time.monotonic() < deadline, "the second ask never queued"
        time.sleep(0.02)
    busy = client.post("/v1/ask", json=ask)
    assert busy.status_code == 429 and busy.json()["type"] == "BusyError"
    assert int(busy.headers["retry-after"]) > 0 and "busy" in busy.json()["error"]
    began = time.monotonic()
    found = client.post("/v1/search", json={"query": "ferry", "k": 1})
    assert found.status_code == 200 and found.json()["hits"][0]["doc_id"] == "harbour.txt"
    assert time.monotonic() - began < 5  # it did not wait for the held answer
    model.gate.set()
    first.join(30)
    second.join(30)
    assert replies == [200, 200]
