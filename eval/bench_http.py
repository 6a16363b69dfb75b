"""HTTP search benchmark: `POST /v1/search` latency under concurrent clients on loopback.

    .venv/bin/python eval/bench_http.py [--index index] [--clients 8] [--requests 50] [--mode hybrid] [--runs 1]

Starts `rag api` (extractive generator: no answer model is loaded, and search never waits for
answers anyway) on a free local port, warms it up, then runs `--clients` threads, each with its own
HTTP connection, each sending `--requests` searches (the development-set questions in turn) one
after another. Prints one JSON object: the machine, and per run the p50/p95/max latency and the
throughput. The request count is bounded; speed is measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

# eval/ installs as rag_eval through an editable-install import hook, which the type checker cannot follow
from rag_eval.processes import cpu_name, free_port, stop  # pyright: ignore[reportMissingImports]

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "tests/data/dev_questions.jsonl").open()]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def one_run(url: str, clients: int, requests: int, k: int, mode: str) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            start.wait()
            for i in range(requests):
                question = QUESTIONS[(n * requests + i) % len(QUESTIONS)]
                t = time.perf_counter()
                response = http.post("/v1/search", json={"query": question, "k": k, "mode": mode})
                elapsed = time.perf_counter() - t
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text[:100]}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    return {"requests": len(latencies), "errors": len(errors), "first_error": errors[0] if errors else None,
            "p50_ms": round(1000 * percentile(latencies, 50), 1), "p95_ms": round(1000 * percentile(latencies, 95), 1),
            "max_ms": round(1000 * max(latencies), 1), "mean_ms": round(1000 * statistics.mean(latencies), 1),
            "throughput_rps": round(len(latencies) / wall, 1), "wall_s": round(wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(Path(sys.executable).with_name("rag")), "api", "--generator", "extractive",
                             "--index", str(args.index), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.perf_counter()
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"rag api exited early: {proc.communicate()[1].strip()}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        ready_s = time.perf_counter() - t0
        with httpx.Client(base_url=url, timeout=60) as http:  # warm-up: first-request costs are not latency
            for question in QUESTIONS[:10]:
                http.post("/v1/search", json={"query": question, "k": args.k, "mode": args.mode})
        runs = [one_run(url, args.clients, args.requests, args.k, args.mode) for _ in range(args.runs)]
    finally:
        stop(proc)
    status = json.loads(subprocess.run([str(Path(sys.executable).with_name("rag")), "status", "--json", "--index",
                                        str(args.index)], capture_output=True, text=True).stdout or "{}")
    print(json.dumps({
        "machine": {"cpus": os.cpu_count(), "processor": cpu_name(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "index": {"documents": status.get("documents"), "chunks": status.get("chunks")},
        "setup": {"clients": args.clients, "requests_per_client": args.requests, "k": args.k, "mode": args.mode,
                  "server": "rag api (uvicorn, one process), loopback", "ready_s": round(ready_s, 1)},
        "runs": runs,
        "median_p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "median_p95_ms": statistics.median(r["p95_ms"] for r in runs),
        "median_throughput_rps": statistics.median(r["throughput_rps"] for r in runs),
    }, indent=2))


if __name__ == "__main__":
    main()
