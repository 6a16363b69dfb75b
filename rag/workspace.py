"""The one object the front ends share: an index, its assistant and settings variants, the uploads folder.

The HTTP API, the web chat and the command line each hold a ``Workspace`` and call its methods; none
of them touches a lock. Answers run one at a time on the assistant's worker thread; ``upload`` and
``remove`` wait for the running answer (and hold the next off) while they change the index, so no
answer mixes passages of two index states. Readers never see a half-written index (generations are
published by renaming).

    >>> from rag.testing import tiny_workspace
    >>> ws = tiny_workspace()           # an index of two small documents, no language model
    >>> [d["doc_id"] for d in ws.documents()]
    ['harbour.txt', 'pillar.txt']
    >>> ws.search("When does the ferry leave?", k=1)[0].doc_id
    'harbour.txt'
    >>> answer = ws.ask("When does the ferry leave?")
    >>> answer.abstained, [c.doc_id for c in answer.citations]
    (False, ['harbour.txt'])
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .answer import Answer, AnswerStream, Assistant
from .config import MAX_UPLOAD_MB, MAX_WAITING, WAIT_TIMEOUT_S, AnswerSettings, ServerSettings
from .documents import SUPPORTED_SUFFIXES
from .errors import DocumentNotFoundError
from .generation import Generator
from .index import Index, IndexReport
from .retriever import Hit
from .uploads import store_uploads, unfinished_parts
from .worker import Worker

Progress = Any  # the index's progress callback: (label, total) -> advance(n)


@dataclass(frozen=True, kw_only=True)
class UploadResult:
    """What an upload did: the index report (None when no file could be stored) and one line per refusal."""

    report: IndexReport | None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``POST /v1/documents`` object: the index report with every problem, storing and reading."""
        data = self.report.to_dict() if self.report else {}
        return {**data, "problems": self.problems}


