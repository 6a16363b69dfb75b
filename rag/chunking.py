"""Split a document's text into passages sized by the embedding model's own tokenizer.

``langchain-text-splitters`` does the splitting (paragraph, then line, then sentence, then word
boundaries). We then locate every chunk in the source text, so each carries exact character
offsets: ``text[start:end] == chunk``, always.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import ConfigError

SEPARATORS = [r"\n\n", r"\n", r"(?<=[.!?…])\s+", r"(?<=[;:])\s+", r" ", r""]


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

    def _get_splitter(self):
        if self._splitter is None:
            from langchain_text_splitters import RecursiveCharacterTextSplitter

            self._splitter = RecursiveCharacterTextSplitter(
                separators=SEPARATORS, is_separator_regex=True, keep_separator="end",
                chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap,
                length_function=self.count_tokens, strip_whitespace=True,
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
        return spans

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
