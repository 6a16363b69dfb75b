"""``rag doctor``: each check alone, a broken model path, a decode child that dies of SIGSEGV (the doctor
lives on and says what to try), and on the real model and index, a clean bill of health."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import rag.probe
from rag import doctor
from rag.cli import main
from rag.doctor import REBUILD, Check, check_decode, check_disk, check_index, check_llama, check_memory, split_fix

SEGV = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
# A child that decodes "fine": the one JSON line _decode_child.py prints on success.
WORKS = [sys.executable, "-c", "import json; print(json.dumps({'ok': True, 'prompt_tps': 50.0, 'gen_tps': 10.0, "
         "'load_s': 0.1, 'system_info': 'CPU : AVX2 = 1 |'}))"]


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    """A file that passes for a model: the fake children never read it."""
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(64))
    return path


@pytest.fixture(autouse=True)
def probe_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Verdicts go to a test folder, never to the real probes.json; the setting starts at its default."""
    monkeypatch.setattr(rag.probe, "model_cache_dir", lambda: tmp_path / "cache")
    monkeypatch.delenv(rag.probe.EXTRA_BUFTS_ENV, raising=False)
    return tmp_path / "cache" / "probes.json"


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


# ------------------------------------------------------------------ the decode, with fake children

def test_a_child_dying_of_sigsegv_is_one_line_with_the_override_and_the_rebuild(gguf: Path, probe_cache: Path):
    check = check_decode(gguf, command=SEGV)
    assert check.ok is False
    assert "the answer model crashed while reading a prompt (signal 11, SIGSEGV)" in check.detail
    assert "RAG_LLAMA_EXTRA_BUFTS" in check.fix and REBUILD in check.fix
    assert "\n" not in check.line()
    assert check.line().startswith("✗ first decode: the answer model crashed while reading a prompt (signal 11")
    assert {run["returncode"] for run in check.data["runs"].values()} == {-signal.SIGSEGV}
    assert not probe_cache.exists()  # a substitute child's verdict is never remembered for the real model


