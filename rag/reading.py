"""Reading a file within limits: a time limit per file, a memory cap, and a bound on the text kept.

HTML, PDF and the formats of ``rag.formats`` (office files, e-books, spreadsheets, e-mail, JSON) are parsed
by code a thread cannot stop (lxml/libxml2, zlib, pypdf's loops), and a malformed file can make it run for
hours (a 50 kB PDF whose 200 pages share one heavy stream), allocate gigabytes or crash. So each such file
is parsed in a child process forked from the reader server, a process started once that imported the parsers
(a file costs a fork, about 10 to 20 ms, not an import):
the child runs under ``RLIMIT_AS`` and is killed at the time limit, and whatever happens to it, the
caller gets a ``DocumentError`` with one line. Plain text and Markdown up to ``INLINE_BYTES`` are read
in this process: their code is linear in the file's size (the fuzzer checks the time of each case), and
a child would cost more than the reading. Larger ones go to a child too.

The limits are settings (``ReadLimits``); their defaults can be changed with environment variables:

| variable | meaning | default |
|---|---|---|
| ``RAG_READ_TIMEOUT_S`` | seconds one file may take to read | 30 |
| ``RAG_READ_MEMORY_MB`` | memory the child parsing one file may add, in MB | 1024 |
| ``RAG_READ_MAX_CHARS`` | characters of text one file may yield | 10000000 |

    >>> ReadLimits(timeout_s=5).timeout_s
    5.0
    >>> ReadLimits(memory_mb=0)
    Traceback (most recent call last):
    rag.errors.ConfigError: memory_mb must be a positive integer (RAG_READ_MEMORY_MB), got 0
"""

from __future__ import annotations

import gc
import importlib
import math
import os
import resource
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import NoReturn

from . import env, formats
from .errors import ConfigError, DocumentError
from .locations import Mark

READ_TIMEOUT, READ_MEMORY, READ_MAX_CHARS = env.READ_TIMEOUT, env.READ_MEMORY, env.READ_MAX_CHARS
TIMEOUT_S = 30.0
MEMORY_MB = 1024
MAX_CHARS = 10_000_000
INLINE_BYTES = 1_000_000  # text files up to this size are read in this process
SERVER_SLACK_S = 10.0  # beyond the time limit, before a silent reader server is replaced
SERVER_START_S = 60.0  # more for the first file of a new server: it imports the parsers first (~1 s)
# Imported once by the reader server, so that a child starts with the parsers loaded.
PRELOAD = ["rag.documents", "pypdf", "trafilatura", "lxml.html", "charset_normalizer", *formats.LIBRARIES]

Pages = list[str]


