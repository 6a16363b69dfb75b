"""One owner thread and a queue: how a model (or a whole answer) is shared by many threads safely.

Web servers step a streaming generator on whatever thread is free and may drop it half-way (a
closed tab, a client that went away). A lock held across a ``yield`` of such a generator is then
released, or never released, from the wrong thread, and every later request waits forever. So
nothing here holds a lock across a ``yield`` of a generator that other threads drive: a job's
generator is created, advanced and closed on the worker's own thread; callers read its items from a
queue through a ``Feed``, a plain iterator that any thread may read, close, or simply drop.

    >>> worker = Worker("example")
    >>> feed = worker.stream(lambda: iter("abc"))
    >>> "".join(feed)
    'abc'
    >>> worker.call(sum, [1, 2, 3])
    6
    >>> def stops_early():
    ...     yield "first"
    ...     raise AssertionError("not reached: the reader closed the feed")
    >>> feed = worker.stream(stops_early)
    >>> next(feed)
    'first'
    >>> feed.close()          # cancels the job; the worker moves on to the next one
    >>> worker.call(len, "ok")
    2
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .errors import BusyError, WaitTimeoutError

T = TypeVar("T")
R = TypeVar("R")


class _End:
    """The last item of a job's queue: how it ended (``error`` is None on success)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class _Job:
    __slots__ = ("cancelled", "deadline", "make", "out", "started")

    def __init__(self, make: Callable[[], Iterator[Any]], wait_timeout: float | None = None) -> None:
        self.make = make
        self.out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.cancelled = threading.Event()
        self.started = threading.Event()
        self.deadline = None if wait_timeout is None else time.monotonic() + wait_timeout


class Feed(Generic[T]):
    """The items of one job, in order, as the worker produces them. Not a generator: reading it from
    any thread, closing it from another, or dropping it unread are all safe. ``close()`` (or garbage
    collection) cancels the job: the worker stops it at its next item and goes on with the queue."""

    def __init__(self, job: _Job) -> None:
        self._job = job
        self._ended = False
        self._finalizer = weakref.finalize(self, job.cancelled.set)

    def __iter__(self) -> Feed[T]:
        return self

    def __next__(self) -> T:
        return self.get()

    def get(self, timeout: float | None = None) -> T:
        """The next item; ``StopIteration`` at the end. With ``timeout``, ``TimeoutError`` when nothing
        came within that many seconds (the job goes on): how a reader that a web server drives gives
        control back now and then, so that it can be stopped while the worker is busy with another job.

        >>> worker = Worker("example-get")
        >>> with worker.busy():                       # the worker is busy elsewhere
        ...     feed = worker.stream(lambda: iter("a"))
        ...     try:
        ...         feed.get(timeout=0.01)
        ...     except TimeoutError:
        ...         print("nothing yet")
        nothing yet
        >>> feed.get(timeout=5), list(feed)
        ('a', [])
        """
        job = self._job
        until = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._ended:
                raise StopIteration
            queued = job.deadline is not None and not job.started.is_set()  # only so long may it wait
            limits = [t for t in (until, job.deadline if queued else None) if t is not None]
            try:
                item = job.out.get(timeout=max(0.0, min(limits) - time.monotonic()) if limits else None)
                break
            except queue.Empty:
                if queued and job.deadline is not None and time.monotonic() >= job.deadline \
                        and not job.started.is_set():
                    self.close()
                    raise WaitTimeoutError("waited too long for the questions before this one; "
                                           "ask again in a moment") from None
                if until is not None and time.monotonic() >= until:
                    raise TimeoutError(f"nothing new within {timeout} s") from None
        if isinstance(item, _End):
            self._ended = True
            self._finalizer.detach()
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the job (a stop button, a client that went away). Safe to call many times, from any
        thread; a reader blocked in another thread wakes up and finds the end."""
        if self._ended:
            return
        self._job.cancelled.set()
        self._ended = True
        self._job.out.put(_End(None))  # wakes a reader waiting for the next item


class Worker:
    """A daemon thread that runs jobs one at a time, in the order they were given.

    ``stream(make)`` runs the iterator ``make()`` on the worker and returns a ``Feed`` of its items;
    ``call(fn, ...)`` runs ``fn`` there and returns its result. Calls made *from* the worker thread run
    inline, so a job may use the same owner's other methods without deadlocking. ``busy()`` is held by
    the worker while a job runs; holding it elsewhere (``with worker.busy(): …``) waits for the running
    job and keeps the next from starting, in one thread and one ``with`` block, never across a ``yield``.
    """

    def __init__(self, name: str = "rag-worker", max_waiting: int | None = None,
                 wait_timeout: float | None = None) -> None:
        self.name = name
        self.max_waiting = max_waiting    # more jobs waiting than this: BusyError at once
        self.wait_timeout = wait_timeout  # a job not started after this many seconds: WaitTimeoutError
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._waiting: set[_Job] = set()
        self._waiting_lock = threading.Lock()  # guards the set only, never held while anything else runs
        self._busy = threading.Lock()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def busy(self) -> threading.Lock:
        """The lock the worker holds while it runs a job."""
        return self._busy

    def on_worker(self) -> bool:
        """Whether the calling thread is this worker's own."""
        return threading.current_thread() is self._thread

    def stream(self, make: Callable[[], Iterator[T]]) -> Iterator[T]:
        """Run ``make()`` on the worker; its items come through the returned ``Feed``."""
        if self.on_worker():
            return make()
        return self._submit(make)

    def _submit(self, make: Callable[[], Iterator[T]], bounded: bool = True) -> Feed[T]:
        job = _Job(make, self.wait_timeout if bounded else None)
        with self._waiting_lock:
            waiting = sum(not j.cancelled.is_set() for j in self._waiting)
            if bounded and self.max_waiting is not None and waiting >= self.max_waiting:
                raise BusyError(f"the assistant is busy: {waiting} questions are waiting; ask again in a moment")
            self._waiting.add(job)
        self._ensure_thread()
        self._jobs.put(job)
        return Feed(job)

    def call(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run ``fn(*args, **kwargs)`` on the worker and wait for its result (or exception)."""
        if self.on_worker():
            return fn(*args, **kwargs)

        def once() -> Iterator[R]:
            yield fn(*args, **kwargs)

        feed = self._submit(once, bounded=False)  # loading and priming the model are not questions
        try:
            return next(feed)
        finally:
            feed.close()

    def pending(self) -> int:
        """Jobs waiting for the worker whose readers are still there (not counting the one it runs)."""
        with self._waiting_lock:
            return sum(not j.cancelled.is_set() for j in self._waiting)

    def _ensure_thread(self) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            with self._waiting_lock:
                self._waiting.discard(job)
                if not job.cancelled.is_set():
                    job.started.set()  # under the lock, so a reader timing out now sees it or cancels first
            if job.cancelled.is_set():  # its reader left (or gave up) while it waited
                job.out.put(_End(None))
                continue
            with self._busy:
                job.out.put(_End(self._run(job)))

    @staticmethod
    def _run(job: _Job) -> BaseException | None:
        items = None
        try:
            items = job.make()
            for item in items:
                job.out.put(item)
                if job.cancelled.is_set():
                    break
            return None
        except BaseException as exc:  # handed to the reader, who raises it in its own thread
            return exc
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # on this thread: the job's own finally blocks run where it began;
                with contextlib.suppress(Exception):  # a failing cleanup must not stop the worker
                    close()
