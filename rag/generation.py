"""Generators write the answer. One required method for a language model: ``complete``.

``answer``, ``rewrite`` and ``judge`` are built on top of it; the ``extractive`` backend, which has
no language model, overrides those three instead. Constructors are cheap; weights load in
``warm_up()`` (called on first use), once per generator.

Backends: ``llama`` (default: Qwen2.5-Coder-1.5B-Instruct Q4_K_M with llama-cpp-python),
``transformers`` (a local Hugging Face model folder, or a GGUF file through ``gguf_file``), and
``extractive`` (picks the best supporting sentences; no model, instant).
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import env, prompts
from .config import GENERATORS
from .errors import ConfigError
from .sentences import idf_overlap, split_sentences
from .worker import Worker

Passage = tuple[str, str]  # (title, text)


class Generator:
    """Base class. LLM backends implement ``complete`` (and ``yes_probability`` to act as a judge)."""

    name = "base"

    def warm_up(self) -> None:
        """Load heavy state. Safe to call many times."""

    def complete(self, system: str, user: str, max_tokens: int = 200) -> Iterator[str]:
        """Stream the reply to a (system, user) exchange, piece by piece, greedy decoding."""
        raise NotImplementedError

    def yes_probability(self, system: str, user: str) -> float | None:
        """P(yes) / (P(yes) + P(no)) for the first reply token, or None if this backend can't tell."""
        return None

    def count_tokens(self, text: str) -> int:
        """Prompt tokens ``text`` costs this model (an estimate unless the backend has a tokenizer)."""
        return len(text) // 4 + 1

    def prime(self, systems: Sequence[str]) -> None:
        """Read these system prompts now, so the first question doesn't pay for it (optional)."""

    def choose(self, system: str, user: str, grammar: str, max_tokens: int = 16) -> str | None:
        """The reply, constrained to the GBNF ``grammar`` (llama.cpp's grammar language), or None if this
        backend can't constrain its output (optional)."""
        return None

    # Conveniences built on ``complete``.
    def answer(self, question: str, passages: Sequence[Passage], prompt: str = prompts.DEFAULT_PROMPT,
               max_tokens: int = 200) -> Iterator[str]:
        """Stream a cited answer to ``question`` from numbered ``passages``."""
        if prompt not in prompts.ANSWER_SYSTEMS:
            raise ConfigError(f"prompt must be one of {', '.join(prompts.ANSWER_SYSTEMS)}, got {prompt!r}")
        return self.complete(prompts.ANSWER_SYSTEMS[prompt], prompts.answer_user(question, passages), max_tokens)

    def select(self, question: str, sentences: Sequence[tuple[str, str]], most: int = 3) -> list[int] | None:
        """Numbers (from 1) of at most ``most`` of ``sentences`` (``(title, sentence)``) that answer ``question``;
        ``[]`` when none does; None if this backend can't choose (see ``choose``)."""
        if not sentences:
            return []
        reply = self.choose(prompts.SELECT_SYSTEM, prompts.select_user(question, sentences),
                            prompts.select_grammar(len(sentences), most), 6 * most)
        if reply is None:
            return None
        chosen = [int(n) for n in re.findall(r"\d+", reply) if 1 <= int(n) <= len(sentences)]
        return list(dict.fromkeys(chosen))[:most]

    def rewrite(self, history: Sequence[tuple[str, str]], question: str) -> str:
        """Turn a follow-up ("and Canada?") into a standalone question using the conversation."""
        text = "".join(self.complete(prompts.REWRITE_SYSTEM, prompts.rewrite_user(history, question), 60))
        text = text.strip().splitlines()[0].strip() if text.strip() else ""
        return text or question

    def judge(self, claim: str, evidence: str) -> float | None:
        """Probability that ``evidence`` supports ``claim``, or None without a judge."""
        return self.yes_probability(prompts.JUDGE_SYSTEM, prompts.judge_user(claim, evidence))

    def gives_orders(self, sentence: str) -> float | None:
        """Probability that ``sentence`` (from a document) orders an AI model about, or None without a judge."""
        return self.yes_probability(prompts.ORDER_SYSTEM, prompts.order_user(sentence))

    def answers(self, question: str, answer: str) -> float | None:
        """Probability that ``answer`` gives what ``question`` asks for, or None without a judge."""
        return self.yes_probability(prompts.RELEVANCE_SYSTEM, prompts.relevance_user(question, answer))


