"""The model's owner thread: streams read, closed or dropped from any thread never wedge it."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from rag.worker import Worker


def gated(started: threading.Event, gate: threading.Event, log: list[str]):
    """A job that yields one item, then waits for ``gate`` before each next one (a slow model)."""
    lock = threading.RLock()  # thread-owned, like llama-cpp-python's users used to hold across yields

    def make():
        with lock:
            try:
                yield "first"
                started.set()
                for n in range(50):
                    gate.wait(5)
                    yield f"more {n}"
                log.append("finished")
            finally:
                log.append("closed")
    return make


def test_items_come_in_order_and_errors_reach_the_reader():
    worker = Worker()
    assert list(worker.stream(lambda: iter(range(5)))) == [0, 1, 2, 3, 4]

    def fails():
        yield 1
        raise ValueError("bad input")

    feed = worker.stream(fails)
    assert next(feed) == 1
    with pytest.raises(ValueError, match="bad input"):
        next(feed)
    assert worker.call(max, 3, 7) == 7


def test_a_feed_read_on_one_thread_and_closed_on_another_frees_the_worker():
    worker, started, gate, log = Worker(), threading.Event(), threading.Event(), []
    feed = worker.stream(gated(started, gate, log))
    got = []
    reader = threading.Thread(target=lambda: got.append(next(feed)))
    reader.start()
    reader.join(5)
    assert got == ["first"]
    assert started.wait(5)
    closer = threading.Thread(target=feed.close)
    closer.start()
    closer.join(5)
    gate.set()
    assert worker.call(lambda: "next job") == "next job"  # would hang if the job kept the worker
    assert log == ["closed"]  # stopped early, cleaned up on the worker's own thread, no RuntimeError


def test_a_reader_waiting_behind_another_job_can_give_control_back_and_be_closed_from_another_thread():
    """Gradio stops a chat answer by closing its generator, which it can do only between yields: a reader
    blocked until its job's first item would hold every Stop behind it (it used to, for up to 60 s each)."""
    worker, started, gate, log = Worker(), threading.Event(), threading.Event(), []
    running = worker.stream(gated(started, gate, log))
    assert next(running) == "first"
    waiting = worker.stream(lambda: iter(["never"]))
    with pytest.raises(TimeoutError):
        waiting.get(timeout=0.05)  # nothing yet: the reader has its thread back
    ended = []
    reader = threading.Thread(target=lambda: ended.append(list(waiting)))  # blocks: the worker is busy
    reader.start()
    time.sleep(0.1)
    waiting.close()  # from this thread, while the reader waits in its own
    reader.join(5)
    assert not reader.is_alive() and ended == [[]]
    running.close()
    gate.set()
    assert worker.call(lambda: "next job") == "next job"


def test_a_feed_dropped_unread_is_cancelled():
    worker, started, gate, log = Worker(), threading.Event(), threading.Event(), []
    feed = worker.stream(gated(started, gate, log))
    assert next(feed) == "first"
    assert started.wait(5)
    del feed
    gc.collect()
    gate.set()
    assert worker.call(lambda: "next job") == "next job"
    assert log == ["closed"]


def test_a_job_whose_reader_left_before_it_started_is_skipped():
    worker, started, gate, log = Worker(), threading.Event(), threading.Event(), []
    running = worker.stream(gated(started, gate, log))
    assert next(running) == "first"
    ran = []
    queued = worker.stream(lambda: iter(ran.append("ran") or ["x"]))
    queued.close()
    running.close()
    gate.set()
    assert worker.call(lambda: 1) == 1
    assert ran == []


def test_busy_waits_for_the_running_job_and_holds_off_the_next():
    worker, started, gate, log = Worker(), threading.Event(), threading.Event(), []
    feed = worker.stream(gated(started, gate, log))
    next(feed)
    assert started.wait(5)
    assert not worker.busy().acquire(timeout=0.2)  # a job is running
    gate.set()
    assert list(feed)[-1] == "more 49"
    ran = []
    with worker.busy():  # now free; while held, a new job waits
        later = worker.stream(lambda: iter(ran.append("ran") or ["later"]))
        time.sleep(0.3)
        assert ran == []
    assert list(later) == ["later"]
    assert ran == ["ran"]


def test_calls_from_the_worker_thread_run_inline():
    worker = Worker()

    def nested():
        yield worker.call(lambda: "inner")  # would deadlock if it queued behind itself

    assert list(worker.stream(nested)) == ["inner"]


def test_past_its_bound_the_queue_refuses_at_once_and_a_long_wait_ends_in_an_error():
    from rag.errors import BusyError, WaitTimeoutError

    worker, started, gate, log = Worker(max_waiting=2, wait_timeout=0.5), threading.Event(), threading.Event(), []
    running = worker.stream(gated(started, gate, log))
    assert next(running) == "first"
    waiting = [worker.stream(lambda: iter(["a"])), worker.stream(lambda: iter(["b"]))]
    with pytest.raises(BusyError, match="2 questions are waiting"):
        worker.stream(lambda: iter(["c"]))
    waiting[0].close()  # a reader that left frees its place at once
    third = worker.stream(lambda: iter(["c"]))
    began = time.monotonic()
    with pytest.raises(WaitTimeoutError):
        next(third)  # the first job still holds the worker
    assert 0.3 < time.monotonic() - began < 5
    assert worker.pending() == 1  # the timed-out one gave its place back
    gate.set()
    assert list(running)[-1] == "more 49"
    assert list(waiting[1]) == ["b"]
    assert worker.call(lambda: "loading a model is not a question") == "loading a model is not a question"
