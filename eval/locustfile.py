"""Locust users for the load benchmark: web chat sessions and API clients against a running `rag serve`.

`eval/bench_load.py` runs this file headless in one locust process and summarises what it records; by hand:

    .venv/bin/locust -f eval/locustfile.py --headless --host http://127.0.0.1:7860 -u 48 -r 8 -t 10m \
        --stop-timeout 900 --chat-users 16 --records /tmp/records.json

- ``ChatUser`` speaks the web chat's own protocol (Gradio's queue: ``POST /gradio_api/queue/join``, then the
  server-sent events of ``GET /gradio_api/queue/data``), one browser tab each: it asks, reads the answer as it
  streams, reads it for a while, then asks another question or a follow-up in the same conversation. When the
  chat's queue is full it waits as the refusal says (``Retry-After``) and asks again.
- ``ApiUser`` mixes ``POST /v1/search``, ``GET /v1/documents`` and ``POST /v1/ask`` (plain and streamed); after a
  429 it leaves asking alone for ``Retry-After`` seconds (searching meanwhile), as a polite client does.

Every request becomes a record (kind, HTTP status, outcome, timings); they are written as JSON to ``--records``
when locust quits, requests still unanswered then included (outcome ``unfinished``). Each user's task is one
request (or one chat question), so with ``--stop-timeout`` a stopping run lets every request started get its
response instead of dropping it.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task
from locust.env import Environment

# eval/ installs as rag_eval through an editable-install import hook, which the type checker cannot follow
from rag_eval.bench_load import QUESTIONS  # pyright: ignore[reportMissingImports]

FOLLOW_UPS = ["And Japan?", "What about Canada?", "And New Zealand?", "Why does that matter?",
              "Who said that?", "And South Korea?"]
ASK_TIMEOUT = (10, 900)  # (connect, read) seconds: an answer may wait --wait-timeout, then take a while
SHORT_TIMEOUT = (10, 120)
CHATBOT = 1  # the chat's outputs: [textbox, chatbot, sources, state]


class Recorder:
    """Every request the users make, as plain dicts; those not finished yet are kept apart."""

    def __init__(self) -> None:
        self.done: list[dict[str, Any]] = []
        self.open: dict[int, dict[str, Any]] = {}

    def start(self, kind: str, user: str) -> dict[str, Any]:
        record: dict[str, Any] = {"kind": kind, "user": user, "t": time.time(), "status": None, "outcome": None}
        record["_t0"] = time.perf_counter()
        self.open[id(record)] = record
        return record

    def finish(self, record: dict[str, Any], outcome: str, **fields: Any) -> None:
        if id(record) not in self.open:  # finished already
            return
        record.update(fields, outcome=outcome, latency_s=round(time.perf_counter() - record.pop("_t0"), 4))
        del self.open[id(record)]
        self.done.append(record)

    def save(self, path: str) -> None:
        unfinished = [{**{k: v for k, v in r.items() if k != "_t0"}, "outcome": "unfinished"}
                      for r in self.open.values()]
        Path(path).write_text(json.dumps({"records": self.done + unfinished}), encoding="utf-8")


RECORDER = Recorder()
# Answers whose text is streaming to one of our users right now: a search made meanwhile ran beside an answer.
STREAMING: set[int] = set()
# Time is up: requests already made are waited for, none is started (one started as locust stops a user
# between tasks would be killed half-way, by us, and look like a request the server never answered).
STOPPING = False


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--chat-users", type=int, default=16, help="how many of -u are web chat sessions")
    parser.add_argument("--records", default="", help="write every request's record here (JSON) on quit")
    parser.add_argument("--generator", default="llama", help="the generator the chat asks with")


@events.init.add_listener
def _split_users(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None:
        ChatUser.fixed_count = options.chat_users  # the rest of -u are ApiUser


@events.test_stopping.add_listener
def _stopping(**_: Any) -> None:
    global STOPPING
    STOPPING = True  # locust kills a user that is between tasks: no new request may start now


@events.quitting.add_listener
def _save(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None and options.records:
        RECORDER.save(options.records)


def classify_error(message: str) -> str:
    """A chat error's kind from its text: the deliberate refusals say so in their own words (rag.worker)."""
    lowered = message.lower()
    if "busy" in lowered:
        return "busy"
    if "waited too long" in lowered:
        return "wait_timeout"
    return "error"


