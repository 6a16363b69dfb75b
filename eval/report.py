"""The human side of an evaluation run: ``report.md`` and three PNG plots (matplotlib, no display)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from .metrics import retrieval_metrics

PLOTS = ("recall_at_k.png", "latency.png", "accuracy_by_type.png")


def recall_curve(rows: list[dict[str, Any]], depth: int = 10) -> list[float]:
    """recall@k for k = 1..depth over the answerable questions."""
    ranks = [r["verdicts"]["first_relevant_rank"] for r in rows if r["answerable"]]
    metrics = retrieval_metrics(ranks, ks=range(1, depth + 1))
    return [metrics.get(f"recall@{k}", 0.0) for k in range(1, depth + 1)]


def accuracy_by_type(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """type -> (right, total): answerable types count correct answers, "unanswerable" counts abstentions."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        right = r["verdicts"]["correct"] if r["answerable"] else r["abstained"]
        out[r["type"]][0] += bool(right)
        out[r["type"]][1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def write_plots(out: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server or in CI
    import matplotlib.pyplot as plt

    curve = recall_curve(rows)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(range(1, len(curve) + 1), curve, marker="o")
    ax.set(xlabel="k (passages retrieved)", ylabel="recall@k", ylim=(0, 1.02), title="Retrieval recall@k")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / PLOTS[0], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist([r["time_s"] for r in rows], bins=20)
    ax.set(xlabel="seconds per question", ylabel="questions", title="Answer latency")
    fig.tight_layout()
    fig.savefig(out / PLOTS[1], dpi=120)
    plt.close(fig)

    by_type = accuracy_by_type(rows)
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    names = list(by_type)
    ax.bar(names, [right / total for right, total in by_type.values()])
    for i, (right, total) in enumerate(by_type.values()):
        ax.text(i, right / total + 0.02, f"{right}/{total}", ha="center", fontsize=8)
    ax.set(ylabel="share right", ylim=(0, 1.1), title="Accuracy by question type (unanswerable: abstained)")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(out / PLOTS[2], dpi=120)
    plt.close(fig)


def write_report(out: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    write_plots(out, rows)
    config = summary.get("config", {})
    lines = ["# Evaluation run", ""]
    if config:
        lines += [f"{config.get('date', '')} · {config.get('machine', '')} · generator `{config.get('generator')}` · "
                  f"mode `{config.get('mode')}` · k {config.get('k')} · {config.get('documents')} documents, "
                  f"{config.get('chunks')} chunks", ""]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in summary.items() if k != "config"]
    lines += ["", "| type | right | of |", "|---|---|---|"]
    lines += [f"| {t} | {right} | {total} |" for t, (right, total) in accuracy_by_type(rows).items()]
    lines += ["", *[f"![{p}]({p})" for p in PLOTS], ""]
    misses = [r for r in rows if (r["answerable"] and not r["verdicts"]["correct"])
              or (not r["answerable"] and not r["abstained"])]
    if misses:
        lines += ["## Questions it got wrong", "", "| id | type | question | answer |", "|---|---|---|---|"]
        lines += [f"| {r['id']} | {r['type']} | {_cell(r['question'])} | {_cell(r['answer'])} |" for r in misses]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")[:160]
