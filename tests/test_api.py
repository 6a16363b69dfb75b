from __future__ import annotations

import subprocess
import sys

import pytest

from rag import ConfigError, Settings


def test_importing_rag_loads_no_model_or_heavy_library():
    code = ("import sys, rag; heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'faiss') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_settings_round_trip_and_validation():
    s = Settings(chunk_size=128, chunk_overlap=16)
    assert Settings.from_dict(s.to_dict()) == s
    with pytest.raises(ConfigError, match=r"chunk_overlap .* got 200"):
        Settings(chunk_size=100, chunk_overlap=200)
    with pytest.raises(ConfigError, match="chunk_size must be a positive integer, got 0"):
        Settings(chunk_size=0)
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.from_dict({"chunk_sise": 3})
