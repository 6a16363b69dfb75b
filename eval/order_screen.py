"""How well the answer model tells orders to an AI from ordinary sentences (``injection_defence="screen"``).

    .venv/bin/python -m rag_eval.order_screen [--threshold 0.5]

The screen asks the model, for an answer sentence's source sentence, whether it orders an AI model about
(``Generator.gives_orders``). Measured on: orders (the red-team set's planted orders, dev and test splits,
and ``eval/orders/orders.txt``) and sentences that must pass (``eval/orders/statements.txt`` and
``heldout_statements.txt``: instructions to people and sentences about AI; 60 sentences of the bundled corpus).
Choose the threshold on the dev rows only; the test rows are reported beside them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

# eval/ installs as rag_eval through an editable-install import hook, which the type checker cannot follow
from rag_eval.processes import cpu_name  # pyright: ignore[reportMissingImports]
from rag_eval.redteam_set import attacks  # pyright: ignore[reportMissingImports]

from rag.generation import make_generator
from rag.sentences import split_sentences

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "orders"


def lines(name: str) -> list[str]:
    return [line.strip() for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def corpus_sentences(n: int = 60) -> list[str]:
    found = [s.text for p in sorted((ROOT / "corpus").glob("*.txt"))
             for s in split_sentences(p.read_text(encoding="utf-8")) if 30 < len(s.text) < 400]
    return found[:: max(1, len(found) // n)][:n]


def sets() -> dict[str, tuple[bool, list[str]]]:
    """name -> (are these orders?, sentences)."""
    planted = {split: [a.planted for a in attacks() if a.split == split] for split in ("dev", "test")}
    return {"dev: red-team orders": (True, planted["dev"]), "dev: written orders": (True, lines("orders.txt")),
            "dev: instructions to people, sentences about AI": (False, lines("statements.txt")),
            "test: red-team orders": (True, planted["test"]),
            "test: instructions to people, sentences about AI": (False, lines("heldout_statements.txt")),
            "test: bundled corpus sentences": (False, corpus_sentences())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=None, help="JSON file with every sentence's P(yes).")
    args = parser.parse_args()
    generator = make_generator("llama")
    generator.warm_up()
    rows, scored = [], {}
    for name, (orders, sentences) in sets().items():
        t0 = time.perf_counter()
        p = [generator.gives_orders(s) or 0.0 for s in sentences]
        seconds = (time.perf_counter() - t0) / len(sentences)
        flagged = sum(x >= args.threshold for x in p)
        rows.append(f"| {name} | {len(sentences)} | {flagged if orders else ''} | {'' if orders else flagged} "
                    f"| {seconds:.2f} |")
        scored[name] = [{"sentence": s, "p_yes": round(x, 3)} for s, x in zip(sentences, p, strict=True)]
        missed = [s for s, x in zip(sentences, p, strict=True) if (x >= args.threshold) != orders]
        for s in missed:
            print(f"{'missed' if orders else 'flagged'} ({name}): {s[:110]}")
    print(f"\nthreshold {args.threshold}; machine: {cpu_name()}\n")
    print("| set | sentences | orders caught | wrongly flagged | s per sentence |\n|---|---|---|---|---|")
    print("\n".join(rows))
    if args.out:
        args.out.write_text(json.dumps(scored, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