def apply_diff(value: Any, diff: list[Any]) -> Any:
    """Gradio's streamed output diffs (``[[action, path, value], ...]``) applied to the previous value."""
    for action, path, new in diff:
        if not path:
            value = new if action == "replace" else value + new
            continue
        target = value
        for key in path[:-1]:
            target = target[key]
        last = path[-1]
        if action == "replace":
            target[last] = new
        elif action == "append":
            target[last] += new
        elif action == "add":
            if isinstance(target, list):
                target.insert(int(last), new)
            else:
                target[last] = new
        elif action == "delete":
            del target[last]
    return value


def sse_lines(response: Any) -> Iterator[str]:
    """A streamed response's lines as text, as they come."""
    for raw in response.iter_lines():
        yield raw.decode("utf-8") if isinstance(raw, bytes) else raw


def last_reply(messages: Any) -> str:
    """The text of the chat's last assistant message ('' if none)."""
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return ""
    content = messages[-1].get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


class ChatUser(HttpUser):
    """One browser tab of the web chat: asks, reads the streamed answer, reads it a while, asks again."""

    wait_time = between(5, 15)  # reading the answer (or waiting as a refusal asked) before the next question
    fixed_count = 16

    def on_start(self) -> None:
        self.session = uuid.uuid4().hex[:11]
        self.messages: list[Any] = []  # the chatbot's value, sent back with each question as the page does
        self.pending: str | None = None  # a question refused earlier, asked again
        self.fn_index, self.trigger = self._respond_endpoint()

    def _respond_endpoint(self) -> tuple[int, int]:
        record = RECORDER.start("chat_config", self.session)
        with self.client.get("/config", name="GET /config", timeout=SHORT_TIMEOUT, catch_response=True) as r:
            record["status"] = r.status_code
            if r.status_code != 200:
                RECORDER.finish(record, "error", error=r.text[:200])
                r.failure(f"{r.status_code}")
                raise RuntimeError(f"GET /config: {r.status_code}")
            RECORDER.finish(record, "ok")
            dependency = next(d for d in r.json()["dependencies"] if d.get("api_name") == "respond")
        return int(dependency["id"]), int(dependency["targets"][0][0])

    @task
    def ask(self) -> None:
        """One question: join the chat's queue, read its events to the end."""
        if STOPPING:
            return
        if self.pending is not None:
            question = self.pending
        elif self.messages and random.random() < 0.3:
            question = random.choice(FOLLOW_UPS)
        else:
            question = random.choice(QUESTIONS)
        if len(self.messages) > 20:  # a person clears a long conversation now and then
            self.messages = []
        generator = self.environment.parsed_options.generator if self.environment.parsed_options else "llama"
        record = RECORDER.start("chat", self.session)
        record["follow_up"] = bool(self.messages)
        body = {"data": [question, self.messages, None, 5, "hybrid", generator], "fn_index": self.fn_index,
                "trigger_id": self.trigger, "session_hash": self.session, "event_data": None}
        with self.client.post("/gradio_api/queue/join", json=body, name="POST /gradio_api/queue/join",
                              timeout=SHORT_TIMEOUT, catch_response=True) as r:
            record["status"] = r.status_code
            if r.status_code == 429:  # the chat's queue is full: a person waits and asks again
                r.success()
                self.pending = question
                RECORDER.finish(record, "busy", error=r.text[:200], retry_after=r.headers.get("Retry-After"))
                return
            if r.status_code != 200:
                r.failure(f"{r.status_code}")
                self.pending = question
                RECORDER.finish(record, "error" if r.status_code else "dropped", error=r.text[:200])
                return
            event_id = r.json()["event_id"]
        self.pending = None
        self._read(record, event_id, question)

    def _read(self, record: dict[str, Any], event_id: str, question: str) -> None:
        t0 = record["_t0"]
        stream = RECORDER.start("chat_stream", self.session)
        outcome, fields = "dropped", {}
        chatbot: Any = None
        generating = False
        try:
            with self.client.get("/gradio_api/queue/data", params={"session_hash": self.session}, stream=True,
                                 name="GET /gradio_api/queue/data", timeout=ASK_TIMEOUT, catch_response=True) as r:
                stream["status"] = r.status_code
                if r.status_code != 200:
                    r.failure(f"{r.status_code}")
                    RECORDER.finish(stream, "error" if r.status_code else "dropped", error=r.text[:200])
                    RECORDER.finish(record, "error", error=f"queue/data {r.status_code}")
                    return
                for line in sse_lines(r):
                    if not line or not line.startswith("data:"):
                        continue
                    message = json.loads(line[5:])
                    kind = message.get("msg")
                    if message.get("event_id") not in (None, event_id):
                        continue
                    if kind == "process_starts":
                        fields["gradio_wait_s"] = round(time.perf_counter() - t0, 4)
                    elif kind == "process_generating":
                        data = message["output"]["data"][CHATBOT]
                        chatbot = apply_diff(chatbot, data) if generating else data
                        generating = True
                        if "ttft_s" not in fields and last_reply(chatbot).strip("… "):
                            fields["ttft_s"] = round(time.perf_counter() - t0, 4)
                            STREAMING.add(id(record))
                    elif kind == "process_completed":
                        output = message.get("output") or {}
                        if message.get("success"):
                            self.messages = output["data"][CHATBOT]
                            text = last_reply(self.messages)
                            refused = classify_error(text) if len(text) < 200 else "error"
                            if refused != "error":  # the answer queue's refusal, said in the answer's place
                                outcome = refused
                                fields.pop("ttft_s", None)
                                STREAMING.discard(id(record))
                                self.pending = question
                            else:
                                outcome = "abstained" if "abstain-msg" in text else "answered" \
                                    if text.strip("… ") else "error"
                        else:
                            error = str(output.get("error") or "")
                            outcome = classify_error(error)
                            fields["error"] = error[:200] or "(no message: an unexpected server error)"
                            if outcome == "busy":
                                self.pending = question
                    elif kind == "unexpected_error":
                        outcome, fields["error"] = "error", str(message.get("message"))[:200]
                    elif kind == "close_stream":
                        break
                r.success()
            RECORDER.finish(stream, "ok")
        except Exception as exc:  # the stream broke off: the server dropped us
            fields["error"] = f"{type(exc).__name__}: {exc}"[:200]
            RECORDER.finish(stream, "dropped", error=fields["error"])
            outcome = "dropped"
        finally:
            STREAMING.discard(id(record))
        RECORDER.finish(record, outcome, question=question[:80], **fields)


