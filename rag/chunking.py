"""Split a document's text into passages sized by the embedding model's own tokenizer.

``langchain-text-splitters`` does the splitting (paragraph, then line, then sentence, then word
boundaries). We then locate every chunk in the source text, so each carries exact character
offsets: ``text[start:end] == chunk``, always.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import ConfigError

# Paragraphs, lines, sentences, then a long sentence's clauses (after ; or :, before a dash, after a comma),
# then words: a cut falls at the largest boundary that makes the pieces fit.
SEPARATORS = [r"\n\n", r"\n", r"(?<=[.!?…])\s+", r"(?<=[;:])\s+", r"\s+(?=[\u2013\u2014]\s)", r"(?<=,)\s+", r" ", r""]


@dataclass(frozen=True)
class Span:
    """A chunk's place in its document's cleaned text."""

    start: int
    end: int
    text: str


class Chunker:
    """Token-sized chunks with overlap. ``count_tokens`` is the encoder's (special tokens included)."""

    def __init__(self, count_tokens: Callable[[str], int], chunk_size: int, chunk_overlap: int,
                 max_tokens: int) -> None:
        if chunk_size > max_tokens:
            raise ConfigError(f"chunk_size {chunk_size} exceeds the model's maximum sequence length "
                              f"{max_tokens}: chunks would be truncated")
        if not 0 <= chunk_overlap < chunk_size:
            raise ConfigError(f"chunk_overlap must be in [0, {chunk_size}), got {chunk_overlap}")
        self.count_tokens = count_tokens
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._splitter = None
        self._specials: int | None = None

    def _count_bare(self, text: str) -> int:
        """Tokens of ``text`` without the encoder's special tokens ([CLS], [SEP]). The splitter adds up the
        lengths of the pieces it merges: counted with them, every piece paid for its own [CLS] and [SEP], so a
        long sentence cut into words came out as chunks of a quarter of the size (issue 13)."""
        if self._specials is None:
            self._specials = self.count_tokens("")
        return max(self.count_tokens(text) - self._specials, 0)

    def _get_splitter(self):
        if self._splitter is None:
            from langchain_text_splitters import RecursiveCharacterTextSplitter

            self._count_bare("")
            assert self._specials is not None
            self._splitter = RecursiveCharacterTextSplitter(
                separators=SEPARATORS, is_separator_regex=True, keep_separator="end",
                chunk_size=self.chunk_size - self._specials, chunk_overlap=self.chunk_overlap,
                length_function=self._count_bare, strip_whitespace=True,
            )
        return self._splitter

    def split(self, text: str, offset: int = 0) -> list[Span]:
        """Chunks of ``text`` with offsets shifted by ``offset`` (the text's place in its document)."""
        spans: list[Span] = []
        cursor = 0
        for piece in self._get_splitter().split_text(text):
            start = text.find(piece, cursor)
            if start < 0:  # cannot happen with keep_separator; fail loudly rather than mis-cite
                raise AssertionError(f"chunk not found in source text: {piece[:60]!r}")
            for part_start, part in self._fit(piece, start):
                spans.append(Span(offset + part_start, offset + part_start + len(part), part))
            cursor = start + 1
        return self._merge_small(spans, text, offset)

    def _merge_small(self, spans: list[Span], text: str, offset: int) -> list[Span]:
        """Join neighbouring chunks while the joined text still fits. The splitter never merges across a
        paragraph it had to cut, so a heading or a one-sentence paragraph next to a long one came out as a
        chunk of its own (a fifth of the bundled corpus's chunks were under 40 tokens): too little for a
        passage to say what it is about."""
        out: list[Span] = []
        for span in spans:
            if out and span.start <= out[-1].end + 2 and span.end > out[-1].end:
                joined = text[out[-1].start - offset : span.end - offset]
                if self.count_tokens(joined) <= self.chunk_size:
                    out[-1] = Span(out[-1].start, span.end, joined)
                    continue
            out.append(span)
        return out

    def _fit(self, piece: str, start: int) -> list[tuple[int, str]]:
        """Token counts of merged splits can exceed the sum of their parts at the seams; halve such
        rare chunks at a space until they fit, so the encoder never truncates."""
        if self.count_tokens(piece) <= self.chunk_size:
            return [(start, piece)]
        middle = piece.rfind(" ", 0, len(piece) // 2 + 1)
        cut = middle if middle > 0 else len(piece) // 2
        left, right = piece[:cut].rstrip(), piece[cut:].lstrip()
        right_start = start + len(piece) - len(right)
        return self._fit(left, start) + self._fit(right, right_start)
