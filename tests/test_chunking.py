from __future__ import annotations

import pytest

from rag import Chunker, ConfigError, load_document
from rag.embedding import get_embedder

from .conftest import CORPUS


def words(text: str) -> int:
    return len(text.split()) + 2


def test_offsets_are_exact_and_sizes_respected():
    text = "\n\n".join(f"Paragraph {i}. " + "word " * (7 * i) + "end." for i in range(1, 15))
    chunker = Chunker(words, chunk_size=40, chunk_overlap=8, max_tokens=256)
    spans = chunker.split(text, offset=0)
    assert len(spans) > 5
    for span in spans:
        assert text[span.start : span.end] == span.text
        assert words(span.text) <= 40
    assert spans == sorted(spans, key=lambda s: s.start)


def test_offset_shifts_spans_into_the_document():
    chunker = Chunker(words, chunk_size=20, chunk_overlap=0, max_tokens=256)
    doc = "HEADER\n" + "One sentence here. Another one there. " * 6
    spans = chunker.split(doc[7:], offset=7)
    assert all(doc[s.start : s.end] == s.text for s in spans)


def test_prefers_paragraph_then_sentence_boundaries():
    para = "Alpha beta gamma delta. Epsilon zeta eta theta. Iota kappa lambda mu."
    chunker = Chunker(words, chunk_size=10, chunk_overlap=0, max_tokens=256)
    spans = chunker.split(para + "\n\n" + para)
    assert [s.text for s in spans[:3]] == ["Alpha beta gamma delta.", "Epsilon zeta eta theta.",
                                            "Iota kappa lambda mu."]


def test_chunk_size_above_model_limit_is_refused():
    with pytest.raises(ConfigError, match="exceeds the model's maximum sequence length 256"):
        Chunker(words, chunk_size=300, chunk_overlap=0, max_tokens=256)


@pytest.mark.integration
@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.txt")), ids=lambda p: p.name[:3])
def test_every_bundled_chunk_is_an_exact_span_within_the_encoder_limit(path):
    """document_text[start:end] == chunk_text for every chunk, and nothing the encoder would truncate."""
    embedder = get_embedder()
    doc = load_document(path)
    chunker = Chunker(embedder.count_tokens, 200, 32, embedder.max_tokens)
    spans = chunker.split(doc.text)
    assert spans
    covered = set()
    for span in spans:
        assert doc.text[span.start : span.end] == span.text
        assert embedder.count_tokens(span.text) <= embedder.max_tokens == 256
        covered.update(range(span.start, span.end))
    # Every non-space character of the document is in some chunk: nothing is dropped.
    assert all(i in covered for i, ch in enumerate(doc.text) if not ch.isspace())
