"""The human side of an evaluation run: ``report.md`` and five PNG plots (matplotlib, no display)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from .calibration import BINS, expected_calibration_error, operating_points, reliability, risk_coverage, shown_right
from .metrics import retrieval_metrics

PLOTS = ("recall_at_k.png", "latency.png", "accuracy_by_type.png", "risk_coverage.png", "reliability.png")


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

    confidence, right = _confidences(rows)
    curve = risk_coverage(confidence, right)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    if curve:
        ax.plot([c for _, c, _ in curve], [r for _, _, r in curve], marker=".", markersize=3)
        points = [p for p in operating_points(curve)
                  if p["threshold"] is not None and not p["point"].startswith("confidence")]
        ax.plot([p["coverage"] for p in points], [p["risk"] for p in points], "o", color="tab:red", markersize=4)
        for p in points:
            ax.annotate(f"≥ {p['threshold']:.2f}", (p["coverage"], p["risk"]), fontsize=7, color="tab:red",
                        textcoords="offset points", xytext=(-34, 6))
    else:
        ax.text(0.5, 0.5, "no answered question with a confidence", ha="center", va="center")
    ax.set(xlabel="coverage (share of all questions answered)", ylabel="risk (share of answers wrong)",
           xlim=(0, 1.02), ylim=(0, 1.02), title="Risk-coverage, lowering the confidence threshold")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / PLOTS[3], dpi=120)
    plt.close(fig)

    table = reliability(confidence, right)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    if table:
        ax.bar([(b["low"] + b["high"]) / 2 for b in table], [b["accuracy"] for b in table], width=0.9 / BINS,
               alpha=0.7, label="observed accuracy")
        ax.plot([b["confidence"] for b in table], [b["accuracy"] for b in table], "o", color="black", markersize=3,
                label="mean confidence of the bin")
        for b in table:
            ax.text((b["low"] + b["high"]) / 2, b["accuracy"] + 0.02, f"n={b['n']}", ha="center", fontsize=7)
    ece = expected_calibration_error(confidence, right)
    ax.set(xlabel="confidence (out of fold)", ylabel="share of answers right", xlim=(0, 1), ylim=(0, 1.12),
           title=f"Reliability (ECE {'n/a' if ece is None else f'{ece:.3f}'})")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(out / PLOTS[4], dpi=120)
    plt.close(fig)


def _confidences(rows: list[dict[str, Any]]) -> tuple[list[float | None], list[bool | None]]:
    """Each row's out-of-fold confidence (None if it abstained, or a run made before they were recorded) and
    whether its shown answer is right."""
    return [r.get("confidence") for r in rows], [shown_right(r) for r in rows]


def write_report(out: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    write_plots(out, rows)
    config = summary.get("config", {})
    lines = ["# Evaluation run", ""]
    if config:
        lines += [f"{config.get('date', '')} · {config.get('machine', '')} · generator `{config.get('generator')}` · "
                  f"mode `{config.get('mode')}` · k {config.get('k')} · {config.get('documents')} documents, "
                  f"{config.get('chunks')} chunks", ""]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in summary.items()
              if k != "config" and not k.startswith(("type.", "calibration."))]
    lines += ["", "## By question type", "", "Answerable types: answered right; unanswerable: abstained.", "",
              "| type | right | of | share |", "|---|---|---|---|"]
    lines += [f"| {t} | {right} | {total} | {right / total:.3f} |"
              for t, (right, total) in accuracy_by_type(rows).items()]
    lines += ["", *[f"![{p}]({p})" for p in PLOTS[:3]], ""]
    lines += _calibration_section(summary, rows)
    misses = [r for r in rows if (r["answerable"] and not r["verdicts"]["correct"])
              or (not r["answerable"] and not r["abstained"])]
    if misses:
        lines += ["## Questions it got wrong", "", "| id | type | question | answer |", "|---|---|---|---|"]
        lines += [f"| {r['id']} | {r['type']} | {_cell(r['question'])} | {_cell(r['answer'])} |" for r in misses]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _calibration_section(summary: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    confidence, right = _confidences(rows)
    answered = sum(c is not None for c in confidence)
    method = summary.get("calibration.method", "not recorded")
    honest = (" Fitted and tested on different folds: every question's confidence comes from a model fitted "
              "without it, so the curve and the calibration below estimate how it does on unseen questions, not how "
              "well it fits the ones it learnt from." if "out-of-fold" in method else "")
    lines = ["## How far to trust an answer: confidence, risk and coverage", "",
             "Each answered question gets a confidence that the answer shown is right (an answer to an unanswerable "
             "question is always wrong), from its signals: best dense and BM25 scores, dense margin, lexical "
             "support, judge P(yes), supported sentences, quoted evidence. Reporting only: the assistant abstained "
             "as it always does; the table says what a confidence threshold on top of that would do. Coverage is the "
             "share of all questions answered, risk the share of those answers that are wrong.", "",
             f"How: {method}.{honest}", ""]
    curve = risk_coverage(confidence, right)
    if not curve:
        return [*lines, f"No answered question has a confidence ({len(rows)} questions).", "",
                *[f"![{p}]({p})" for p in PLOTS[3:]], ""]
    lines += ["| operating point | threshold | coverage | risk |", "|---|---|---|---|"]
    lines += [f"| {p['point']} | {_threshold(p['threshold'])} | {p['coverage']:.3f} | {_fmt(p['risk'])} |"
              for p in operating_points(curve)]
    ece = expected_calibration_error(confidence, right)
    lines += ["", f"Expected calibration error ({BINS} equal-width bins, {answered} answers): {_fmt(ece)}.", "",
              "The confidences are out of fold, but the thresholds above are read off these same questions' curve, "
              "so their risk is optimistic: carry a threshold to the test split (eval/gold/aukus-test.jsonl) "
              "before adopting it.", "",
              *[f"![{p}]({p})" for p in PLOTS[3:]], ""]
    return lines


def _threshold(value: float | None) -> str:
    return "none reaches it" if value is None else f"≥ {value:.3f}"


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")[:160]
