"""Prompt-reading and writing speed of the answer model, with llama.cpp's extra buffer types on and off.

    .venv/bin/python -m rag_eval.bench_llama [--runs 5] [--threads 2] [--model GGUF]

Each configuration runs in its own child process (a crashing kernel is reported, not suffered). The
prompt is the real answer prompt over a bundled document's first ~1,400 characters (about 300
tokens, what an answer reads); 48 tokens are written greedily. Prints one line per configuration
with the medians of ``--runs`` runs, and the CPU it ran on. Measured here, never asserted in a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

# eval/ installs as rag_eval through an editable-install import hook, which the type checker cannot follow
from rag_eval.processes import cpu_name  # pyright: ignore[reportMissingImports]

ROOT = Path(__file__).resolve().parent.parent


def child(model: str, extra_bufts: bool, threads: int, runs: int) -> dict:
    from rag import prompts
    from rag.generation import load_llama

    llm = load_llama(model, extra_bufts, n_ctx=2048, n_threads=threads, n_threads_batch=threads, n_batch=512,
                     seed=0, verbose=False)
    text = sorted((ROOT / "corpus").glob("*"))[0].read_text(encoding="utf-8")[:1400]
    user = prompts.answer_user("Which countries could join AUKUS Pillar 2?", [("AUKUS", text)])
    prompt = (f"<|im_start|>system\n{prompts.ANSWER_SYSTEMS[prompts.DEFAULT_PROMPT]}<|im_end|>\n"
              f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    read, write = [], []
    for _ in range(runs):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens)
        read.append(len(tokens) / (time.perf_counter() - t0))
        t1, n = time.perf_counter(), 0
        for _token in llm.generate(tokens, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
            n += 1
            if n >= 48:
                break
        write.append(n / (time.perf_counter() - t1))
    return {"extra_bufts": extra_bufts, "prompt_tokens": len(tokens), "read_tps": round(statistics.median(read), 1),
            "write_tps": round(statistics.median(write), 1), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="")
    parser.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.model:
        from rag.models import bundled_gguf

        args.model = str(bundled_gguf())
    if args.child:
        print(json.dumps(child(args.model, args.child == "on", args.threads, args.runs)))
        return
    print(f"{cpu_name()}, {args.threads} threads, medians of {args.runs} runs")
    for setting in ("off", "on"):
        done = subprocess.run([sys.executable, "-m", "rag_eval.bench_llama", "--child", setting,
                               "--runs", str(args.runs), "--threads", str(args.threads), "--model", args.model],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(f"extra buffer types {setting}: child exited {done.returncode} {done.stderr.strip()[-200:]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"extra buffer types {setting:>3}: reads a {r['prompt_tokens']}-token prompt at {r['read_tps']} tok/s, "
              f"writes {r['write_tps']} tok/s")


if __name__ == "__main__":
    main()
