"""Start-up of the servers (issue 15): both models load at once, the answer model on its own owner thread;
warming up is safe to repeat; a failure while loading stops `rag serve` with one line; and once `rag serve`
answers its page, a question is answered end to end. No test here asserts a time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rag_eval.processes import free_port, stop, wait_until_up  # pyright: ignore[reportMissingImports]

from rag import ModelError, prompts
from rag.probe import EXTRA_BUFTS_ENV
from rag.testing import ScriptedGenerator, tiny_workspace

from .test_probe import remember_crashes


class SlowLoader(ScriptedGenerator):
    """A generator whose load waits until the embedder has started loading, while the embedder's load waits for
    it: they can only finish if they run at the same time. Records the threads it loaded on and what it primed."""

    def __init__(self, embedder_started: threading.Event, fail: bool = False) -> None:
        super().__init__(["The ferry to Somes Island leaves at 7:45 every morning [1]."] * 3)
        self.embedder_started = embedder_started
        self.fail = fail
        self.loads: list[str] = []
        self.primed: list[list[str]] = []
        self.started = threading.Event()

    def warm_up(self) -> None:
        self.loads.append(threading.current_thread().name)
        self.started.set()
        if not self.embedder_started.wait(30):
            raise AssertionError("the answer model loaded alone: the embedder did not start meanwhile")
        if self.fail:
            raise ModelError("the answer model crashed while reading a prompt (signal 11, SIGSEGV)")

    def prime(self, systems) -> None:
        self.primed.append(list(systems))


def _workspace(generator: SlowLoader):
    workspace = tiny_workspace(generator=generator)
    embedder = workspace.index.embedder
    loaded = embedder.warm_up
    order: list[str] = []

    def warm_embedder() -> None:
        order.append("embedder")
        generator.embedder_started.set()
        if not generator.started.wait(30):
            raise AssertionError("the embedder loaded alone: the answer model did not start meanwhile")
        loaded()

    embedder.warm_up = warm_embedder  # type: ignore[method-assign]
    original_prime = generator.prime

    def prime(systems) -> None:
        order.append("prime")
        original_prime(systems)

    generator.prime = prime  # type: ignore[method-assign]
    return workspace, order


def test_the_answer_model_loads_while_the_embedder_does_and_the_prompts_are_read_after_both():
    generator = SlowLoader(threading.Event())
    workspace, order = _workspace(generator)
    workspace.warm_up()
    assert generator.loads and generator.loads[0] != threading.current_thread().name
    assert order[-1] == "prime" and "embedder" in order[:-1]
    assert generator.primed[-1][-1] == prompts.ANSWER_SYSTEMS[workspace.settings.prompt]  # in context for the first
    assert workspace.ask("When does the ferry leave?").citations  # and it answers


@pytest.mark.parametrize("defence", ["patterns", "screen"])
def test_the_workspace_reads_the_prompts_the_assistant_would(defence):
    """Workspace.warm_up does Assistant.warm_up's work in another order: the same prompts, the answer's last."""
    from rag.answer import Assistant
    from rag.config import AnswerSettings

    settings = AnswerSettings(generator="extractive", min_dense_score=0.0, injection_defence=defence)
    loader = SlowLoader(threading.Event())
    loader.embedder_started.set()
    workspace = tiny_workspace(generator=loader)
    workspace.assistant = Assistant(workspace.index, settings, loader)
    workspace.warm_up()
    recorder = SlowLoader(threading.Event())
    recorder.embedder_started.set()
    Assistant(workspace.index, settings, recorder).warm_up()
    assert loader.primed[-1] == recorder.primed[-1]
    assert recorder.primed[-1][-1] == prompts.ANSWER_SYSTEMS[settings.prompt]
    assert (prompts.ORDER_SYSTEM in recorder.primed[-1]) == (defence == "screen")


def test_warm_up_is_safe_to_repeat_and_to_call_from_several_threads():
    generator = SlowLoader(threading.Event())
    workspace, _ = _workspace(generator)
    errors: list[BaseException] = []

    def warm() -> None:
        try:
            workspace.warm_up()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=warm) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    workspace.warm_up()
    assert not errors and not any(t.is_alive() for t in threads)
    assert workspace.ask("When does the ferry leave?").citations


def test_a_load_failure_is_raised_by_warm_up_on_the_calling_thread():
    generator = SlowLoader(threading.Event(), fail=True)
    workspace, order = _workspace(generator)
    with pytest.raises(ModelError, match="crashed while reading a prompt"):
        workspace.warm_up()
    assert "prime" not in order  # nothing is read into a model that did not load


@pytest.fixture
def fake_model(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF not really")
    return path


@pytest.mark.integration
def test_rag_serve_on_a_cpu_where_the_model_crashes_refuses_to_start_with_one_line(real_index, fake_model, tmp_path):
    """The answer model loads on a thread beside the page's build: its error still ends `rag serve` with one line."""
    cache_dir = tmp_path / "cache"
    remember_crashes(fake_model, cache_dir)
    rag = Path(sys.executable).with_name("rag")
    done = subprocess.run([str(rag), "serve", "--index", str(real_index.path), "--model", str(fake_model),
                           "--port", str(free_port())], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RAG_MODEL_DIR": str(cache_dir), EXTRA_BUFTS_ENV: "auto"})
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the answer model crashed while reading a prompt (signal 11, SIGSEGV)"), done.stderr
    assert "Traceback" not in done.stderr and "Web chat:" not in done.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_once_rag_serve_answers_its_page_a_question_is_answered_with_the_real_model(real_index, tmp_path):
    """What eval/bench_serve.py calls ready: the page answers, and a question asked then gets a cited answer."""
    from gradio_client import Client

    port = free_port()
    rag = Path(sys.executable).with_name("rag")
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([str(rag), "serve", "--index", str(real_index.path), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}/"
    try:
        assert wait_until_up(proc, url), (tmp_path / "server.log").read_text()
        assert "Web chat:" in (tmp_path / "server.log").read_text()  # printed once the models were loaded
        client = Client(url, verbose=False)
        _, messages, sources = client.predict("Which countries could join AUKUS Pillar 2?", [], 5, "hybrid",
                                              "llama", api_name="/respond")
        reply = messages[-1]["content"]
        reply = reply[0]["text"] if isinstance(reply, list) else reply
        assert "<a class='cite'" in reply, reply
        assert "Answer 1: Which countries could join AUKUS Pillar 2?" in sources
    finally:
        stop(proc)
        log.close()