class LlamaGenerator(Generator):
    """A GGUF model run by llama.cpp on the CPU. Default: the bundled Qwen2.5-Coder-1.5B-Instruct.

    The prompt is tokenised piece by piece: the chat template's control tokens as special tokens,
    the passages and question as plain text, so no document can forge a turn. The key/value cache
    after each fixed system prompt is saved and restored, so only passages and question are
    evaluated per answer; they are always read whole, never reused from the previous prompt, so an answer
    does not depend on what was asked before it.

    The model has one owner, a ``Worker`` thread: every call runs there, and ``complete`` returns a
    ``Feed`` that any thread may read, close or drop. Before the model is loaded into this process,
    its configuration is tried in a child process (``rag.probe``), so a CPU on which a llama.cpp
    kernel crashes gets a one-line ``ModelError`` instead of a dead process.
    """

    name = "llama"

    def __init__(self, model_path: str | Path = "", n_ctx: int = 2048, threads: int | None = None, *,
                 draft_tokens: int = 0) -> None:
        self.model_path = Path(model_path) if model_path else None
        if self.model_path is not None and not self.model_path.is_file():
            raise ConfigError(f"llama model must be a GGUF file, got {str(model_path)!r}")
        if n_ctx < 512:
            raise ConfigError(f"n_ctx must be at least 512, got {n_ctx!r}")
        self.n_ctx = n_ctx
        self.threads = threads or max(1, min(os.cpu_count() or 1, 8))
        if not isinstance(draft_tokens, int) or not 0 <= draft_tokens <= MAX_DRAFT:
            raise ConfigError(f"draft_tokens must be an integer from 0 to {MAX_DRAFT}, got {draft_tokens!r}")
        self.draft_tokens = draft_tokens
        self.drafted = self.accepted = 0  # prompt-lookup tokens proposed and accepted so far (benchmarks)
        self.extra_bufts: bool | None = None  # chosen at load time (rag.probe)
        self._llm = None
        self._states: dict[tuple[int, ...], bytes] = {}  # a fixed prompt's key/value cache, as llama.cpp saves it
        self._owner = Worker("rag-llama")

    def warm_up(self) -> None:
        self._owner.call(self._load)

    def _load(self) -> None:
        if self._llm is not None:
            return
        env.offline()
        from .models import bundled_gguf
        from .probe import choose_extra_bufts

        path = self.model_path or bundled_gguf()
        self.extra_bufts = choose_extra_bufts(path, self.threads)
        self._llm = llm = load_llama(path, self.extra_bufts, n_ctx=self.n_ctx, n_threads=self.threads,
                                     n_threads_batch=self.threads, n_batch=512, seed=0, verbose=False)
        self._eos = {llm.token_eos(), *llm.tokenize(b"<|im_end|>", add_bos=False, special=True)}
        self._yes_no = _yes_no_ids(lambda text: llm.tokenize(text.encode(), add_bos=False, special=False))

    def _loaded(self):
        """The model, loaded on first use (on the owner thread)."""
        self._load()
        assert self._llm is not None  # _load sets it or raises
        return self._llm

    def count_tokens(self, text: str) -> int:
        return self._owner.call(self._count_tokens, text)

    def _count_tokens(self, text: str) -> int:
        return len(self._loaded().tokenize(text.encode(), add_bos=False, special=False))

    def prime(self, systems: Sequence[str]) -> None:
        self._owner.call(self._prime, list(systems))

    def _prime(self, systems: list[str]) -> None:
        for system in systems:
            self._restore_prefix(*self._tokens(system, ""))

    def _tokens(self, system: str, user: str) -> tuple[list[int], int]:
        """The prompt's tokens, and how many of them are the fixed system part."""
        tok = self._loaded().tokenize
        head = tok(f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n".encode(), add_bos=False,
                   special=True)
        body = tok(user.encode(), add_bos=False, special=False)
        tail = tok(b"<|im_end|>\n<|im_start|>assistant\n", add_bos=False, special=True)
        tokens = head + body + tail
        if len(tokens) >= self.n_ctx - 8:
            raise ConfigError(f"the prompt has {len(tokens)} tokens, more than the model's context "
                              f"({self.n_ctx}); ask with fewer passages (-k)")
        return tokens, len(head)

    def _restore_prefix(self, tokens: list[int], fixed: int) -> None:
        """Put the cached state of ``tokens[:fixed]`` in place unless the context already starts with it.

        Only the sequence's key/value cache is saved and restored (``llama_state_seq_*_data``, ~7 MB for
        the answer prompt): ``Llama.save_state``/``load_state`` also copy a logits row per cached token,
        ~150 MB, which took 0.1-0.4 s a question when the answer and the judge prompts took turns."""
        import llama_cpp

        llm = self._loaded()
        prefix = tuple(tokens[:fixed])
        if llm.n_tokens >= fixed and tuple(llm._input_ids[:fixed]) == prefix:
            return
        seq = llama_cpp.llama_seq_id(0)
        state = self._states.get(prefix)
        llm._ctx.kv_cache_seq_rm(0, 0, -1)
        if state is not None:
            data = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
            if llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, data, len(state), seq) == len(state):
                llm.input_ids[:fixed] = prefix
                llm.n_tokens = fixed
                return
            llm._ctx.kv_cache_seq_rm(0, 0, -1)  # not restored: read the prompt again
        llm.reset()
        llm.eval(list(prefix))
        size = llama_cpp.llama_state_seq_get_size(llm._ctx.ctx, seq)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(llm._ctx.ctx, buffer, size, seq)
        if 0 < written <= size:
            self._states[prefix] = bytes(buffer)[:written]

    def complete(self, system: str, user: str, max_tokens: int = 200) -> Iterator[str]:
        return self._owner.stream(lambda: self._complete(system, user, max_tokens))

    def choose(self, system: str, user: str, grammar: str, max_tokens: int = 16) -> str | None:
        return self._owner.call(lambda: "".join(self._complete(system, user, max_tokens, grammar)))

    def _complete(self, system: str, user: str, max_tokens: int, grammar: str | None = None) -> Iterator[str]:
        llm = self._loaded()
        tokens, fixed = self._tokens(system, user)
        self._restore_prefix(tokens, fixed)
        budget = min(max_tokens, self.n_ctx - len(tokens) - 1)
        if grammar is None:
            ids = self._greedy(tokens, budget, fixed)
        else:
            from llama_cpp import LlamaGrammar

            rules = LlamaGrammar.from_string(grammar, verbose=False)
            llm.n_tokens = min(llm.n_tokens, fixed)  # read from the system part on, as _read does
            ids = llm.generate(tokens, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True, grammar=rules)
        pending = b""
        for count, token in enumerate(ids):
            if token in self._eos or count >= budget:
                break
            pending += llm.detokenize([token])
            try:  # a multi-byte character can span tokens: emit only whole characters
                text = pending.decode("utf-8")
            except UnicodeDecodeError:
                continue
            pending = b""
            yield text

    def _greedy(self, tokens: list[int], budget: int, fixed: int = 0) -> Iterator[int]:
        """The greedy continuation of ``tokens``, token by token, the prompt read from its ``fixed`` system part on.

        With ``draft_tokens`` (prompt-lookup decoding), each step proposes the tokens that followed the
        last two written tokens' most recent earlier occurrence (answers copy the passages' words) and checks
        them all in one batch: the accepted ones cost a fraction of writing them one by one. Every token is
        still the model's greedy choice at its position; only the arithmetic of a batch may round a near tie
        the other way (eval/RESULTS.md measures what that does to answers)."""
        import numpy as np

        llm = self._loaded()
        vocab = llm.n_vocab()
        token = int(np.argmax(self._read(tokens, fixed)))
        seen = list(tokens)
        for _ in range(budget):
            yield token
            if token in self._eos:
                return
            seen.append(token)
            past = llm.n_tokens
            room = self.n_ctx - past - 2  # the context must hold the batch and one more token
            draft = lookup(seen, min(self.draft_tokens, room)) if self.draft_tokens and room > 0 else []
            batch = [token, *draft]
            llm._ctx.kv_cache_seq_rm(-1, past, -1)
            llm._batch.set_batch(batch=batch, n_past=past, logits_all=True)
            llm._ctx.decode(llm._batch)
            llm.input_ids[past : past + len(batch)] = batch
            rows = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(batch), vocab))
            best = [int(i) for i in rows.argmax(axis=1)]
            taken = 0
            while taken < len(draft) and best[taken] == draft[taken]:
                taken += 1
            self.drafted += len(draft)
            self.accepted += taken
            llm.n_tokens = past + 1 + taken  # the written token and the accepted drafts; the rest is dropped
            for accepted in draft[:taken]:
                yield accepted
                if accepted in self._eos:
                    return
                seen.append(accepted)
            token = best[taken]

    def yes_probability(self, system: str, user: str) -> float | None:
        return self._owner.call(self._yes_probability, system, user)

    def _yes_probability(self, system: str, user: str) -> float:
        tokens, fixed = self._tokens(system, user)
        self._restore_prefix(tokens, fixed)
        return _yes_share(self._read(tokens, fixed), self._yes_no)

    def _read(self, tokens: list[int], fixed: int = 0):
        """Read ``tokens`` into the context from its fixed system part on (``fixed`` tokens, which the context holds
        already); the last token's logits, a numpy view valid until the next read.

        Nothing after the system part is reused from the previous prompt, though llama.cpp could: the same
        tokens read in other batches sum in another order, which tipped a near tie in a greedy answer, so the
        same question asked twice got two answers (eval/RESULTS.md, issue 13). Every prompt is read whole."""
        import numpy as np

        llm = self._loaded()
        common = 0
        for a, b in zip(llm._input_ids[: min(llm.n_tokens, fixed)], tokens[:-1], strict=False):
            if a != b:
                break
            common += 1
        llm.n_tokens = common
        llm.eval(tokens[common:])
        return np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))


