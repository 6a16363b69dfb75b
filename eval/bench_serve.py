"""Web chat start-up benchmark: `rag serve` from launch until the page answers, then the first
question's first visible token and whole answer.

    .venv/bin/python eval/bench_serve.py [--runs 3] [--index index] [--question "..."] [--browser]
                                         [--baseline DIR ...]

By default the question goes through `gradio_client` (polling for streamed updates); with
`--browser` a person is imitated in Debian's Chromium (Playwright): the question is typed 2 s after
the page has loaded, and the first token is the first text in the answer bubble.

Each run starts a fresh `rag serve` process on a free port (an existing index, models from the page
cache), so it includes Python start-up, the imports, loading both models and priming the prompts.

`ready_s` is launch until `GET /` answers. That is "a question can be answered end to end" because
`rag serve` listens only once the index, both models and the primed prompts are loaded (ui/cli.py):
the question asked then waits for nothing but its own answer (`first_token_s`, `answer_s`, counted
from when it is asked). `load1` is the machine's 1-minute load average when the run started: on a
shared machine, compare runs at similar loads.

`--baseline DIR` (a checkout of another commit, e.g. `git worktree add /tmp/old <commit>`; may be
given more than once) interleaves runs of that code (its `rag`, `ui` and `eval` first on the import
path, the same venv) with runs of this one, so all see the same machine load; the summary has each
one's medians. Prints one JSON summary with every run and the medians. Speed is measured, never
asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# eval/ installs as rag_eval through an editable-install import hook, which the type checker cannot follow
from rag_eval.processes import cpu_name, free_port, stop  # pyright: ignore[reportMissingImports]

ROOT = Path(__file__).resolve().parent.parent


FIRST_TEXT = """(() => { const m = document.querySelectorAll('[data-testid=bot]');
    if (!m.length) return false; const t = m[m.length - 1].innerText.trim(); return t && t !== '…'; })()"""


def started(index: Path, code: Path | None = None) -> tuple[subprocess.Popen, str, float]:
    """A fresh `rag serve` (of the checkout ``code``, else this one), its address, and the seconds until its
    page answered."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "PYTHONPATH": str(_importable(code))} if code else None
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("rag")), "serve", "--index", str(index),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    while True:
        if proc.poll() is not None:
            raise SystemExit("rag serve exited early; run it by hand to see why")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)


def _importable(code: Path) -> Path:
    """A folder that puts the checkout ``code`` first on the import path under the installed names: ``rag``,
    and ``rag_ui`` and ``rag_eval`` (its ``ui`` and ``eval``, which the editable install maps to this tree)."""
    digest = hashlib.sha256(str(code.resolve()).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"bench-serve-{digest}"
    folder.mkdir(exist_ok=True)
    for name, part in (("rag", "rag"), ("rag_ui", "ui"), ("rag_eval", "eval")):
        link = folder / name
        if not link.is_symlink():
            link.symlink_to(code.resolve() / part, target_is_directory=True)
    return folder


def browser_run(browser, index: Path, question: str, code: Path | None = None) -> dict[str, float]:
    load1 = round(os.getloadavg()[0], 2)
    proc, url, ready = started(index, code)
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
        return {"ready_s": round(ready, 2), "first_token_s": round(first, 2), "answer_s": round(total, 2),
                "load1": load1}
    finally:
        stop(proc)


def one_run(index: Path, question: str, code: Path | None = None) -> dict[str, float]:
    from gradio_client import Client

    load1 = round(os.getloadavg()[0], 2)
    proc, url, ready = started(index, code)
    try:
        client = Client(url, verbose=False)
        t1 = time.perf_counter()
        job = client.submit(question, [], 5, "hybrid", "llama", api_name="/respond")
        first = None
        while not job.done():
            for update in job.outputs():
                if not isinstance(update[1], list):  # gr.skip(): a tick while the answer waits or is verified
                    continue
                reply = update[1][-1]["content"] if update[1] else ""
                reply = reply[0]["text"] if isinstance(reply, list) else reply
                if first is None and reply.strip("… "):
                    first = time.perf_counter() - t1
            time.sleep(0.02)
        job.result()
        total = time.perf_counter() - t1
        return {"ready_s": round(ready, 2), "first_token_s": round(first or total, 2), "answer_s": round(total, 2),
                "load1": load1}
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--question", default="Which countries could join AUKUS Pillar 2?")
    parser.add_argument("--browser", action="store_true", help="ask through Chromium, as a person would")
    parser.add_argument("--baseline", type=Path, action="append", default=[], metavar="DIR",
                        help="a checkout of other code whose runs alternate with this code's (repeatable)")
    args = parser.parse_args()
    codes: list[Path | None] = [*args.baseline, None]
    runs: dict[Path | None, list[dict[str, float]]] = {code: [] for code in codes}
    if args.browser:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            for _ in range(args.runs):
                for code in codes:
                    runs[code].append(browser_run(browser, args.index, args.question, code))
            browser.close()
    else:
        for _ in range(args.runs):
            for code in codes:
                runs[code].append(one_run(args.index, args.question, code))
    report = {"machine": cpu_name(), "cores": os.cpu_count(), "runs": runs[None], "median": median(runs[None])}
    if args.baseline:
        report["baselines"] = {str(code): {"runs": runs[code], "median": median(runs[code])}
                               for code in args.baseline}
    print(json.dumps(report, indent=2))


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each measure's median over ``runs``."""
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


if __name__ == "__main__":
    main()
