"""The answer model's configuration is tried in a child process first: a crash is one line, never a core dump."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag import ConfigError, ModelError
from rag.probe import CHOICES, EXTRA_BUFTS_ENV, PREFERRED, choose_extra_bufts, machine_key, probe

SEGFAULT = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]


def remember_crashes(model: Path, cache_dir: Path) -> None:
    """Remember, in ``cache_dir``, that ``model`` crashes with either configuration at the answer model's own
    thread count (a verdict is per thread count)."""
    from rag.generation import LlamaGenerator

    threads = LlamaGenerator(model).threads
    for extra in (False, True):
        probe(model, extra, threads, cache=cache_dir / "probes.json", command=SEGFAULT)
WORKS = [sys.executable, "-c", "print('{\"ok\": true, \"prompt_tps\": 100.0, \"gen_tps\": 30.0}')"]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF not really")
    return path


def test_a_crash_is_remembered_and_auto_falls_back_to_the_other_configuration(model, tmp_path, monkeypatch):
    monkeypatch.delenv(EXTRA_BUFTS_ENV, raising=False)
    cache = tmp_path / "probes.json"
    crashed = probe(model, PREFERRED[0], cache=cache, command=SEGFAULT)
    assert not crashed.ok and crashed.returncode == -11
    assert crashed.message == "the answer model crashed while reading a prompt (signal 11, SIGSEGV)"
    # remembered: the next call does not run the child (a command that would succeed is ignored)
    assert probe(model, PREFERRED[0], cache=cache, command=WORKS) == crashed
    assert probe(model, PREFERRED[0], cache=cache, command=WORKS, fresh=True).ok
    probe(model, PREFERRED[0], cache=cache, command=SEGFAULT, fresh=True)
    assert choose_extra_bufts(model, cache=cache, command=WORKS) is PREFERRED[1]


def test_forced_setting_that_crashes_is_one_line_naming_the_override(model, tmp_path, monkeypatch):
    monkeypatch.setenv(EXTRA_BUFTS_ENV, "on")
    with pytest.raises(ModelError) as caught:
        choose_extra_bufts(model, cache=tmp_path / "probes.json", command=SEGFAULT)
    message = str(caught.value)
    assert "crashed while reading a prompt (signal 11" in message and f"{EXTRA_BUFTS_ENV}=auto" in message
    assert "\n" not in message
    monkeypatch.setenv(EXTRA_BUFTS_ENV, "sometimes")
    with pytest.raises(ConfigError, match="must be one of auto, on, off"):
        choose_extra_bufts(model, cache=tmp_path / "probes.json", command=WORKS)
    assert CHOICES == ("auto", "on", "off")


def test_the_verdict_depends_on_the_model_file_and_the_setting(model):
    assert machine_key(model, True) != machine_key(model, False)
    before = machine_key(model, False)
    model.write_bytes(b"another model, another size")
    assert machine_key(model, False) != before


@pytest.mark.integration
def test_a_server_on_a_cpu_where_the_model_crashes_refuses_to_start_with_one_line(real_index, model, tmp_path):
    """`rag api` with a remembered crash for both configurations: an error line and exit 2, no core dump."""
    cache_dir = tmp_path / "cache"
    remember_crashes(model, cache_dir)
    rag = Path(sys.executable).with_name("rag")
    done = subprocess.run([str(rag), "api", "--index", str(real_index.path), "--model", str(model), "--port", "1"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RAG_MODEL_DIR": str(cache_dir), EXTRA_BUFTS_ENV: "auto"})
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the answer model crashed while reading a prompt (signal 11, SIGSEGV)"), done.stderr
    assert "rag doctor" in last and "Traceback" not in done.stderr


def test_a_file_that_is_no_model_fails_in_the_child_with_one_line(model, tmp_path, monkeypatch):
    monkeypatch.setenv(EXTRA_BUFTS_ENV, "off")
    with pytest.raises(ModelError, match=r"failed to load or read a prompt \(exit 1"):
        choose_extra_bufts(model, cache=tmp_path / "probes.json")
    assert not (tmp_path / "probes.json").exists()  # a load failure is not a CPU verdict: not remembered