_construct = threading.Lock()
MAX_DRAFT = 16  # prompt-lookup tokens checked per step, at most


def lookup(tokens: Sequence[int], most: int, ngram: int = 2) -> list[int]:
    """Up to ``most`` tokens that followed the latest earlier occurrence of ``tokens``' last ``ngram``
    tokens (or, failing that, of its last token): a guess at what comes next when the text copies itself.

    >>> lookup([5, 6, 7, 8, 9, 1, 6, 7], 3)
    [8, 9, 1]
    >>> lookup([1, 2, 3], 3)
    []
    """
    for size in range(min(ngram, len(tokens) - 1), 0, -1):
        tail = list(tokens[-size:])
        for start in range(len(tokens) - size - 1, -1, -1):
            if list(tokens[start : start + size]) == tail:
                return list(tokens[start + size : start + size + most])
    return []


def load_llama(path: str | Path, extra_bufts: bool, **options):
    """``llama_cpp.Llama(path, **options)`` with llama.cpp's ``use_extra_bufts`` model parameter set,
    which ``Llama`` does not expose: its default parameters are patched for the construction only."""
    import llama_cpp
    from llama_cpp import Llama

    defaults = llama_cpp.llama_cpp.llama_model_default_params

    def params():
        p = defaults()
        p.use_extra_bufts = extra_bufts
        return p

    with _construct:
        llama_cpp.llama_cpp.llama_model_default_params = params
        try:
            return Llama(model_path=str(path), **options)
        finally:
            llama_cpp.llama_cpp.llama_model_default_params = defaults


