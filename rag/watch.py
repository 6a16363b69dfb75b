"""A watched folder: the index kept in step with folders as files are added, changed, renamed or deleted
(``rag index --watch``, ``rag serve --watch``).

File events come from watchfiles (the Rust ``notify`` crate: inotify on Linux, FSEvents, ReadDirectoryChangesW).
A burst of events (an editor's save, a folder copied in) is gathered until the folders have been quiet for
``step_ms`` (at most ``debounce_ms``); then the changed files must keep their size and modification time for
``settle_s`` (a file still being written is not read half-way), and one pass of the index's own incremental
update runs: unchanged files are skipped by content hash and known texts are not embedded again, so a rename
costs no embedding. A file that changed again while it was read is read once more. Each change is one line in
the log (``added:``, ``updated:``, ``renamed: a -> b``, ``removed:``, ``skipped:`` with the reason). Nothing here
writes the index: the ``sync`` it is given does, as ``rag index`` would, so a write is never half-visible.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path

from .documents import SUPPORTED_SUFFIXES
from .errors import ConfigError, IndexNotFoundError, RagError
from .index import Index, IndexReport

STEP_MS = 300  # quiet time that ends a burst of events
DEBOUNCE_MS = 2000  # longest a burst is gathered before it is handled
SETTLE_S = 0.5  # a changed file keeps its size and mtime this long before it is read
SETTLE_MAX_S = 30.0  # a file still growing after this is read anyway (its next change brings it up to date)
RETRIES = 3  # passes over files that changed while they were being read

Log = Callable[[str], None]


def stamped(echo: Callable[[str], object]) -> Log:
    """A log that puts the time before each line (``11:02:07 added: notes/a.docx``)."""
    def log(line: str) -> None:
        echo(f"{datetime.now():%H:%M:%S} {line}")
    return log


class Watcher:
    """Keeps ``index`` in step with the folders ``roots``: ``run`` passes ``sync`` once, then after each burst.

    ``sync`` (default ``index.sync(roots)``: the index mirrors the folders) is one incremental update; it is
    called from the watching thread only.

    >>> from rag.testing import FakeEmbedder, tiny_documents
    >>> docs = tiny_documents()
    >>> index = Index(docs.parent / "index", embedder=FakeEmbedder())
    >>> lines = []
    >>> Watcher(index, [docs], log=lines.append).pass_once()
    >>> lines
    ['added: harbour.txt', 'added: pillar.txt']
    """

    def __init__(self, index: Index, roots: Sequence[Path | str], sync: Callable[[], IndexReport] | None = None,
                 log: Log = print, *, settle_s: float = SETTLE_S, step_ms: int = STEP_MS,
                 debounce_ms: int = DEBOUNCE_MS) -> None:
        self.index = index
        self.roots = [Path(r) for r in roots]
        self.sync = sync or (lambda: index.sync(self.roots))
        self.log = log
        self.settle_s, self.step_ms, self.debounce_ms = settle_s, step_ms, debounce_ms
        self._said: set[str] = set()  # problems already logged: a file still unreadable is not named each pass
        self._default_filter: Callable[[object, str], bool] | None = None

    def run(self, stop: threading.Event | None = None, ready: Callable[[], object] | None = None) -> None:
        """Bring the index in step, then keep it so until ``stop`` is set (Ctrl-C raises ``KeyboardInterrupt``
        between two passes or inside one: a write in progress is then not published, the index stays as it was).
        ``ready`` is called once the first pass is done and changes are being watched."""
        from watchfiles import watch

        events = watch(*self.roots, watch_filter=self._wanted, debounce=self.debounce_ms, step=self.step_ms,
                       stop_event=stop, yield_on_timeout=True, rust_timeout=1000, raise_interrupt=True)
        first = True
        for changes in events:  # the watcher starts before the first pass: nothing changed during it is missed
            if first:
                first = False
                self.pass_once()
                if ready is not None:
                    ready()
            elif changes:
                self.pass_once({Path(path) for _, path in changes})

    def pass_once(self, changed: Iterable[Path] = ()) -> None:
        """One update after ``changed`` files have settled; again while some changed during it."""
        pending = {p for p in changed if p.is_file()}
        for _ in range(RETRIES):
            seen = self._settled(pending)
            self._update()
            pending = {p for p, stat in seen.items() if _stat(p) != stat}  # written to while it was read
            if not pending:
                return

    def _update(self) -> None:
        before = self._documents()
        try:
            report = self.sync()
        except RagError as exc:  # a full disk, a store gone: say so and keep watching
            self.log(f"error: {exc}")
            return
        except Exception as exc:  # whatever else: one line, and the next change is tried again
            self.log(f"error: the index was not updated ({type(exc).__name__}: {exc})")
            return
        for line in change_lines(report, before, self._documents()):
            self.log(line)
        problems = set(report.problems)
        for problem in sorted(problems - self._said):
            self.log(f"skipped: {problem}")
        self._said = problems

    def _documents(self) -> dict[str, str]:
        """doc_id -> sha256 of what the index holds now."""
        try:
            return {d["doc_id"]: d["sha256"] for d in self.index.documents()}
        except IndexNotFoundError:
            return {}

    def _settled(self, paths: set[Path]) -> dict[Path, tuple[int, int] | None]:
        """Wait until none of ``paths`` changes size or modification time for ``settle_s``; their stats then."""
        stats = {p: _stat(p) for p in paths}
        deadline = time.monotonic() + SETTLE_MAX_S
        while stats and time.monotonic() < deadline:
            time.sleep(self.settle_s)
            now = {p: _stat(p) for p in paths}
            if now == stats:
                break
            stats = now
        return stats

    def _wanted(self, change: object, path: str) -> bool:
        """A document's file (or a folder, which may hold some), not hidden and not in the index folder."""
        if self._default_filter is None:
            from watchfiles import DefaultFilter

            self._default_filter = DefaultFilter()  # type: ignore[assignment]  # editors' swap files, .git, caches
        if not self._default_filter(change, path):  # type: ignore[misc]
            return False
        where = Path(path)
        if where.is_relative_to(self.index.path.resolve()) or where.is_relative_to(self.index.path.absolute()):
            return False
        for root in self.roots:
            for base in (root.resolve(), root.absolute()):
                if where.is_relative_to(base):
                    parts = where.relative_to(base).parts
                    return not any(part.startswith(".") for part in parts) and (
                        where.suffix.lower() in SUPPORTED_SUFFIXES or not where.suffix or where.is_dir())
        return True