def test_extra_bufts_on_crashing_says_to_try_off(gguf: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_LLAMA_EXTRA_BUFTS", "on")
    check = check_decode(gguf, command=lambda extra: SEGV if extra else WORKS)
    assert check.ok is False
    assert "crashed while reading a prompt (signal 11" in check.detail and "extra buffer types on" in check.detail
    assert check.fix.startswith("try RAG_LLAMA_EXTRA_BUFTS=off")


def test_extra_bufts_off_crashing_says_to_try_on(gguf: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_LLAMA_EXTRA_BUFTS", "off")
    check = check_decode(gguf, command=lambda extra: WORKS if extra else SEGV)
    assert check.ok is False
    assert check.fix.startswith("try RAG_LLAMA_EXTRA_BUFTS=on")


def test_auto_falls_back_and_reports_which_setting_is_in_use(gguf: Path):
    check = check_decode(gguf, command=lambda extra: SEGV if extra else WORKS)
    assert check.ok is True
    assert check.data["in_use"] == "off"
    assert "prompt 50.0 tokens/s, generation 10.0 tokens/s with extra buffer types off" in check.detail
    assert "on crashes here (signal 11, SIGSEGV), so auto uses off" in check.detail
    check = check_decode(gguf, command=lambda extra: WORKS if extra else SEGV)
    assert check.ok is True and check.data["in_use"] == "on"


def test_a_bad_setting_is_a_failed_check_not_an_exception(gguf: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_LLAMA_EXTRA_BUFTS", "maybe")
    check = check_decode(gguf, command=WORKS)
    assert check.ok is False and "RAG_LLAMA_EXTRA_BUFTS must be one of" in check.detail


def test_the_cli_survives_a_crashing_decode_child(gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  probe_cache: Path):
    """Through the real ``run_probe`` argv: the child script itself is replaced by one that segfaults."""
    child = tmp_path / "segv_child.py"
    child.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setattr(rag.probe, "_CHILD", child)
    result = run("doctor", "--decode-only", "--model", str(gguf))
    assert result.exit_code == 1
    assert "✗ first decode: the answer model crashed while reading a prompt (signal 11, SIGSEGV)" in result.stdout
    assert "— fix: neither RAG_LLAMA_EXTRA_BUFTS=off nor =on works" in result.stdout
    result = run("doctor", "--decode-only", "--model", str(gguf), "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["ok"] is False
    assert report["checks"][0]["data"]["runs"]["off"]["returncode"] == -signal.SIGSEGV
    assert probe_cache.exists()  # the real probe path remembers crash verdicts (in the test's folder)


# ------------------------------------------------------------------ a broken model path

def test_a_broken_model_path_fails_its_check_with_a_fix(tmp_path: Path):
    check = doctor.check_model_file(tmp_path / "nowhere.gguf")
    assert check.ok is False and "no file at" in check.detail and "--model" in check.fix
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello")
    check = doctor.check_model_file(not_gguf)
    assert check.ok is False and "is not a GGUF file" in check.detail


def test_the_cli_exits_non_zero_for_a_broken_model_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The embedder is tested on its own below (integration); here it would only cost seconds.
    monkeypatch.setattr(doctor, "check_embedder", lambda index_dir: Check("embedder", True, "stub"))
    missing = tmp_path / "nowhere.gguf"
    result = run("doctor", "--model", str(missing), "--index", str(tmp_path / "index"))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"✗ answer model: no file at {missing} — fix: give --model the path of a .gguf file" in result.stdout
    assert any(line.startswith("- first decode: skipped") for line in lines)
    assert any(line.startswith("- index: no index at") and "rag index corpus --index" in line for line in lines)
    assert any(line.startswith("✓ python: ") for line in lines)  # the other checks still ran
    report = json.loads(run("doctor", "--model", str(missing), "--index", str(tmp_path / "index"),
                            "--json").stdout)
    assert report["ok"] is False
    assert [c["name"] for c in report["checks"]] == ["python", "packages", "cpu", "llama.cpp", "answer model",
                                                      "first decode", "embedder", "index", "memory", "disk"]
    assert run("doctor", "--decode-only", "--model", str(missing)).exit_code == 1


def test_contradictory_flags_are_one_error_line():
    result = run("doctor", "--decode-only", "--skip-decode")
    assert result.exit_code == 2 and result.stderr.strip().startswith("error: --decode-only and --skip-decode")


# ------------------------------------------------------------------ the other checks alone

def test_memory_and_disk_against_what_is_needed(tmp_path: Path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 4000000 kB\nMemAvailable: 1000000 kB\n")
    check = check_memory(1_100_000_000, meminfo)
    assert check.ok is False and "1.0 GB available" in check.detail and "1.6 GB" in check.detail
    meminfo.write_text("MemAvailable: 9000000 kB\n")
    assert check_memory(1_100_000_000, meminfo).ok is True
    assert check_memory(None, meminfo).ok is None
    assert check_disk(tmp_path / "not" / "yet" / "index").ok is True  # the nearest existing folder counts
    low = check_disk(tmp_path, minimum=1 << 62)
    assert low.ok is False and "free at least" in low.fix


def test_no_index_yet_says_how_to_build_one(tmp_path: Path):
    check = check_index(tmp_path / "idx")
    assert check.ok is None and check.fix == f"build one: `rag index corpus --index {tmp_path / 'idx'}`"


def test_a_llama_build_for_another_cpu_is_caught(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(doctor, "cpu_flags", lambda: ({"avx", "avx2", "fma", "f16c"}, "test CPU"))
    check = check_llama("CPU : AVX = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | OPENMP = 1 |")
    assert check.ok is False and "AVX512 AMX_INT8" in check.detail and REBUILD in check.fix
    assert check_llama("CPU : AVX = 1 | AVX2 = 1 | OPENMP = 1 |").ok is True


def test_llama_system_info_is_read_in_a_child():
    check = check_llama()
    assert check.ok is True, check.line()
    assert "AVX" in check.data["system_info"] or "CPU" in check.data["system_info"]


def test_split_fix_and_line_format():
    assert split_fix("no index at x/: build one with `rag index`") == ("no index at x/", "build one with `rag index`")
    assert split_fix("x has sha256 a, expected b; delete it") == ("x has sha256 a, expected b", "delete it")
    assert split_fix("plain") == ("plain", "")
    assert Check("a", True, "fine", "ignored").line() == "✓ a: fine"
    assert Check("a", False, "broken", "do this").line() == "✗ a: broken — fix: do this"
    assert Check("a", None, "not yet", "do that").line() == "- a: not yet — do that"


def test_importing_the_doctor_loads_no_model():
    code = "import sys, rag.doctor; print(sorted({'torch', 'llama_cpp', 'faiss'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ------------------------------------------------------------------ the real thing

@pytest.mark.integration
@pytest.mark.slow
def test_the_real_first_decode_in_a_child_exits_0():
    result = rag.probe.run_probe(rag.bundled_gguf(), extra_bufts=False, threads=2)
    assert result.ok, result.message
    assert result.returncode == 0
    assert result.prompt_tps and result.prompt_tps > 0
    assert result.gen_tps and result.gen_tps > 0
    assert "CPU" in result.system_info


@pytest.mark.integration
@pytest.mark.slow
def test_doctor_json_on_a_real_index_passes(real_index, probe_cache: Path):
    result = run("doctor", "--index", str(real_index.path), "--json")
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if c["ok"] is not True]
    assert report["ok"] is True and result.exit_code == 0, failed
    assert not failed
    decode = next(c for c in report["checks"] if c["name"] == "first decode")
    in_use = decode["data"]["in_use"]
    assert in_use in ("off", "on") and decode["data"]["runs"][in_use]["gen_tps"] > 0
    index = next(c for c in report["checks"] if c["name"] == "index")
    assert index["data"]["documents"] == 5
    assert probe_cache.exists()  # the doctor's real decodes are the verdicts the next load uses
