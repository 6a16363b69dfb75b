"""Never let the answer model crash the caller: try it in a child process first, once per machine.

llama.cpp picks CPU kernels by what the build and the CPU support. Some of them (its "extra buffer
types": weights repacked for AVX-512/AMX kernels) crashed with a segmentation fault in the first
decode on an AVX-512/AMX Intel Xeon, while other machines run them fine. Nobody here has every CPU,
so instead of a list of known-bad flags, the configuration is *tried*: a child process loads the
model and decodes a prompt (``_decode_child.py``); if it dies of a signal, the parent lives, records
that, and uses the safe configuration. Verdicts (a clean decode, or a crash) are remembered in
``probes.json`` beside the assembled model, keyed by everything that decides them (``machine_key``:
the CPU's identity and flags, the llama-cpp-python version and its library files, the model file,
the setting, the thread count), so the probe costs its seconds once and a start-up after that only
reads a small file. A machine, build or model that differs in any of these gets its own probe; an
unreadable or malformed cache, or an entry that does not check out, is probed again and rewritten.

``RAG_LLAMA_EXTRA_BUFTS`` chooses: ``auto`` (default: the measured-faster configuration when the
probe survives it, else the other), ``on`` or ``off`` (that configuration only; it is still probed,
so a crash is one line of error instead of a core dump).

    >>> describe_exit(-11)
    'the answer model crashed while reading a prompt (signal 11, SIGSEGV)'
    >>> describe_exit(1, "ValueError: bad magic")
    'the answer model failed to load or read a prompt (exit 1: ValueError: bad magic)'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass, fields
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
# Bumped when what a verdict means changes (the child's prompt, what is remembered): older entries are not read.
CACHE_VERSION = 2
# The /proc/cpuinfo lines that identify a CPU ("Features", "CPU implementer"...: the same on ARM).
_CPU_FIELDS = ("vendor_id", "cpu family", "model", "model name", "stepping", "flags",
               "CPU implementer", "CPU architecture", "CPU variant", "CPU part", "CPU revision", "Features")
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


_FIELDS = {f.name for f in fields(ProbeResult)}


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


def machine_key(model: Path, extra_bufts: bool, threads: int = 2) -> str | None:
    """What a probe's verdict depends on, hashed: the CPU (architecture, vendor, family, model, stepping, name
    and flags of every core), the llama.cpp build (llama-cpp-python's version, its library files' names,
    sizes and times), the model file (path, size, time), the setting and the thread count.

    None when the CPU or the model file cannot be identified: then nothing is remembered."""
    cpu = _cpu_signature()
    try:
        stat = model.stat()
    except OSError:
        return None
    if cpu is None:
        return None
    parts = [f"probe-cache {CACHE_VERSION}", platform.machine(), cpu, _llama_build(), f"extra_bufts={extra_bufts}",
             f"threads={threads}", str(model.resolve()), str(stat.st_size), str(stat.st_mtime_ns)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def probe(model: Path, extra_bufts: bool, threads: int = 2, cache: Path | None = None,
          command: list[str] | None = None, fresh: bool = False) -> ProbeResult:
    """``run_probe`` once per machine key; later calls read the remembered verdict (``fresh`` re-runs).

    Remembered: a clean decode and a crash (a signal), which say what this machine does. Not remembered:
    a load failure or a time-out, which may be passing trouble (a full disk, a busy machine)."""
    path = cache or model_cache_dir() / "probes.json"
    key = machine_key(model, extra_bufts, threads)
    with _lock:
        if not fresh and key is not None:
            known = _verdict(_read(path).get(key), extra_bufts)
            if known is not None:
                return known
        result = run_probe(model, extra_bufts, threads, command=command)
        if key is not None and _is_verdict(result):
            known = _read(path)
            known[key] = asdict(result)
            with contextlib.suppress(OSError):  # a read-only cache folder costs the probe next time, nothing else
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


def _is_verdict(result: ProbeResult) -> bool:
    """Whether ``result`` says what this machine does (remembered), not a passing failure."""
    return result.ok or (result.returncode is not None and result.returncode < 0)


def _verdict(entry: object, extra_bufts: bool) -> ProbeResult | None:
    """The remembered ``ProbeResult`` in a cache entry, or None when the entry is missing or malformed."""
    if not isinstance(entry, dict) or set(entry) != _FIELDS:
        return None
    try:
        result = ProbeResult(**entry)
    except TypeError:
        return None
    numbers = (result.prompt_tps, result.gen_tps, result.load_s)
    if (result.extra_bufts is not extra_bufts or not isinstance(result.ok, bool)
            or not isinstance(result.returncode, int) or isinstance(result.returncode, bool)
            or not isinstance(result.message, str) or not isinstance(result.system_info, str)
            or not all(n is None or (isinstance(n, int | float) and not isinstance(n, bool)) for n in numbers)
            or not _is_verdict(result) or result.ok != (result.returncode == 0)):
        return None
    return result


def _cpu_signature() -> str | None:
    """Every distinct identity and flags line of /proc/cpuinfo (all cores: a hybrid CPU's differ), or None."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    keep = [line.strip() for line in text.splitlines() if line.split(":")[0].strip() in _CPU_FIELDS]
    if not any(line.startswith(("flags", "Features")) for line in keep):
        return None  # no flags to tell this CPU from another: do not share a verdict
    return "\n".join(dict.fromkeys(keep))


def _llama_build() -> str:
    """The installed llama.cpp: llama-cpp-python's version and its library files (a rebuild for another
    CPU, or with other flags, gets a new verdict). Found without importing it (that costs a second)."""
    import importlib.util
    from importlib import metadata

    try:
        version = metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        version = "unknown"
    try:
        spec = importlib.util.find_spec("llama_cpp")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return json.dumps([version, "missing"])
    package = Path(spec.origin).resolve().parent
    stats = []
    for path in sorted(package.rglob("*.so*")):
        try:
            stat = path.stat()
        except OSError:
            continue
        stats.append([str(path.relative_to(package)), stat.st_size, stat.st_mtime_ns])
    return json.dumps([version, str(package), stats])


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict) -> None:
    """Replace ``path`` atomically: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".probes.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