class ApiUser(HttpUser):
    """A program using the HTTP API: mostly searches and listings, now and then a question (plain or streamed)."""

    wait_time = between(1, 5)
    weight = 1

    def on_start(self) -> None:
        self.label = f"api-{uuid.uuid4().hex[:6]}"
        self.ask_after = 0.0  # a 429 said to wait until then before asking again

    @task(6)
    def search(self) -> None:
        if STOPPING:
            return
        record = RECORDER.start("search", self.label)
        record["beside_answer"] = bool(STREAMING)  # an answer was being written when this search was made
        body = {"query": random.choice(QUESTIONS), "k": random.choice([3, 5, 10]),
                "mode": random.choice(["hybrid", "hybrid", "dense", "bm25"])}
        with self.client.post("/v1/search", json=body, name="POST /v1/search", timeout=SHORT_TIMEOUT,
                              catch_response=True) as r:
            record["status"] = r.status_code
            ok = r.status_code == 200 and isinstance(r.json().get("hits"), list)
            if not ok:
                r.failure(f"{r.status_code}")
            RECORDER.finish(record, "ok" if ok else "error" if r.status_code else "dropped",
                            **({} if ok else {"error": r.text[:200]}))

    @task(2)
    def documents(self) -> None:
        if STOPPING:
            return
        record = RECORDER.start("documents", self.label)
        with self.client.get("/v1/documents", name="GET /v1/documents", timeout=SHORT_TIMEOUT,
                             catch_response=True) as r:
            record["status"] = r.status_code
            ok = r.status_code == 200 and len(r.json().get("documents", [])) > 0
            if not ok:
                r.failure(f"{r.status_code}")
            RECORDER.finish(record, "ok" if ok else "error" if r.status_code else "dropped",
                            **({} if ok else {"error": r.text[:200]}))

    @task(1)
    def ask(self) -> None:
        if STOPPING:
            return
        if time.monotonic() < self.ask_after:
            return self.search()
        record = RECORDER.start("ask", self.label)
        with self.client.post("/v1/ask", json={"question": random.choice(QUESTIONS)}, name="POST /v1/ask",
                              timeout=ASK_TIMEOUT, catch_response=True) as r:
            record["status"] = r.status_code
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            if r.status_code == 200:
                timings = body.get("timings", {})
                RECORDER.finish(record, "abstained" if body.get("abstained") else "answered",
                                server_total_s=timings.get("total_s"), server_ttft_s=timings.get("first_token_s"))
                r.success()
                return
            self._refused(record, r.status_code, body, r.headers.get("Retry-After"), r.text)
            if record["outcome"] in ("busy", "wait_timeout"):
                r.success()
            else:
                r.failure(f"{r.status_code}")

    @task(1)
    def ask_stream(self) -> None:
        if STOPPING:
            return
        if time.monotonic() < self.ask_after:
            return self.search()
        record = RECORDER.start("ask_stream", self.label)
        fields: dict[str, Any] = {}
        try:
            with self.client.post("/v1/ask", json={"question": random.choice(QUESTIONS), "stream": True},
                                  name="POST /v1/ask (stream)", stream=True, timeout=ASK_TIMEOUT,
                                  catch_response=True) as r:
                record["status"] = r.status_code
                if r.status_code != 200:
                    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
                    self._refused(record, r.status_code, body, r.headers.get("Retry-After"), r.text)
                    if record["outcome"] in ("busy", "wait_timeout"):
                        r.success()
                    else:
                        r.failure(f"{r.status_code}")
                    return
                outcome, event = "dropped", ""
                for line in sse_lines(r):
                    if line.startswith("event:"):
                        event = line[6:].strip()
                        continue
                    if not line.startswith("data:"):
                        continue
                    data = json.loads(line[5:])
                    if event == "token" and "ttft_s" not in fields:
                        fields["ttft_s"] = round(time.perf_counter() - record["_t0"], 4)
                        STREAMING.add(id(record))
                    elif event == "answer":
                        timings = data.get("timings", {})
                        outcome = "abstained" if data.get("abstained") else "answered"
                        fields.update(server_total_s=timings.get("total_s"),
                                      server_ttft_s=timings.get("first_token_s"))
                    elif event == "error":  # after the 200: the refusal or failure comes as an event
                        outcome = "wait_timeout" if data.get("type") == "WaitTimeoutError" else \
                            "busy" if data.get("type") == "BusyError" else "error"
                        fields["error"] = f"{data.get('type')}: {data.get('error')}"[:200]
                if outcome in ("error", "dropped"):
                    r.failure(outcome)
                else:
                    r.success()
        except Exception as exc:  # the stream broke off
            outcome, fields["error"] = "dropped", f"{type(exc).__name__}: {exc}"[:200]
        finally:
            STREAMING.discard(id(record))
        RECORDER.finish(record, outcome, **fields)

    def _refused(self, record: dict[str, Any], status: int, body: dict[str, Any], retry_after: str | None,
                 text: str) -> None:
        kind = body.get("type", "")
        if status == 429 and kind == "BusyError":
            outcome = "busy"
            self.ask_after = time.monotonic() + float(retry_after or 10)
        elif status == 503 and kind == "WaitTimeoutError":
            outcome = "wait_timeout"
        else:
            outcome = "error" if status else "dropped"
        RECORDER.finish(record, outcome, error=f"{kind}: {body.get('error', text[:200])}"[:200],
                        retry_after=retry_after)
