"""Web chat start-up benchmark: `rag serve` from launch until the page answers, then the first
question's first visible token and whole answer.

    .venv/bin/python eval/bench_serve.py [--runs 3] [--index index] [--question "..."] [--browser]

By default the question goes through `gradio_client` (polling for streamed updates); with
`--browser` a person is imitated in Debian's Chromium (Playwright): the question is typed 2 s after
the page has loaded, and the first token is the first text in the answer bubble.

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

# eval/ installs as rag_eval through an editable-install import hook, which the type checker cannot follow
from rag_eval.processes import free_port, stop  # pyright: ignore[reportMissingImports]

ROOT = Path(__file__).resolve().parent.parent


FIRST_TEXT = """(() => { const m = document.querySelectorAll('[data-testid=bot]');
    if (!m.length) return false; const t = m[m.length - 1].innerText.trim(); return t && t !== '…'; })()"""


def started(index: Path) -> tuple[subprocess.Popen, str, float]:
    """A fresh `rag serve`, its address, and the seconds until its page answered."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("rag")), "serve", "--index", str(index),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        if proc.poll() is not None:
            raise SystemExit("rag serve exited early; run it by hand to see why")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)


def browser_run(browser, index: Path, question: str) -> dict[str, float]:
    proc, url, ready = started(index)
    try:
        page = browser.new_page()
        page.goto(url)
        box = page.get_by_placeholder("Ask a question about the documents")
        box.wait_for()
        time.sleep(2)  # a person reads the page before typing
        box.fill(question)
        t1 = time.perf_counter()
        page.get_by_role("button", name="Ask", exact=True).click()
        page.wait_for_function(FIRST_TEXT, polling="raf", timeout=120_000)
        first = time.perf_counter() - t1
        page.wait_for_function("document.querySelectorAll('details.turn').length > 0", timeout=120_000)
        total = time.perf_counter() - t1
        page.close()
        return {"ready_s": round(ready, 2), "first_token_s": round(first, 2), "answer_s": round(total, 2)}
    finally:
        stop(proc)


def one_run(index: Path, question: str) -> dict[str, float]:
    from gradio_client import Client

    proc, url, ready = started(index)
    try:
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
    parser.add_argument("--browser", action="store_true", help="ask through Chromium, as a person would")
    args = parser.parse_args()
    if args.browser:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            runs = [browser_run(browser, args.index, args.question) for _ in range(args.runs)]
            browser.close()
    else:
        runs = [one_run(args.index, args.question) for _ in range(args.runs)]
    summary = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    print(json.dumps({"machine": platform.processor() or platform.machine(), "runs": runs, "median": summary},
                     indent=2))


if __name__ == "__main__":
    main()
