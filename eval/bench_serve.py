"""Web chat start-up benchmark: `rag serve` from launch until the page answers, then the first
question's first visible token and whole answer over HTTP, as a browser would get them.

    .venv/bin/python eval/bench_serve.py [--runs 3] [--index index] [--question "..."]

Each run starts a fresh `rag serve` process on a free port (an existing index, models from the page
cache), so it includes Python start-up, the torch import, loading both models and priming the
prompts. Prints one JSON summary with every run and the medians. Speed is measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from eval.processes import free_port, stop

ROOT = Path(__file__).resolve().parent.parent


def one_run(index: Path, question: str) -> dict[str, float]:
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("rag")), "serve", "--index", str(index),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit("rag serve exited early; run it by hand to see why")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        ready = time.perf_counter() - t0
        client = Client(url, verbose=False)
        t1 = time.perf_counter()
        job = client.submit(question, [], 5, "hybrid", "llama", api_name="/respond")
        first = None
        while not job.done():
            for update in job.outputs():
                reply = update[1][-1]["content"] if update[1] else ""
                reply = reply[0]["text"] if isinstance(reply, list) else reply
                if first is None and reply.strip("… "):
                    first = time.perf_counter() - t1
            time.sleep(0.02)
        job.result()
        total = time.perf_counter() - t1
        return {"ready_s": round(ready, 2), "first_token_s": round(first or total, 2), "answer_s": round(total, 2)}
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--question", default="Which countries could join AUKUS Pillar 2?")
    args = parser.parse_args()
    runs = [one_run(args.index, args.question) for _ in range(args.runs)]
    summary = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    print(json.dumps({"machine": platform.processor() or platform.machine(), "runs": runs, "median": summary},
                     indent=2))


if __name__ == "__main__":
    main()
