"""The probe's verdict is remembered on disk, keyed by everything that decides it; anything doubtful probes again.

A fake probe (a command that prints the child's JSON line, or kills itself with SIGSEGV) stands in for
the real child, and counts its runs in a file, so each test can tell a cache hit from a probe.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from rag import probe as probe_module
from rag.probe import ProbeResult, machine_key, probe


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF not really")
    return path


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "probes.json"


class FakeProbe:
    """A child command that succeeds (or crashes) and counts how often it ran."""

    def __init__(self, tmp_path: Path) -> None:
        self.runs_file = tmp_path / "runs"
        self.runs_file.write_text("")

    def command(self, crash: bool = False) -> list[str]:
        end = ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)" if crash else
               "print('{\"ok\": true, \"prompt_tps\": 100.0, \"gen_tps\": 30.0, \"load_s\": 0.5}')")
        return [sys.executable, "-c", f"open({str(self.runs_file)!r}, 'a').write('x'); {end}"]

    @property
    def runs(self) -> int:
        return len(self.runs_file.read_text())


@pytest.fixture
def fake(tmp_path: Path) -> FakeProbe:
    return FakeProbe(tmp_path)


def test_a_verdict_is_probed_once_then_read_from_the_cache(model, cache, fake):
    first = probe(model, False, cache=cache, command=fake.command())
    assert first.ok and first.prompt_tps == 100.0 and fake.runs == 1
    assert probe(model, False, cache=cache, command=fake.command()) == first
    assert probe(model, False, cache=cache, command=fake.command(crash=True)) == first  # not run: remembered
    assert fake.runs == 1
    assert not list(cache.parent.glob(".probes.*"))  # the atomic write left no temporary file


def test_a_cached_crash_is_a_verdict_too(model, cache, fake):
    crashed = probe(model, True, cache=cache, command=fake.command(crash=True))
    assert not crashed.ok and crashed.returncode == -11
    assert probe(model, True, cache=cache, command=fake.command()) == crashed
    assert fake.runs == 1


@pytest.mark.parametrize("change", ["setting", "threads", "model size", "model time", "model path", "cpu",
                                    "llama build", "machine"])
def test_a_change_in_anything_that_decides_the_verdict_probes_again(change, model, cache, fake, monkeypatch,
                                                                   tmp_path):
    probe(model, False, cache=cache, command=fake.command())
    extra, threads = False, 2
    if change == "setting":
        extra = True
    elif change == "threads":
        threads = 4
    elif change == "model size":
        model.write_bytes(b"GGUF not really, and longer")
    elif change == "model time":
        stat = model.stat()
        os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    elif change == "model path":
        other = tmp_path / "other.gguf"
        other.write_bytes(model.read_bytes())
        model = other
    elif change == "cpu":
        monkeypatch.setattr(probe_module, "_cpu_signature", lambda: "model name: Another CPU\nflags: fpu sse2")
    elif change == "llama build":
        monkeypatch.setattr(probe_module, "_llama_build", lambda: '["0.3.99", "rebuilt"]')
    elif change == "machine":
        monkeypatch.setattr(probe_module.platform, "machine", lambda: "aarch64")
    probe(model, extra, threads, cache=cache, command=fake.command())
    assert fake.runs == 2


def test_the_key_covers_the_cpu_flags_and_the_llama_version(model, monkeypatch):
    before = machine_key(model, False)
    assert before is not None and before == machine_key(model, False)
    cpu = probe_module._cpu_signature()
    assert cpu is not None and ("flags" in cpu or "Features" in cpu)
    monkeypatch.setattr(probe_module, "_cpu_signature", lambda: cpu + " avx512f")
    assert machine_key(model, False) != before
    monkeypatch.undo()
    monkeypatch.setattr("importlib.metadata.version", lambda name: "0.0.1")
    assert machine_key(model, False) != before


def test_an_unknown_cpu_or_a_missing_model_is_never_cached(model, cache, fake, monkeypatch, tmp_path):
    monkeypatch.setattr(probe_module, "_cpu_signature", lambda: None)
    assert machine_key(model, False) is None
    probe(model, False, cache=cache, command=fake.command())
    probe(model, False, cache=cache, command=fake.command())
    assert fake.runs == 2 and not cache.exists()
    monkeypatch.undo()
    assert machine_key(tmp_path / "missing.gguf", False) is None


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", "null", '"text"', "\x00\x01garbage"])
def test_a_corrupt_cache_file_probes_again_and_is_rewritten(content, model, cache, fake):
    cache.parent.mkdir(parents=True)
    cache.write_text(content)
    assert probe(model, False, cache=cache, command=fake.command()).ok
    assert fake.runs == 1
    assert probe(model, False, cache=cache, command=fake.command()).ok and fake.runs == 1  # now remembered
    assert isinstance(json.loads(cache.read_text()), dict)


@pytest.mark.parametrize("entry", [
    None, [], "ok", {}, {"ok": True},
    {"extra_bufts": False, "ok": True, "returncode": 0, "message": "", "prompt_tps": None, "gen_tps": None,
     "load_s": None, "system_info": "", "extra": 1},                                # an unknown field
    {"extra_bufts": True, "ok": True, "returncode": 0, "message": "", "prompt_tps": None, "gen_tps": None,
     "load_s": None, "system_info": ""},                                            # another setting's verdict
    {"extra_bufts": False, "ok": "yes", "returncode": 0, "message": "", "prompt_tps": None, "gen_tps": None,
     "load_s": None, "system_info": ""},                                            # wrong type
    {"extra_bufts": False, "ok": False, "returncode": 1, "message": "x", "prompt_tps": None, "gen_tps": None,
     "load_s": None, "system_info": ""},                                            # a hiccup is no verdict
    {"extra_bufts": False, "ok": True, "returncode": -11, "message": "", "prompt_tps": None, "gen_tps": None,
     "load_s": None, "system_info": ""},                                            # contradicts itself
    {"extra_bufts": False, "ok": True, "returncode": 0, "message": "", "prompt_tps": "fast", "gen_tps": None,
     "load_s": None, "system_info": ""},
])
def test_a_malformed_entry_probes_again(entry, model, cache, fake):
    key = machine_key(model, False)
    assert key is not None
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({key: entry}))
    result = probe(model, False, cache=cache, command=fake.command())
    assert result.ok and result.prompt_tps == 100.0 and fake.runs == 1
    assert json.loads(cache.read_text())[key]["prompt_tps"] == 100.0


def test_other_entries_are_kept_when_a_verdict_is_added(model, cache, fake):
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"someone-else": {"ok": True}}))
    probe(model, False, cache=cache, command=fake.command())
    assert set(json.loads(cache.read_text())) == {"someone-else", machine_key(model, False)}


def test_a_cache_that_cannot_be_written_still_gives_the_verdict(model, tmp_path, fake, monkeypatch):
    def refuse(path: Path, data: dict) -> None:
        raise PermissionError(13, "read-only", str(path))

    monkeypatch.setattr(probe_module, "_write", refuse)
    result = probe(model, False, cache=tmp_path / "probes.json", command=fake.command())
    assert result == ProbeResult(False, True, 0, "", 100.0, 30.0, 0.5, "")