class Workspace:
    """An index and everything that answers from it. Cheap to build; ``warm_up()`` loads the models.

    ``answer`` sets the default ``AnswerSettings``; ``ask``/``stream`` take overrides (``k``, ``mode``,
    ``generator``), served by variants that share the index, the worker and (for the same model) the
    loaded model. ``uploads`` is where uploaded files are kept (default: ``uploads/`` beside the index).
    """

    def __init__(self, index: Index, answer: AnswerSettings | None = None, *, uploads: Path | str | None = None,
                 max_upload_mb: float = MAX_UPLOAD_MB, generator: Generator | None = None,
                 max_waiting: int | None = MAX_WAITING, wait_timeout_s: float | None = WAIT_TIMEOUT_S) -> None:
        self.index = index
        self.max_waiting = max_waiting
        # Answers wait in one bounded queue: past ``max_waiting`` a question is refused at once (BusyError, 429),
        # and one that waits longer than ``wait_timeout_s`` for those before it gets WaitTimeoutError.
        worker = Worker("rag-answers", max_waiting=max_waiting, wait_timeout=wait_timeout_s)
        self.assistant = Assistant(index, answer, generator, worker=worker)
        self.uploads = Path(uploads) if uploads else index.path.parent / "uploads"
        self.max_upload_mb = max_upload_mb
        self._variants: dict[tuple[tuple[str, Any], ...], Assistant] = {}
        self._variants_lock = threading.Lock()  # held only to read or fill the cache, never across work

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> Workspace:
        """The workspace a server runs: its index folder, answer settings and uploads."""
        return cls(Index(settings.index), settings.answer, uploads=settings.uploads_dir,
                   max_upload_mb=settings.max_upload_mb, max_waiting=settings.max_waiting,
                   wait_timeout_s=settings.wait_timeout_s)

    @property
    def settings(self) -> AnswerSettings:
        """The default answer settings."""
        return self.assistant.settings

    def warm_up(self) -> None:
        """Open the index and load the embedding and answer models now, not on the first question.

        What ``Assistant.warm_up`` loads, with the two models at once: the answer model, then the fixed
        prompts, on its own owner thread (its worker), while this thread loads the index and the embedder.
        The answer prompt is read last, so the model's context already holds it for the first question
        (restoring a saved prompt costs about 0.3 s). Safe to call many times and from several threads."""
        generator = self.assistant.generator
        failed: list[BaseException] = []

        def load_generator() -> None:
            try:  # both run on the generator's own worker: the model keeps its one owner
                generator.warm_up()
                generator.prime(self.assistant.system_prompts())
            except BaseException as exc:  # raised again on the calling thread, below
                failed.append(exc)

        loading = threading.Thread(target=load_generator, name="rag-warm-up", daemon=True)
        loading.start()
        try:
            self.assistant.retriever.warm_up()
        finally:  # after a Ctrl-C too: exiting while the answer model loads in native code can crash the exit
            loading.join()
        if failed:
            raise failed[0]

    def assistant_for(self, **changes: Any) -> Assistant:
        """The assistant with these settings changed (``None`` values are ignored); cached per change."""
        wanted = {k: v for k, v in changes.items() if v is not None and getattr(self.settings, k) != v}
        if not wanted:
            return self.assistant
        key = tuple(sorted(wanted.items()))
        with self._variants_lock:
            if key not in self._variants:
                self._variants[key] = self.assistant.with_settings(**wanted)
            return self._variants[key]

    def waiting(self) -> int:
        """Questions waiting for the model (not counting the one being answered)."""
        return self.assistant.waiting()

    # Reading: any number at once, beside a running answer.
    def search(self, query: str, k: int = 5, mode: str = "hybrid", doc_ids: Sequence[str] | None = None) -> list[Hit]:
        """The ``k`` passages that best match ``query``."""
        return self.assistant.retriever.search(query, k=k, mode=mode, doc_ids=doc_ids)

    def documents(self) -> list[dict[str, Any]]:
        """Every indexed document: id, title, source, chunks, size, when added."""
        return self.index.documents()

    def document(self, doc_id: str):
        """One document's row (text, title…), or None."""
        return self.index.document(doc_id)

    def answer_json(self, answer: Answer) -> dict[str, Any]:
        """The ``rag ask --json`` object: ``answer.to_dict()`` with each citation's and closest passage's
        ``location`` (``p. 3``, ``slide 4``, ``Sheet1, rows 2–9``, ``§ Heading``, or null).

        >>> from rag.testing import tiny_workspace
        >>> ws = tiny_workspace()
        >>> [c["location"] for c in ws.answer_json(ws.ask("When does the ferry leave?"))["citations"]]
        [None]
        """
        data = answer.to_dict()
        for item in (*data["citations"], *data["closest"]):
            item["location"] = self.index.locate(item["doc_id"], item["start"], item["end"])
        return data

    # Answers: one at a time, in order.
    def stream(self, question: str, history: Sequence[tuple[str, str]] = (), **changes: Any) -> AnswerStream:
        """A cited answer as it is written (``changes``: ``k``, ``mode``, ``generator``…)."""
        return self.assistant_for(**changes).stream(question, history)

    def ask(self, question: str, history: Sequence[tuple[str, str]] = (), **changes: Any) -> Answer:
        """A cited, verified answer, or an abstention."""
        return self.assistant_for(**changes).ask(question, history)

    # Changing the index: waits for the running answer.
    def upload(self, files: Iterable[str | Path], progress: Progress | None = None) -> UploadResult:
        """Store ``files`` under safe names in the uploads folder and index them. A refused file (type,
        size, name) is named in ``problems``; the others still go in."""
        stored, problems = store_uploads([str(f) for f in files], self.uploads, self.max_upload_mb)
        if not stored:
            return UploadResult(report=None, problems=problems)
        with self.assistant.exclusive():
            report = self.index.add(stored, progress=progress)
        self._drop_unindexed(stored)
        return UploadResult(report=report, problems=problems + report.problems)

    def refresh(self, folders: Sequence[Path]) -> IndexReport:
        """Bring the documents of ``folders`` in step with their files (``rag serve --watch``; ``Index.update``):
        new and changed files are indexed, and a document whose file under one of the folders is gone is removed;
        documents from elsewhere (uploads too) stay. Waits for the running answer, like ``upload``.

        >>> from rag.testing import tiny_workspace
        >>> ws = tiny_workspace()
        >>> docs = ws.index.path.parent / "documents"
        >>> _ = (docs / "pillar.txt").rename(docs / "pillar-2.txt")
        >>> report = ws.refresh([docs])
        >>> report.added, report.removed, report.embedded
        (['pillar-2.txt'], ['pillar.txt'], 0)
        """
        with self.assistant.exclusive():
            return self.index.update(folders)

    def resume_uploads(self, progress: Progress | None = None) -> IndexReport | None:
        """Finish what a killed server left: index the uploaded files the index does not hold (their
        upload was cut off while they were being indexed), drop half-copied ones. None when nothing was left.

        >>> from rag.testing import tiny_workspace
        >>> ws = tiny_workspace()
        >>> ws.uploads.mkdir(parents=True, exist_ok=True)
        >>> _ = (ws.uploads / "tides.txt").write_text("High tide is at 6:10 today.")
        >>> ws.resume_uploads().added, ws.resume_uploads()
        (['tides.txt'], None)
        """
        for part in unfinished_parts(self.uploads):
            part.unlink(missing_ok=True)
        if not self.uploads.is_dir():
            return None
        indexed = {Path(d["source"]).resolve() for d in self.documents()}
        pending = [p for p in sorted(self.uploads.iterdir()) if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in SUPPORTED_SUFFIXES and p.resolve() not in indexed]
        if not pending:
            return None
        with self.assistant.exclusive():
            report = self.index.add(pending, progress=progress)
        self._drop_unindexed(pending)
        return report

    def _drop_unindexed(self, stored: list[Path]) -> None:
        """Uploaded files the index could not read are named in the report's problems, and not kept."""
        indexed = {Path(d["source"]).resolve() for d in self.documents()}
        for path in stored:
            if path.resolve() not in indexed:
                path.unlink(missing_ok=True)

    def remove(self, doc_id: str) -> IndexReport:
        """Remove one document: from the index (its text from every kept generation, its vectors from the
        embedding cache) and, when it was uploaded here, its file from the uploads folder. A document indexed
        from a folder of the user's own keeps its file there: that is the user's, not ours."""
        with self.assistant.exclusive():
            row = self.index.document(doc_id)
            if row is None:
                raise DocumentNotFoundError(f"no document {doc_id!r} in the index (see GET /v1/documents)")
            report = self.index.remove([doc_id])
        source = Path(row.source)
        if source.is_file() and source.resolve().is_relative_to(self.uploads.resolve()):
            source.unlink()
        return report