def _number(name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class ReadLimits:
    """How long one file may take to read, how much memory its parser may add, and how much text it may give."""

    timeout_s: float = field(default_factory=lambda: _number(READ_TIMEOUT, TIMEOUT_S))
    memory_mb: int = field(default_factory=lambda: int(_number(READ_MEMORY, MEMORY_MB)))
    max_chars: int = field(default_factory=lambda: int(_number(READ_MAX_CHARS, MAX_CHARS)))

    def __post_init__(self) -> None:
        if not isinstance(self.timeout_s, int | float) or not self.timeout_s > 0:
            raise ConfigError(f"timeout_s must be a positive number of seconds ({READ_TIMEOUT}), "
                              f"got {self.timeout_s!r}")
        object.__setattr__(self, "timeout_s", float(self.timeout_s))
        for name, variable in (("memory_mb", READ_MEMORY), ("max_chars", READ_MAX_CHARS)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer ({variable}), got {value!r}")


def too_much_text(max_chars: int) -> str:
    """The one-line reason given for a file whose text is over ``max_chars``."""
    return f"has more than {max_chars:,} characters of text (limit: {READ_MAX_CHARS})"


# ---------------------------------------------------------------- the parent side


def read_pages(kind: str, data: bytes, path: str, limits: ReadLimits) -> tuple[Pages, str | None, list[Mark]]:
    """``documents.extract`` of a file's bytes within ``limits``: its cleaned pages, title and location marks.

    Text and Markdown up to ``INLINE_BYTES`` are read in this process; everything else in a child
    (``extract_limited``). Raises ``DocumentError`` with a one-line reason.
    """
    if kind in ("text", "markdown") and len(data) <= INLINE_BYTES:
        reply = _reply(kind, data, path, limits)
    else:
        reply = extract_limited(kind, data, path, limits)
    if reply[0] != "ok":
        raise DocumentError(path, reply[1])
    return reply[1], reply[2], reply[3]


def extract_limited(kind: str, data: bytes, path: str, limits: ReadLimits) -> tuple:
    """``documents.extract`` in a child process under ``limits``: ``("ok", pages, title, marks)`` or
    ``("error", reason)``.

    The reason is the parser's own, or that the file took too long, needed too much memory or crashed
    the parser. One file at a time per process (a lock): the reader server forks one child at a time.
    """
    with _server_lock:
        server = _server()
        allowance = limits.timeout_s + SERVER_SLACK_S + (SERVER_START_S if server.fresh else 0.0)
        try:
            server.requests.send((kind, data, path, limits))
            if server.replies.poll(allowance):
                server.fresh = False
                return server.replies.recv()
        except (EOFError, OSError):
            pass
        except BaseException:  # Ctrl-C while waiting: its late reply must not answer the next file
            _stop_server()
            raise
        _stop_server()  # it died or stopped answering: the next file starts a new one
        return ("error", f"the {kind.upper()} reader process stopped answering (a new one reads the next file)")


class _Server:
    """The reader server: a process that imported the parsers once and forks a child per file.

    It is started with ``subprocess`` (not ``multiprocessing``, whose children re-import the caller's
    ``__main__``), has one thread, so forking it is safe, and exits when this process closes its pipe.
    """

    def __init__(self) -> None:
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        code = (f"import sys; sys.path[:0] = {sys.path!r}; "
                f"from rag.reading import serve; serve({requests_r}, {replies_w})")
        self.process = subprocess.Popen([sys.executable, "-c", code], pass_fds=(requests_r, replies_w),
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        os.close(requests_r)
        os.close(replies_w)
        self.requests = Connection(requests_w, readable=False)
        self.replies = Connection(replies_r, writable=False)
        self.fresh = True  # no reply yet: still importing the parsers

    def stop(self) -> None:
        self.requests.close()
        self.replies.close()
        self.process.kill()
        self.process.wait()


_server_lock = threading.Lock()
_running: _Server | None = None


def _server() -> _Server:
    global _running
    if _running is None or _running.process.poll() is not None:
        if _running is not None:
            _running.stop()
        _running = _Server()
    return _running


def _stop_server() -> None:
    global _running
    if _running is not None:
        _running.stop()
        _running = None


# ---------------------------------------------------------------- the server and its children


def serve(requests_fd: int, replies_fd: int) -> None:
    """The reader server's loop: import the parsers, then read each request in a child of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller decides what Ctrl-C stops
    for module in PRELOAD:
        importlib.import_module(module)
    _warm_up()
    gc.freeze()  # children's collections then leave the imported modules' objects alone: no copy-on-write of them
    requests = Connection(requests_fd, writable=False)
    replies = Connection(replies_fd, readable=False)
    while True:
        try:
            kind, data, path, limits = requests.recv()
            reply = _in_child(kind, data, path, limits)
            del data
            replies.send(reply)
        except (EOFError, OSError):  # the caller has gone
            return


def _warm_up() -> None:
    """Read a tiny page, PDF and office files once: the parsers' lazy set-up (0.15 to 0.4 s) then happens here,
    not per child."""
    from .documents import extract

    page = b"<html><head><title>Warm</title></head><body><article><p>Warming up the reader.</p></article></body></html>"
    try:
        extract("html", page, "warm-up", 1000)
        extract("pdf", _tiny_pdf(b"BT /F1 12 Tf 72 720 Td (Warming up the reader.) Tj ET"), "warm-up", 1000)
        formats.warm_up()
    except Exception:  # a parser that fails here fails again, per file, in a child
        pass


def _tiny_pdf(content: bytes) -> bytes:
    """A one-page PDF drawing ``content`` in Helvetica, with a correct cross-reference table."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _in_child(kind: str, data: bytes, path: str, limits: ReadLimits) -> tuple:
    """Fork; the child reads the file under ``limits`` and sends its reply; kill it at the time limit."""
    reply_r, reply_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(reply_r)
        _child(reply_w, kind, data, path, limits)
    os.close(reply_w)
    with Connection(reply_r, writable=False) as replies:
        reply: tuple = ("timeout",)
        if replies.poll(limits.timeout_s):
            try:
                reply = replies.recv()
            except (EOFError, OSError):
                reply = ("died",)
        if reply[0] == "timeout":
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if reply[0] in ("timeout", "died"):
        return ("error", _death(reply[0], status, kind, limits))
    return reply


def _child(reply_fd: int, kind: str, data: bytes, path: str, limits: ReadLimits) -> NoReturn:
    """The forked child: cap memory and CPU time, extract, send the reply, exit without cleaning up."""
    code = 0
    try:
        _cap(limits)
        Connection(reply_fd, readable=False).send(_reply(kind, data, path, limits))
    except BaseException:  # no reply: the server reports how the child ended
        code = 70
    os._exit(code)


def _death(how: str, status: int, kind: str, limits: ReadLimits) -> str:
    if how == "timeout" or (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU):
        return f"took longer than {limits.timeout_s:g} s to read (limit: {READ_TIMEOUT})"
    ended = signal.Signals(os.WTERMSIG(status)).name if os.WIFSIGNALED(status) else \
        f"exit status {os.WEXITSTATUS(status)}"
    return (f"the {kind.upper()} parser crashed ({ended}); it may need more memory "
            f"(limit: {READ_MEMORY}={limits.memory_mb})")


def _reply(kind: str, data: bytes, path: str, limits: ReadLimits) -> tuple:
    """``("ok", pages, title, marks)`` from ``documents.extract``, or ``("error", reason)`` whatever it raised."""
    from .documents import extract

    what = {"text": "text", "markdown": "Markdown"}.get(kind, kind.upper())
    try:
        pages, title, marks = extract(kind, data, path, limits.max_chars)
    except DocumentError as exc:
        return ("error", exc.reason)
    except MemoryError:
        return ("error", f"needs more than {limits.memory_mb} MB of memory to read (limit: {READ_MEMORY})")
    except RecursionError:
        return ("error", f"{what} nested too deeply to read")
    except Exception as exc:
        return ("error", f"unreadable {what} ({exc.__class__.__name__})")
    return ("ok", pages, title, marks)


def _cap(limits: ReadLimits) -> None:
    """Let this process's address space grow by at most ``memory_mb`` beyond what it maps now, and stop it
    (SIGXCPU) past the time limit in CPU seconds, should the server die and nobody be left to kill it."""
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    memory = mapped + limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    seconds = math.ceil(limits.timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file
