"""Load benchmark: web chat sessions and API clients at once against a real `rag serve` (issue 14, item 1).

    .venv/bin/python eval/bench_load.py [--minutes 10] [--chat-users 16] [--api-users 32] [--max-waiting 8]
        [--wait-timeout 120] [--index index] [--generator llama] [--out eval/runs/load-DATE]

Starts `rag serve` (the bundled embedding and answer models unless told otherwise) on a free local port,
measures idle search latency, asks one warm-up question, then runs locust headless in ONE process
(`eval/locustfile.py`: `--chat-users` sessions speaking the web chat's Gradio queue protocol, `--api-users`
clients mixing /v1/search, /v1/documents and /v1/ask plain and streamed) for `--minutes`. When the time is
up, no new request starts and every request already made is waited for (up to `--stop-timeout`), so a
request without a response is the server's doing. Then idle searches again, and the server is stopped.

Writes `report.json` (and the raw `records.json`, `server.log`, `locust.log`) to `--out`, prints a markdown
table, and exits 1 when the run broke a rule: a 5xx other than the deliberate wait timeout, a request without
a response, an error inside a stream, a chat session that never got an answer, the server's memory growing by
more than 10 % from the start of the load to its end, an error in the server's log, or searches as slow as
answers (they must not wait behind them). 429s (the answer queue or the chat's queue full) and 503s whose
type is WaitTimeoutError are the bounded queue refusing on purpose: counted, never errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

# eval/ installs as rag_eval through an editable-install import hook, which the type checker cannot follow
from rag_eval.processes import cpu_name, free_port, stop, wait_until_up  # pyright: ignore[reportMissingImports]

ROOT = Path(__file__).resolve().parent.parent
# What the users ask and search for: the gold set's questions (17 of 70 unanswerable) and the development set's.
QUESTIONS = [json.loads(line)["question"] for path in (ROOT / "eval/gold/aukus.jsonl",
                                                       ROOT / "tests/data/dev_questions.jsonl")
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
HTTP_KINDS = ("chat_config", "chat", "chat_stream", "search", "documents", "ask", "ask_stream")
ANSWERED = ("answered", "abstained")
MAX_RSS_GROWTH = 0.10
TICK = os.sysconf("SC_CLK_TCK")


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def spread(values: Iterable[float | None]) -> dict[str, Any]:
    """``n``, p50, p95 and max of the values given (None values left out), rounded to the millisecond."""
    kept = [v for v in values if v is not None]
    rounded = {name: (round(v, 3) if (v := percentile(kept, p)) is not None else None)
               for name, p in (("p50", 50), ("p95", 95), ("max", 100))}
    return {"n": len(kept), **rounded}


def summarize(records: list[dict[str, Any]], chat_users: int) -> dict[str, Any]:
    """The figures of one run from the locust users' records (see eval/locustfile.py)."""
    http = [r for r in records if r["kind"] in HTTP_KINDS]
    by_status: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    no_response, server_errors, stream_errors, other_errors = [], [], [], []
    deliberate: Counter[str] = Counter()
    for r in http:
        status = r["status"] or 0
        # A chat record's status is its join's; a broken answer stream is its chat_stream record's to count.
        lost = r["outcome"] == "unfinished" or (r["outcome"] == "dropped" and r["kind"] != "chat")
        label = "no response" if not status or lost else str(status)
        by_status[label] += 1
        by_kind[r["kind"]][label] += 1
        if label == "no response":
            no_response.append(r)
        elif status >= 500:
            (deliberate.update(["503 wait timeout"]) if r["outcome"] == "wait_timeout" else server_errors.append(r))
        elif status == 429:
            deliberate.update(["429 chat queue full" if r["kind"] == "chat" else "429 answer queue full"])
        elif status >= 400:
            other_errors.append(r)
        elif r["outcome"] == "error":
            stream_errors.append(r)
        elif r["outcome"] == "wait_timeout":  # after a 200: the stream's error event, or the chat's message
            deliberate.update([f"{r['kind']}: wait timeout in the stream"])
        elif r["outcome"] == "busy" and r["kind"] == "chat":
            deliberate.update(["chat: answer queue full (message in the chat)"])
    chats = [r for r in records if r["kind"] == "chat"]
    sessions = sorted({r["user"] for r in chats})
    answers = {s: sum(r["user"] == s and r["outcome"] in ANSWERED for r in chats) for s in sessions}
    asks = [r for r in records if r["kind"] in ("ask", "ask_stream") and r["outcome"] in ANSWERED]
    waits = [r["latency_s"] - r["server_total_s"] for r in asks if r.get("server_total_s") is not None]
    searches = [r["latency_s"] for r in records if r["kind"] == "search" and r["outcome"] == "ok"]
    return {
        "answers": len(asks) + sum(r["outcome"] in ANSWERED for r in chats),
        "requests": {"total": len(http), "responses": len(http) - len(no_response), "no_response": len(no_response),
                     "by_status": dict(sorted(by_status.items())),
                     "by_kind": {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
                     "deliberate_refusals": dict(deliberate),
                     "server_errors": len(server_errors), "stream_errors": len(stream_errors),
                     "other_4xx": len(other_errors),
                     "examples": [{k: r.get(k) for k in ("kind", "status", "outcome", "error")}
                                  for r in (server_errors + no_response + stream_errors + other_errors)[:10]]},
        "chat": {"sessions": len(sessions), "expected_sessions": chat_users, "questions": len(chats),
                 "outcomes": dict(Counter(r["outcome"] for r in chats)),
                 "answers_per_session": answers,
                 "gradio_queue_wait_s": spread(r.get("gradio_wait_s") for r in chats if r["outcome"] in ANSWERED),
                 "ttft_s": spread(r.get("ttft_s") for r in chats if r["outcome"] in ANSWERED),
                 "answer_s": spread(r["latency_s"] for r in chats if r["outcome"] in ANSWERED)},
        "api_ask": {"asked": sum(r["kind"] in ("ask", "ask_stream") for r in records),
                    "outcomes": dict(Counter(f"{r['kind']}: {r['outcome']}" for r in records
                                             if r["kind"] in ("ask", "ask_stream"))),
                    "queue_wait_s": spread(waits),
                    "ttft_s": spread(r.get("ttft_s") for r in asks if r["kind"] == "ask_stream"),
                    "server_ttft_s": spread(r.get("server_ttft_s") for r in asks),
                    "server_answer_s": spread(r.get("server_total_s") for r in asks),
                    "answer_s": spread(r["latency_s"] for r in asks)},
        "search": {"load": spread(searches),
                   "beside_streaming_answer": spread(r["latency_s"] for r in records if r["kind"] == "search"
                                                     and r["outcome"] == "ok" and r.get("beside_answer"))},
        "documents": spread(r["latency_s"] for r in records if r["kind"] == "documents" and r["outcome"] == "ok"),
    }


def verdict(report: dict[str, Any]) -> list[str]:
    """What broke the benchmark's rules, one line each (empty: the run passed)."""
    problems = []
    requests = report["requests"]
    if requests["server_errors"]:
        problems.append(f"{requests['server_errors']} 5xx responses other than the deliberate wait timeout")
    if requests["no_response"]:
        problems.append(f"{requests['no_response']} requests got no response (dropped or unfinished)")
    if requests["stream_errors"]:
        problems.append(f"{requests['stream_errors']} errors inside a 200 stream (an answer failed)")
    if requests["other_4xx"]:
        problems.append(f"{requests['other_4xx']} unexpected 4xx responses")
    chat = report["chat"]
    lonely = [s for s, n in chat["answers_per_session"].items() if n == 0]
    lonely += ["(never asked)"] * max(0, chat["expected_sessions"] - chat["sessions"])
    if lonely:
        problems.append(f"{len(lonely)} chat sessions without an answer")
    server = report.get("server", {})
    if server.get("rss_growth") is not None and server["rss_growth"] > MAX_RSS_GROWTH:
        problems.append(f"server memory grew {100 * server['rss_growth']:.1f} % during the load "
                        f"(over {100 * MAX_RSS_GROWTH:.0f} %)")
    if server.get("log_errors"):
        problems.append(f"{len(server['log_errors'])} error lines in the server's log")
    search_p95, answer_p50 = report["search"]["load"]["p95"], report["api_ask"]["server_answer_s"]["p50"]
    if search_p95 is not None and answer_p50 is not None and search_p95 >= answer_p50:
        problems.append(f"search p95 {search_p95} s under load is as slow as an answer ({answer_p50} s): "
                        "searches waited behind answers?")
    return problems


class Sampler(threading.Thread):
    """Every few seconds: the server's resident memory, and CPU seconds of the machine, the server and locust."""

    def __init__(self, server: int, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.server, self.every = server, every
        self.locust: int | None = None
        self.rss_mb: list[tuple[float, float]] = []
        self.cpu: dict[str, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every):
            self.sample()

    def sample(self) -> None:
        rss = rss_mb(self.server)
        if rss is not None:
            self.rss_mb.append((time.time(), rss))
        if self.locust is not None and (locust := cpu_seconds(self.locust)) is not None:
            self.cpu["locust"] = locust

    def finish(self) -> None:
        self._halt.set()
        self.join()


def rss_mb(pid: int) -> float | None:
    """A process's resident memory in MB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds a process has used (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def idle_searches(url: str, n: int, seed: int) -> list[float]:
    """``n`` searches one after another from one client, with the load's mix of queries, k and modes."""
    rng = random.Random(seed)
    latencies = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(n):
            body = {"query": rng.choice(QUESTIONS), "k": rng.choice([3, 5, 10]),
                    "mode": rng.choice(["hybrid", "hybrid", "dense", "bm25"])}
            t = time.perf_counter()
            response = http.post("/v1/search", json=body)
            latencies.append(time.perf_counter() - t)
            response.raise_for_status()
    return latencies


def warm_up(url: str, generator: str) -> float:
    """One question through the API and one through the chat (the first of each allocates what later ones
    reuse: the start of the load is measured from a warm server); their seconds."""
    t = time.perf_counter()
    with httpx.Client(base_url=url, timeout=600) as http:
        http.post("/v1/ask", json={"question": "Which countries could join AUKUS Pillar 2?"}).raise_for_status()
        respond = next(d for d in http.get("/config").json()["dependencies"] if d.get("api_name") == "respond")
        session = f"warm-up-{os.getpid()}"
        http.post("/gradio_api/queue/join", json={
            "data": ["Who said New Zealand was still a long way from deciding?", [], None, 5, "hybrid", generator],
            "fn_index": respond["id"], "trigger_id": respond["targets"][0][0], "session_hash": session,
            "event_data": None}).raise_for_status()
        with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as events:
            for line in events.iter_lines():
                if '"msg":"process_completed"' in line.replace(" ", ""):
                    break
    return time.perf_counter() - t


def second_half_growth(samples: list[tuple[float, float]], start: float, end: float) -> float | None:
    """Memory growth from the middle of the load to its end: warming up is over by then, a leak is not."""
    middle = start + (end - start) / 2
    later = [rss for t, rss in samples if t >= middle]
    return round(later[-1] / later[0] - 1, 4) if len(later) >= 2 else None


def log_errors(log: Path) -> list[str]:
    """Lines of the server's log that say something failed."""
    words = ("Traceback", "ERROR", "Exception", "exception")
    return [line[:200] for line in log.read_text(errors="replace").splitlines() if any(w in line for w in words)]


def utc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def table(report: dict[str, Any]) -> str:
    """The report as a markdown table."""
    def ms(s: dict[str, Any]) -> str:
        if not s["n"]:
            return "-"
        return f"{1000 * s['p50']:.0f} / {1000 * s['p95']:.0f} ms (max {1000 * s['max']:.0f}, n={s['n']})"

    def sec(s: dict[str, Any]) -> str:
        return f"{s['p50']:.1f} / {s['p95']:.1f} s (max {s['max']:.1f}, n={s['n']})" if s["n"] else "-"

    setup, requests, chat, ask = report["setup"], report["requests"], report["chat"], report["api_ask"]
    server, search, machine = report["server"], report["search"], report["machine"]
    per_session = list(chat["answers_per_session"].values())
    rows = [
        ("machine", f"{machine['cpu']}, {machine['cpus']} cores (lscpu model name: {machine['lscpu_model']})"),
        ("load window (UTC)", f"{report['times']['load_start']} → {report['times']['load_end']} "
                              f"({report['times']['load_s']:.0f} s incl. draining)"),
        ("users", f"{setup['chat_users']} chat sessions + {setup['api_users']} API clients, one locust process "
                  f"({report['locust']['cpu_s']:.0f} CPU-s = {100 * report['locust']['cpu_share']:.1f} % of one core)"),
        ("server", f"rag serve, generator {setup['generator']}, --max-waiting {setup['max_waiting']}, "
                   f"--wait-timeout {setup['wait_timeout']} s; CPU {server['cpu_s']:.0f} s; "
                   f"other processes {report['other_cpu_s']:.0f} CPU-s"),
        ("requests (HTTP)", f"{requests['total']}: {requests['responses']} answered with a status, "
                            f"{requests['no_response']} without"),
        ("by status", ", ".join(f"{k}: {v}" for k, v in requests["by_status"].items())),
        ("deliberate refusals", ", ".join(f"{k}: {v}" for k, v in requests["deliberate_refusals"].items()) or "none"),
        ("5xx not deliberate / stream errors / other 4xx",
         f"{requests['server_errors']} / {requests['stream_errors']} / {requests['other_4xx']}"),
        ("chat questions", f"{chat['questions']} asked: " + ", ".join(f"{k} {v}" for k, v in chat["outcomes"].items())),
        ("chat answers per session", f"min {min(per_session, default=0)}, max {max(per_session, default=0)} over "
                                     f"{chat['sessions']} sessions"),
        ("chat: wait in the chat's queue p50 / p95", sec(chat["gradio_queue_wait_s"])),
        ("chat: time to first token p50 / p95", sec(chat["ttft_s"])),
        ("chat: whole answer p50 / p95", sec(chat["answer_s"])),
        ("answers written (API + chat)", f"{report['answers']} "
                                         f"({60 * report['answers'] / report['times']['load_s']:.1f} a minute)"),
        ("API asks", f"{ask['asked']}: " + ", ".join(f"{k} {v}" for k, v in sorted(ask["outcomes"].items()))),
        ("API ask: queue wait p50 / p95", sec(ask["queue_wait_s"])),
        ("API ask (stream): time to first token p50 / p95", sec(ask["ttft_s"])),
        ("answer itself (server): first token / whole p50", f"{ask['server_ttft_s']['p50']} / "
                                                             f"{ask['server_answer_s']['p50']} s"),
        ("search idle (before) p50 / p95", ms(search["idle_before"])),
        ("search under load p50 / p95", ms(search["load"])),
        ("search made while an answer streamed p50 / p95", ms(search["beside_streaming_answer"])),
        ("search idle (after) p50 / p95", ms(search["idle_after"])),
        ("GET /v1/documents under load p50 / p95", ms(report["documents"])),
        ("server RSS ready / start / end (peak)", f"{server['rss_ready_mb']:.0f} / {server['rss_start_mb']:.0f} / "
                                                  f"{server['rss_end_mb']:.0f} MB ({server['rss_peak_mb']:.0f}); "
                                                  f"growth {100 * server['rss_growth']:+.1f} % "
                                                  f"({100 * (server['rss_growth_second_half'] or 0):+.1f} % over "
                                                  "the second half)"),
        ("verdict", "PASS" if not report["problems"] else "FAIL: " + "; ".join(report["problems"])),
    ]
    return "\n".join(["| figure | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])


def git(*args: str) -> str:
    """What git says about the checkout the server ran from ('' without git)."""
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def lscpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return "?"
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")


def main() -> None:
    """Run the benchmark (see the module docstring); exit status 1 when it broke a rule."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--chat-users", type=int, default=16)
    parser.add_argument("--api-users", type=int, default=32)
    parser.add_argument("--max-waiting", type=int, default=8, help="rag serve --max-waiting")
    parser.add_argument("--wait-timeout", type=float, default=120, help="rag serve --wait-timeout (seconds)")
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--generator", default="llama")
    parser.add_argument("--idle-searches", type=int, default=40)
    parser.add_argument("--stop-timeout", type=int, default=900,
                        help="seconds to wait, once time is up, for the requests already made")
    parser.add_argument("--out", type=Path, default=None, help="folder (default eval/runs/load-DATE)")
    args = parser.parse_args()
    out: Path = args.out or ROOT / "eval/runs" / f"load-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M}"
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rag = str(Path(sys.executable).with_name("rag"))
    server_log = (out / "server.log").open("w")
    started = time.time()
    server = subprocess.Popen([rag, "serve", "--index", str(args.index), "--port", str(port), "--generator",
                               args.generator, "--max-waiting", str(args.max_waiting), "--wait-timeout",
                               str(args.wait_timeout)], stdout=server_log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        if not wait_until_up(server, url + "/health", timeout=600):
            raise SystemExit(f"rag serve did not come up; see {out / 'server.log'}")
        ready_s = time.time() - started
        rss_ready = rss_mb(server.pid) or 0.0
        idle_searches(url, 6, seed=0)  # first-request costs (each mode's first search) are not latency
        idle_before = idle_searches(url, args.idle_searches, seed=1)
        warm_s = warm_up(url, args.generator)
        sampler = Sampler(server.pid)
        sampler.sample()
        rss_start = sampler.rss_mb[-1][1]
        sampler.start()
        busy0, server_cpu0 = machine_busy_seconds(), cpu_seconds(server.pid) or 0.0
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_start = time.time()
        total = args.chat_users + args.api_users
        with (out / "locust.log").open("w") as locust_log:
            locust = subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", str(ROOT / "eval/locustfile.py"), "--headless",
                 "--host", url, "-u", str(total), "-r", str(max(1, total // 10)), "-t", f"{round(args.minutes * 60)}s",
                 "--stop-timeout", str(args.stop_timeout), "--chat-users", str(args.chat_users),
                 "--generator", args.generator, "--records", str(out / "records.json"), "--only-summary",
                 "--loglevel", "WARNING"], stdout=locust_log, stderr=subprocess.STDOUT, cwd=ROOT)
            sampler.locust = locust.pid
            locust.wait(timeout=args.minutes * 60 + args.stop_timeout + 300)
        load_end = time.time()
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        locust_cpu = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
        busy = machine_busy_seconds() - busy0
        server_cpu = (cpu_seconds(server.pid) or 0.0) - server_cpu0
        sampler.finish()
        sampler.sample()
        rss_end = sampler.rss_mb[-1][1]
        idle_after = idle_searches(url, args.idle_searches, seed=2)
    finally:
        stop(server)
        server_log.close()
    if not (out / "records.json").exists():
        raise SystemExit(f"locust wrote no records; see {out / 'locust.log'}")
    records = json.loads((out / "records.json").read_text())["records"]
    report = summarize(records, args.chat_users)
    report["search"]["idle_before"] = spread(idle_before)
    report["search"]["idle_after"] = spread(idle_after)
    report["setup"] = {"minutes": args.minutes, "chat_users": args.chat_users, "api_users": args.api_users,
                       "max_waiting": args.max_waiting, "wait_timeout": args.wait_timeout,
                       "generator": args.generator, "index": str(args.index), "ready_s": round(ready_s, 1),
                       "warm_up_answer_s": round(warm_s, 1),
                       "api_mix": "search 6 : documents 2 : ask 1 : ask streamed 1, 1-5 s apart",
                       "chat": "5-15 s between questions, 30 % follow-ups"}
    report["code"] = {"commit": git("rev-parse", "--short", "HEAD"),
                      "uncommitted": git("status", "--short", "--untracked-files=no").splitlines()}
    report["machine"] = {"cpu": cpu_name(), "lscpu_model": lscpu_model(), "cpus": os.cpu_count(),
                         "python": platform.python_version(), "platform": platform.platform(),
                         "loadavg_end": os.getloadavg()}
    report["times"] = {"load_start": utc(load_start), "load_end": utc(load_end), "load_s": load_end - load_start}
    peak = max(rss for _, rss in sampler.rss_mb)
    report["server"] = {"rss_ready_mb": round(rss_ready, 1), "rss_start_mb": round(rss_start, 1),
                        "rss_end_mb": round(rss_end, 1), "rss_peak_mb": round(peak, 1),
                        "rss_growth": round(rss_end / rss_start - 1, 4),
                        "rss_growth_from_ready": round(rss_end / rss_ready - 1, 4) if rss_ready else None,
                        "rss_growth_second_half": second_half_growth(sampler.rss_mb, load_start, load_end),
                        "rss_samples_mb": [(round(t - load_start), round(r, 1)) for t, r in sampler.rss_mb],
                        "cpu_s": round(server_cpu, 1), "log_errors": log_errors(out / "server.log")}
    report["locust"] = {"cpu_s": round(locust_cpu, 1), "cpu_share": round(locust_cpu / (load_end - load_start), 4),
                        "processes": 1}
    report["other_cpu_s"] = round(busy - server_cpu - locust_cpu, 1)
    report["problems"] = verdict(report)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(table(report))
    print(f"\nreport: {out / 'report.json'}")
    if report["problems"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