def change_lines(report: IndexReport, before: dict[str, str], after: dict[str, str]) -> list[str]:
    """One line per document added, updated, renamed (removed and added with the same content) or removed.

    >>> report = IndexReport(added=["b.txt", "c.txt"], updated=["d.txt"], removed=["a.txt"])
    >>> change_lines(report, {"a.txt": "1", "d.txt": "2"}, {"b.txt": "1", "c.txt": "3", "d.txt": "4"})
    ['renamed: a.txt -> b.txt', 'added: c.txt', 'updated: d.txt']
    """
    added, removed = list(report.added), list(report.removed)
    lines = []
    for old in list(removed):
        new = next((d for d in added if after.get(d) is not None and after.get(d) == before.get(old)), None)
        if new is not None:
            lines.append(f"renamed: {old} -> {new}")
            added.remove(new)
            removed.remove(old)
    return (lines + [f"added: {d}" for d in added] + [f"updated: {d}" for d in report.updated]
            + [f"removed: {d}" for d in removed])


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def watch_folders(index: Index, roots: Sequence[Path], *, rebuild: bool = False, prune: bool = False,
                  as_json: bool = False, echo: Callable[[str], object] = print) -> None:
    """``rag index --watch``: mirror the folders ``roots`` into ``index`` now, then at each change, a timed line
    per change on ``echo``, until Ctrl-C (which ends it quietly). ``rebuild`` and ``prune`` apply to the first pass.

    Raises ``ConfigError`` for a path that is not a folder, or with ``as_json`` (a log has no one JSON report).
    """
    if as_json:
        raise ConfigError("--watch writes a log line per change; it has no JSON report (leave out --json)")
    for root in roots:
        if not root.is_dir():
            raise ConfigError(f"--watch keeps folders in step; {root} is {'a file' if root.exists() else 'missing'}")
    first = [True]

    def sync() -> IndexReport:
        once, first[0] = first[0], False
        return index.sync(roots, rebuild=rebuild and once, prune=prune and once)

    watcher = Watcher(index, roots, sync, stamped(echo))
    where = ", ".join(map(str, roots))
    try:
        watcher.run(ready=lambda: echo(f"watching {where} for changes; the index is {index.path} (Ctrl-C stops)"))
    except KeyboardInterrupt:
        echo("stopped watching; the index holds the last complete update")
