"""Never let the answer model crash the caller: try it in a child process first, once per machine.

llama.cpp picks CPU kernels by what the build and the CPU support. Some of them (its "extra buffer
types": weights repacked for AVX-512/AMX kernels) crashed with a segmentation fault in the first
decode on an AVX-512/AMX Intel Xeon, while other machines run them fine. Nobody here has every CPU,
so instead of a list of known-bad flags, the configuration is *tried*: a child process loads the
model and decodes a prompt (``_decode_child.py``); if it dies of a signal, the parent lives, records
that, and uses the safe configuration. Results are remembered per (CPU, llama.cpp build, model,
configuration) in ``probes.json`` beside the assembled model, so this costs a few seconds once.

``RAG_LLAMA_EXTRA_BUFTS`` chooses: ``auto`` (default: the measured-faster configuration when the
probe survives it, else the other), ``on`` or ``off`` (that configuration only; it is still probed,
so a crash is one line of error instead of a core dump).

    >>> describe_exit(-11)
    'the answer model crashed while reading a prompt (signal 11, SIGSEGV)'
    >>> describe_exit(1, "ValueError: bad magic")
    'the answer model failed to load or read a prompt (exit 1: ValueError: bad magic)'
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from . import env
from .errors import ConfigError, ModelError
from .models import model_cache_dir

EXTRA_BUFTS_ENV = env.EXTRA_BUFTS
CHOICES = ("auto", "on", "off")
# Measured (eval/RESULTS.md, "llama.cpp extra buffer types"): which configuration ``auto`` tries first.
PREFERRED = (False, True)
PROBE_TIMEOUT_S = 300.0
# Rebuilds llama.cpp for the CPU at hand (pip's cache may hold a wheel compiled for another one).
REBUILD = ".venv/bin/pip install --force-reinstall --no-cache-dir --no-deps 'llama-cpp-python>=0.3.16,<0.4'"
_CHILD = Path(__file__).with_name("_decode_child.py")
_lock = threading.Lock()


@dataclass(frozen=True)
class ProbeResult:
    """What one decode in a child process did. ``returncode`` < 0 is the signal that killed it."""

    extra_bufts: bool
    ok: bool
    returncode: int | None
    message: str = ""                  # one line: why it failed
    prompt_tps: float | None = None
    gen_tps: float | None = None
    load_s: float | None = None
    system_info: str = ""


def extra_bufts_choice() -> str:
    """``$RAG_LLAMA_EXTRA_BUFTS`` (auto, on, off), validated."""
    value = env.extra_bufts()
    if value not in CHOICES:
        raise ConfigError(f"{EXTRA_BUFTS_ENV} must be one of {', '.join(CHOICES)}, got {value!r}")
    return value


def describe_exit(returncode: int | None, detail: str = "") -> str:
    """One line for a child that did not succeed."""
    if returncode is None:
        return f"the answer model did not finish a test decode in {PROBE_TIMEOUT_S:.0f} s"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"the answer model crashed while reading a prompt (signal {-returncode}, {name})"
    return f"the answer model failed to load or read a prompt (exit {returncode}{': ' + detail if detail else ''})"


def run_probe(model: Path, extra_bufts: bool, threads: int = 2, timeout: float = PROBE_TIMEOUT_S,
              command: list[str] | None = None) -> ProbeResult:
    """Load ``model`` and decode a short prompt in a child process; never raises for a crash.

    ``command`` replaces the child (tests use one that kills itself with SIGSEGV)."""
    argv = command or [sys.executable, str(_CHILD), str(model), "on" if extra_bufts else "off", str(threads)]
    env.offline()  # the child inherits it
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ProbeResult(extra_bufts, False, None, describe_exit(None))
    if done.returncode == 0:
        try:
            data = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            data = {}
        if data.get("ok"):
            return ProbeResult(extra_bufts, True, 0, "", data.get("prompt_tps"), data.get("gen_tps"),
                               data.get("load_s"), data.get("system_info", ""))
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return ProbeResult(extra_bufts, False, done.returncode, describe_exit(done.returncode, lines[-1] if lines else ""))


def machine_key(model: Path, extra_bufts: bool) -> str:
    """What a probe's verdict depends on: the CPU, the llama.cpp build, the model file, the setting."""
    parts = [platform.machine(), _cpu_signature(), _llama_build(), str(extra_bufts)]
    try:
        stat = model.stat()
        parts += [str(model.resolve()), str(stat.st_size), str(stat.st_mtime_ns)]
    except OSError:
        parts.append(str(model))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def probe(model: Path, extra_bufts: bool, threads: int = 2, cache: Path | None = None,
          command: list[str] | None = None, fresh: bool = False) -> ProbeResult:
    """``run_probe`` once per machine key; later calls read the remembered verdict (``fresh`` re-runs)."""
    path = cache or model_cache_dir() / "probes.json"
    key = machine_key(model, extra_bufts)
    with _lock:
        known = _read(path)
        if not fresh and key in known:
            return ProbeResult(**known[key])
        result = run_probe(model, extra_bufts, threads, command=command)
        if result.ok or (result.returncode is not None and result.returncode < 0):  # remember verdicts, not hiccups
            known = _read(path)
            known[key] = asdict(result)
            _write(path, known)
        return result


def choose_extra_bufts(model: Path, threads: int = 2, cache: Path | None = None,
                       command: list[str] | None = None) -> bool:
    """The ``use_extra_bufts`` value that is safe here (probed), by ``$RAG_LLAMA_EXTRA_BUFTS``.

    Raises ``ModelError`` with one line (what crashed, what to try) when no allowed configuration survives."""
    choice = extra_bufts_choice()
    options = PREFERRED if choice == "auto" else (choice == "on",)
    failures = []
    for extra in options:
        result = probe(model, extra, threads, cache, command)
        if result.ok:
            return extra
        failures.append(result)
    first = failures[0]
    hint = (f"set {EXTRA_BUFTS_ENV}=auto to let it fall back" if choice != "auto" else
            f"rebuild llama.cpp for this CPU: `{REBUILD}`, then run `rag doctor`")
    raise ModelError(f"{first.message}; {hint}")


def _cpu_signature() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor()
    keep = [line for line in text.splitlines() if line.split(":")[0].strip() in ("model name", "flags")]
    return "\n".join(dict.fromkeys(keep))


def _llama_build() -> str:
    """The installed llama.cpp library: a rebuild (new flags, new CPU) gets a new verdict."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("llama_cpp")
    except (ImportError, ValueError):
        return "missing"
    if spec is None or not spec.origin:
        return "missing"
    lib = Path(spec.origin).parent / "lib"
    stats = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in lib.glob("*.so*")) if lib.is_dir() else []
    return json.dumps(stats)


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".probes.", dir=path.parent)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=1)
    os.replace(tmp, path)