def _yes_no_ids(tokenize: Callable[[str], list[int]]) -> tuple[list[int], list[int]]:
    """Token ids that start a "yes" and a "no" reply (any case, with or without a leading space)."""
    def first(words: list[str]) -> list[int]:
        return sorted({tokenize(prefix + w)[0] for w in words for prefix in ("", " ")})

    return first(["yes", "Yes", "YES"]), first(["no", "No", "NO"])


def _yes_share(logits, ids: tuple[list[int], list[int]]) -> float:
    yes, no = ids
    top = max(float(logits[i]) for i in yes + no)
    p_yes = sum(math.exp(float(logits[i]) - top) for i in yes)
    p_no = sum(math.exp(float(logits[i]) - top) for i in no)
    return p_yes / (p_yes + p_no)


class TransformersGenerator(Generator):
    """A local Hugging Face causal LM (folder), or a GGUF file via ``gguf_file`` (dequantised by transformers)."""

    name = "transformers"

    def __init__(self, model: str | Path, gguf_file: str | None = None, device: str = "cpu") -> None:
        path = Path(model)
        if gguf_file is None and path.is_file() and path.suffix == ".gguf":
            path, gguf_file = path.parent, path.name
        if not path.is_dir():
            raise ConfigError(f"transformers model must be a local folder (or a .gguf file), got {str(model)!r}")
        if gguf_file and not (path / gguf_file).is_file():
            raise ConfigError(f"gguf_file {gguf_file!r} is not in {path}")
        self.path, self.gguf_file, self.device = path, gguf_file, device
        self._model = self._tokenizer = None
        self._owner = Worker("rag-transformers")  # one owner thread, as for LlamaGenerator

    def warm_up(self) -> None:
        self._owner.call(self._load)

    def _load(self) -> None:
        if self._model is not None:
            return
        env.offline()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs: dict[str, Any] = {"local_files_only": True}
        if self.gguf_file:
            import importlib.util

            kwargs["gguf_file"] = self.gguf_file
            missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
            if missing:
                raise ConfigError(f"reading a GGUF file with transformers needs {' and '.join(missing)}: "
                                  f'pip install ".[transformers]"')
        self._tokenizer = tokenizer = AutoTokenizer.from_pretrained(str(self.path), **kwargs)
        model = AutoModelForCausalLM.from_pretrained(str(self.path), **kwargs)
        # transformers' annotations for the auto class bind the device string to `self` here
        self._model = model.to(self.device).eval()  # pyright: ignore[reportArgumentType]
        self._yes_no = _yes_no_ids(lambda text: tokenizer.encode(text, add_special_tokens=False))

    def _loaded(self):
        """(model, tokenizer), loaded on first use (on the owner thread)."""
        self._load()
        assert self._model is not None and self._tokenizer is not None  # _load sets both or raises
        return self._model, self._tokenizer

    def _inputs(self, system: str, user: str):
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        _, tokenizer = self._loaded()
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                             return_dict=True).to(self.device)

    def complete(self, system: str, user: str, max_tokens: int = 200) -> Iterator[str]:
        return self._owner.stream(lambda: self._complete(system, user, max_tokens))

    def _complete(self, system: str, user: str, max_tokens: int) -> Iterator[str]:
        model, tokenizer = self._loaded()
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        stop = threading.Event()

        class Stopped(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                return stop.is_set()

        inputs = self._inputs(system, user)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        # transformers' generate() asks `self` for a protocol its own auto-model type does not declare
        thread = threading.Thread(target=model.generate, daemon=True, kwargs=dict(  # pyright: ignore[reportAttributeAccessIssue]
            **inputs, max_new_tokens=max_tokens, do_sample=False, streamer=streamer,
            stopping_criteria=StoppingCriteriaList([Stopped()]), pad_token_id=tokenizer.eos_token_id))
        thread.start()
        try:
            yield from (piece for piece in streamer if piece)
        finally:
            stop.set()  # a closed reader stops generation at the next token
            thread.join()

    def yes_probability(self, system: str, user: str) -> float | None:
        return self._owner.call(self._yes_probability, system, user)

    def _yes_probability(self, system: str, user: str) -> float:
        model, _ = self._loaded()
        import torch

        with torch.no_grad():
            logits = model(**self._inputs(system, user)).logits[0, -1]
            return _yes_share(logits, self._yes_no)


class ExtractiveGenerator(Generator):
    """No language model: answers with the passage sentences that best match the question, cited.

    A sentence's score is the idf-weighted share of the question's content words it contains
    (idf over the sentences of the retrieved passages), with a small bonus for higher-ranked passages.
    """

    name = "extractive"

    def __init__(self, min_score: float = 0.35, max_sentences: int = 2) -> None:
        self.min_score = min_score
        self.max_sentences = max_sentences

    def answer(self, question: str, passages: Sequence[Passage], prompt: str = prompts.DEFAULT_PROMPT,
               max_tokens: int = 200) -> Iterator[str]:
        candidates = [(n, sentence.text) for n, (_, text) in enumerate(passages, 1)
                      for sentence in split_sentences(text)]
        if not candidates:
            yield prompts.ABSTAIN
            return
        overlap = idf_overlap(question, [text for _, text in candidates])
        scored = sorted(((score - 0.01 * n, n, text) for score, (n, text) in zip(overlap, candidates, strict=True)),
                        key=lambda item: -item[0])
        best = scored[0][0]
        if best < self.min_score:
            yield prompts.ABSTAIN
            return
        chosen = [item for item in scored[: self.max_sentences] if item[0] >= 0.8 * best]
        for i, (_, n, text) in enumerate(chosen):
            text = re.sub(r"\s*\[\d+\]", "", " ".join(text.split()))
            yield ("" if i == 0 else " ") + f"{text} [{n}]"

    def rewrite(self, history: Sequence[tuple[str, str]], question: str) -> str:
        return f"{history[-1][0]} {question}" if history else question

    def judge(self, claim: str, evidence: str) -> float | None:
        return None

    def answers(self, question: str, answer: str) -> float | None:
        return None


def make_generator(name: str = "llama", model: str | Path = "", **options) -> Generator:
    """Build a generator by backend name (cheap: nothing loads until first use)."""
    if name == "llama":
        return LlamaGenerator(model, **options)
    if name == "transformers":
        if not model:
            raise ConfigError("the transformers generator needs --model: a local Hugging Face folder or .gguf file")
        return TransformersGenerator(model, **options)
    if name == "extractive":
        return ExtractiveGenerator(**options)
    raise ConfigError(f"generator must be one of {', '.join(GENERATORS)}, got {name!r}")
