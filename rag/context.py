"""What the model reads: the retrieved passages, cut down to the sentences that matter.

On a 2-core CPU the model reads about 80 prompt tokens a second, so five whole passages (about
500 tokens) cost six seconds before the first word appears. ``compact`` keeps, within a token
budget, the sentences most related to the question: each passage's best sentence first (so every
retrieved passage is represented, best passages first), then the best remaining sentences overall.
Kept sentences stay in document order; a gap is shown as "…". Relatedness is the question's
idf-weighted content words found in the sentence plus, when an embedder is given, cosine similarity,
which catches paraphrases that share no words.

Sentences that address an AI model ("ignore previous instructions", "you are now …") are never
shown to it: documents are data. The prompt says so too; this is the second fence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .embedding import Embedder
from .retriever import Hit
from .sentences import Sentence, idf_overlap, split_sentences

_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|prompts?|rules|guidelines)\b"
    r"|\byou are (?:now|no longer)\b|\bsystem prompt\b|\bnew instructions?\b|\bfrom now on\b"
    r"|^\W*(?:dear\s+)?(?:AI\s+)?(?:assistant|chatbot|language model|LLM)\s*[,:]"
    r"|\b(?:reply|respond|answer)\w*\s+(?:to\s+)?(?:every|any|all|each)\s+(?:\w+\s+){0,2}"
    r"(?:questions?|query|queries|requests?|prompts?)\b.{0,60}\b(?:with|by saying)\b",
    re.IGNORECASE)


def is_injection(sentence: str) -> bool:
    """A sentence that gives orders to an AI model rather than stating something."""
    return bool(_INJECTION.search(sentence))


@dataclass(frozen=True)
class Excerpt:
    """The part of one hit shown to the model: its sentences (document spans) in order."""

    hit: Hit
    sentences: tuple[Sentence, ...]

    @property
    def text(self) -> str:
        parts: list[str] = []
        for i, s in enumerate(self.sentences):
            if i and s.start > self.sentences[i - 1].end + 2 and not self.hit.text[
                    self.sentences[i - 1].end - self.hit.start : s.start - self.hit.start].isspace():
                parts.append("…")
            parts.append(s.text)
        return " ".join(parts)


def estimate_tokens(text: str) -> int:
    """Prompt tokens for English text with a BPE tokenizer, roughly (4 characters a token)."""
    return len(text) // 4 + 1


def compact(question: str, hits: Sequence[Hit], budget: int, embedder: Embedder | None = None,
            count_tokens: Callable[[str], int] = estimate_tokens,
            drop: Callable[[str], bool] | None = is_injection) -> list[Excerpt]:
    """Excerpts of ``hits`` (same order) whose texts fit ``budget`` tokens together. 0 = no cut.
    Sentences for which ``drop`` is true (orders to the model) are left out."""
    per_hit = [[s for s in split_sentences(h.text, offset=h.start) or [Sentence(h.start, h.end, h.text)]
                if drop is None or not drop(s.text)] for h in hits]
    if budget <= 0 or sum(count_tokens(s.text) for sentences in per_hit for s in sentences) <= budget:
        return [Excerpt(h, tuple(s)) for h, s in zip(hits, per_hit, strict=True)]
    flat = [(i, s) for i, sentences in enumerate(per_hit) for s in sentences]
    scores = _relatedness(question, [s.text for _, s in flat], embedder)
    ranked = sorted(range(len(flat)), key=lambda j: -(scores[j] - 0.02 * flat[j][0]))
    chosen: set[int] = set()
    used = 0
    seen_hits: set[int] = set()
    # Pass 1: every passage's best sentence, best passages first. Pass 2: the best of the rest.
    for pass_ in (1, 2):
        for j in ranked:
            i, sentence = flat[j]
            if j in chosen or (pass_ == 1 and i in seen_hits):
                continue
            cost = count_tokens(sentence.text)
            if used + cost > budget:
                continue
            chosen.add(j)
            seen_hits.add(i)
            used += cost
    return [Excerpt(h, tuple(s for j, (i2, s) in enumerate(flat) if i2 == i and j in chosen))
            for i, h in enumerate(hits)]


def _relatedness(question: str, texts: list[str], embedder: Embedder | None) -> list[float]:
    lexical = np.array(idf_overlap(question, texts))
    if embedder is None:
        return lexical.tolist()
    vectors = embedder.embed_batch([question, *texts])
    cosine = vectors[1:] @ vectors[0]
    return (0.5 * lexical + 0.5 * cosine).tolist()
