"""Grounded answers: retrieve, generate with [n] citations, verify every sentence, or abstain.

    >>> import rag
    >>> from rag.testing import ScriptedGenerator, tiny_workspace
    >>> index = tiny_workspace().index            # two short documents; rag.Index("index") for yours
    >>> model = ScriptedGenerator(["Japan may join Pillar 2 [1].",  # a stand-in for the language model:
    ...                            "Could Canada join Pillar 2?",   # it rewrites the follow-up below,
    ...                            "Canada is in talks [1]."])      # then answers it
    >>> assistant = rag.Assistant(index, generator=model)
    >>> answer = assistant.ask("Which countries could join Pillar 2?")
    >>> answer.text, [(c.n, c.doc_id) for c in answer.citations]
    ('Japan may join Pillar 2 [1].', [(1, 'pillar.txt')])
    >>> stream = assistant.stream("And Canada?", history=[(answer.question, answer.text)])
    >>> for piece in stream: print(piece, end="")   # as the model writes it
    Canada is in talks [1].
    >>> stream.answer.standalone, stream.answer.citations[0].quote
    ('Could Canada join Pillar 2?', 'Canada and New Zealand are also in talks.')

The pipeline: a follow-up is rewritten into a standalone question; the retriever finds passages (a document
the question names as its source first, ``sources="first"``, ``rag.naming``); if even the best is a weak match,
we abstain without asking the model; otherwise the model streams an answer citing passage numbers; markers that
point nowhere are dropped; each sentence is checked against the passages it cites (content words, numbers, and
the model as a yes/no judge); unsupported sentences are removed; with none left, we abstain and show the closest
passages. A full name the question gives but no document found knows is a false premise, never echoed in an
answer; "what did X say about Y?" is answered only from passages naming X and Y (``rag.asks.asked_said``); a
"how many" question answered without a number is abstained on ("off-topic"), as are "when" without
a date, "which country" without a name, and an answer whose number, date or name comes from a sentence about
something else (``specifics="sentence"``: the sentence holding it, not the one best matching the claim).
Before abstaining on a question that asks for a number, a date, a name or an amount in a unit
(``evidence="asked"``, the default; ``"rescue"``: any question), the model may name the shown sentences that
answer (a grammar-constrained choice); each is quoted word for word if it gives what was asked
(eval/RESULTS.md, issue 13). A question asked across documents or set against something ("… despite its
nuclear stance?") also gets the best-matching sentence of a shown passage its answer did not cite, quoted, if
the judge finds that it answers (``complete="quote"``); so does a question asking what someone said, with up to
two sentences of other passages shown in which the same speaker speaks.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from collections.abc import Generator as Steps
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from . import prompts
from .asks import (
    about,
    across_documents,
    asked_office,
    asked_said,
    asks_for_specifics,
    asks_what_was_said,
    gives_what_is_asked,
    gives_words_of,
    holds_office,
    speakers,
    split_parts,
    two_sided,
)
from .config import SEARCH_K, AnswerSettings, Reason
from .context import Excerpt, compact, hidden_by, says_nothing, whole_sentences, widen, with_touching
from .errors import ConfigError, DocumentNotFoundError
from .generation import Generator, make_generator
from .index import Index
from .naming import SEARCHED, named_documents, one_source, source_names
from .picking import pick
from .retriever import Hit, Retriever
from .sentences import idf_overlap, names, support
from .verify import (
    ABSTAIN_LIKE,
    Citation,
    Claim,
    citations,
    echoable,
    giving_sentences,
    source_sentence,
    verify,
    with_markers,
)
from .worker import Worker

__all__ = ["Answer", "AnswerSettings", "AnswerStream", "Assistant", "Citation", "Claim", "Outcome"]

# A sentence the model chooses as evidence must hold this idf-weighted share of the question's content words.
MIN_EVIDENCE_OVERLAP = 0.15
# ... and the judge must give at least this P(yes) that they answer it.
MIN_EVIDENCE_RELEVANCE = 0.5
# The share of the question's idf-weighted words a sentence must hold to be put to the judge when the model chose
# none that it accepts (0.6: between dev q68's 0.52, a false premise, and dev2 d36's 0.73, the answer).
MIN_FALLBACK_OVERLAP = 0.6
# ``complete="quote"``: a shown sentence the answer did not cite is added, quoted, when it holds this idf-weighted
# share of the question's content words, and this share of what the best shown sentence holds (and the judge finds
# that it answers the question).
COMPLETE_OVERLAP = 0.25
COMPLETE_SHARE = 0.75
# A question asking what someone said gains at most this many of the same speaker's sentences (``_said_too``).
SAID_MORE = 2
# A question asked across documents is answered until this many documents are cited (or tried).
MULTI_DOCUMENTS = 2
# A two-part question's answer covers its second part when it holds this share of the part's own content words.
COVERED = 0.5
# A later part's sentence is not shown when this share of its content words was said already.
SAID_ALREADY = 0.75
# The injection screen drops an answer sentence whose source the model finds an order with P(yes) at least this.
ORDER_THRESHOLD = 0.5
_FOLLOW_UP = re.compile(
    r"^(?:and|but|also|what about|how about|so|then|why|same)\b|\b(?:it|its|they|them|their|this|that|these|"
    r"those|he|she|his|her|there|the same)\b", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Answer:
    """A verified answer, or an abstention (``abstained``, with its ``reason``) naming the closest passages."""

    question: str
    standalone: str                 # the question retrieval used (a rewritten follow-up)
    text: str                       # the verified answer shown to the user, or the abstention
    claims: tuple[Claim, ...]
    citations: tuple[Citation, ...]
    passages: tuple[Hit, ...]       # everything retrieved, in prompt order (closest first)
    abstained: bool
    reason: Reason | Literal[""] = ""  # why we abstained (config.Reason); "" when we answered
    raw: str = ""                   # what the model wrote, before verification
    timings: dict[str, float] = field(default_factory=dict)
    parts: tuple[str, ...] = ()     # the questions answered one by one, when it was asked in parts

    def to_dict(self) -> dict[str, Any]:
        """The ``rag ask --json`` object."""
        return {
            "question": self.question,
            "standalone_question": self.standalone,
            "answer": self.text,
            "abstained": self.abstained,
            "reason": self.reason,
            "citations": [{"n": c.n, "doc_id": c.doc_id, "title": c.title, "start": c.start, "end": c.end,
                           "text": c.text, "quote": c.quote, "quote_start": c.quote_start,
                           "quote_end": c.quote_end, "page": c.page} for c in self.citations],
            "sentences": [asdict(claim) | {"citations": list(claim.citations)} for claim in self.claims],
            "closest": [{"n": n, "doc_id": h.doc_id, "title": h.title, "start": h.start, "end": h.end,
                         "text": h.text} for n, h in enumerate(self.passages[:3], 1)] if self.abstained else [],
            "raw": self.raw,
            "parts": list(self.parts),
            "timings": self.timings,
        }


class Outcome:
    """What an answer job fills in for its stream. The job holds only this, never the stream, so a
    stream its reader dropped can be garbage-collected, which cancels the job."""

    __slots__ = ("answer", "passages")

    def __init__(self) -> None:
        self.passages: tuple[Hit, ...] = ()
        self.answer: Answer | None = None


class AnswerStream:
    """Iterate for the answer's text as the model writes it; ``answer`` holds the verified result after.

    ``passages`` is set before the first piece arrives, so a UI can show sources while it streams.
    Any thread may read it, ``close()`` it or drop it: the answer is made on the assistant's worker
    thread, and a stream closed or garbage-collected before the end cancels it there.
    """

    def __init__(self, run: Iterator[str], outcome: Outcome | None = None) -> None:
        self._run = run
        self._outcome = outcome or Outcome()

    @property
    def passages(self) -> tuple[Hit, ...]:
        """The passages found, numbered as the model sees them (set before the first piece)."""
        return self._outcome.passages

    @property
    def answer(self) -> Answer | None:
        """The verified answer once the stream has ended (None if it was stopped)."""
        return self._outcome.answer

    def __iter__(self) -> Iterator[str]:
        return iter(self._run)

    def updates(self, every: float) -> Iterator[str | None]:
        """The text as it is written, with ``None`` whenever nothing new came for ``every`` seconds
        (waiting behind another question, retrieving, verifying). A web server's worker thread that
        steps this reader gets control back that often, so a Stop can close it at once.

        >>> from rag.testing import tiny_workspace
        >>> stream = tiny_workspace().assistant.stream("When does the ferry leave?")
        >>> text = "".join(piece for piece in stream.updates(every=0.05) if piece)
        >>> "7:45" in text, "7:45" in stream.answer.text
        (True, True)
        """
        get = getattr(self._run, "get", None)  # a Feed; on the worker's own thread, a plain generator
        if get is None:
            yield from self._run
            return
        while True:
            try:
                yield get(every)
            except TimeoutError:
                yield None
            except StopIteration:
                return

    def close(self) -> None:
        """Stop generating (a stop button): frees the model for the next question; ``answer`` stays None
        unless it was already complete."""
        close = getattr(self._run, "close", None)
        if close:
            close()

    def result(self) -> Answer:
        """Drain the stream and return the verified answer."""
        for _ in self:
            pass
        assert self.answer is not None
        return self.answer


class Assistant:
    """Answers questions from an ``Index``. Cheap to build; ``warm_up()`` loads models ahead of time."""

    def __init__(self, index: Index, settings: AnswerSettings | None = None,
                 generator: Generator | None = None, *, retriever: Retriever | None = None,
                 worker: Worker | None = None) -> None:
        self.index = index
        self.settings = settings or AnswerSettings()
        self.retriever = retriever or Retriever(index)
        self.generator = generator or make_generator(self.settings.generator, self.settings.model,
                                                     **self.settings.generator_options())
        # One answer at a time, each made from start to end on this worker's thread: a 2-core CPU can't do
        # two well, and no lock is ever held across a yield to a reader that may vanish.
        self._worker = worker or Worker("rag-answers")

    def warm_up(self) -> None:
        """Load the index, the embedding model and the answer model, and read the fixed prompts."""
        self.retriever.warm_up()
        self.generator.warm_up()
        self.generator.prime(self.system_prompts())

    def system_prompts(self) -> list[str]:
        """The fixed system prompts its answers read, the answer's own last: ``prime`` them in this order and
        the model's context already holds the answer prompt when the first question comes."""
        s = self.settings
        return [prompts.JUDGE_SYSTEM, *([prompts.ORDER_SYSTEM] if s.injection_defence == "screen" else []),
                prompts.ANSWER_SYSTEMS[s.prompt]]

    def exclusive(self) -> threading.Lock:
        """The lock the answer worker holds while it makes an answer, from retrieval to verification.
        Hold it (in one ``with`` block, on one thread) to change the index between answers
        (``with assistant.exclusive(): index.add(...)``) so no answer mixes two index states."""
        return self._worker.busy()

    def waiting(self) -> int:
        """Questions waiting for the worker (not counting the one it answers)."""
        return self._worker.pending()

    def with_settings(self, **changes: Any) -> Assistant:
        """An assistant with some settings changed (``k=3``, ``mode="dense"``...) that shares this one's
        index, retriever, worker (so one answer runs at a time across all of them) and, when the
        generator and model stay the same, its loaded model."""
        settings = AnswerSettings.from_dict({**self.settings.to_dict(), **changes})
        same_model = ((settings.generator, settings.model, settings.generator_options())
                      == (self.settings.generator, self.settings.model, self.settings.generator_options()))
        return Assistant(self.index, settings, self.generator if same_model else None, retriever=self.retriever,
                         worker=self._worker)

    def ask(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        """Answer ``question`` (``history``: earlier (question, answer) pairs of the conversation).

        >>> from rag.testing import tiny_workspace
        >>> answer = tiny_workspace().assistant.ask("When does the ferry leave?")  # the extractive generator
        >>> answer.abstained, [(c.n, c.doc_id, c.quote[:40]) for c in answer.citations]
        (False, [(1, 'harbour.txt', 'The ferry to Somes Island leaves at 7:45')])
        """
        return self.stream(question, history).result()

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()) -> AnswerStream:
        """Like ``ask``, but the text can be read as it is generated.

        >>> from rag.testing import tiny_workspace
        >>> assistant = tiny_workspace().assistant
        >>> stream = assistant.stream("And the fare?", history=[("When does the ferry leave?", "At 7:45 [1].")])
        >>> pieces = list(stream)                        # the text, as it is written
        >>> stream.answer.standalone, [c.doc_id for c in stream.answer.citations]
        ('When does the ferry leave? And the fare?', ['harbour.txt'])
        """
        question = (question or "").strip()
        if not question:
            raise ConfigError("the question is empty")
        out, history = Outcome(), list(history)
        return AnswerStream(self._worker.stream(lambda: self._run(out, question, history)), out)

    def _run(self, stream: Outcome, question: str, history: list[tuple[str, str]]) -> Iterator[str]:
        s = self.settings
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        # Runs on the worker thread, which holds exclusive() meanwhile.
        standalone = question
        if history and _FOLLOW_UP.search(question):
            standalone = self.generator.rewrite(history, question)
            timings["rewrite_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        # The question is answered whole; then, for a question with parts, each part the model tends to leave out
        # is answered on its own. A job: (what the model is asked, its passages or None to search for them, what
        # the answer's ``parts`` calls it).
        jobs: list[tuple[str, tuple[Hit, ...] | None, str]] = [(standalone, None, standalone)]
        done: list[_Part] = []
        while len(done) < len(jobs):
            asked, found, _ = jobs[len(done)]
            hits = self._search(asked) if found is None else found
            documents: dict[str, str] = {}  # whole document texts, each read once per answer, only when needed
            if s.passage_edges == "sentences":
                documents = self._documents(hits)
                hits = tuple(widen(h, documents[h.doc_id]) for h in hits)
            stream.passages = hits
            _add(timings, "retrieval_s", time.perf_counter() - t1)
            lead = "\n\n" if any(p.raw or p.kept for p in done) else ""
            done.append((yield from self._part(stream, asked, hits, documents, timings, t0, lead)))
            t1 = time.perf_counter()
            if len(done) == 1 and s.parts == "parts":
                jobs += self._later_parts(standalone, done[0])
        hits, claims, reason = done[0].hits, done[0].claims, done[0].reason
        if len(done) > 1:
            hits, claims = _merge(done)
            reason = "" if any(p.kept for p in done) else reason
        stream.passages = hits
        raw = "\n\n".join(p.raw for p in done if p.raw)
        parts = tuple(label for _, _, label in jobs) if len(jobs) > 1 else ()
        if reason:
            stream.answer = self._abstain(question, standalone, hits, reason, raw, timings, t0, claims, parts)
            if all(p.reason == "weak-retrieval" for p in done):  # nothing was written: say so
                yield stream.answer.text
            return
        kept = [c for c in claims if c.supported]
        timings["total_s"] = time.perf_counter() - t0
        stream.answer = Answer(question=question, standalone=standalone, text=" ".join(with_markers(c) for c in kept),
                               claims=tuple(claims), citations=citations(kept, hits), passages=hits, abstained=False,
                               raw=raw, timings=_rounded(timings), parts=parts)

    def _part(self, stream: Outcome, question: str, hits: tuple[Hit, ...], documents: dict[str, str],
              timings: dict[str, float], t0: float, lead: str) -> Steps[str, None, _Part]:
        """Answer ``question`` from ``hits``: compact them, stream the model's answer (the first piece after
        ``lead``), verify it; the verified sentences, or why there are none."""
        s = self.settings
        t1 = time.perf_counter()
        best = max((h.dense_score for h in hits if h.dense_score is not None), default=None)
        if not hits or (best is not None and best < s.min_dense_score):
            return _Part(hits, (), "", "weak-retrieval")
        embedder = self.index.embedder if s.mode != "bm25" else None
        drop = hidden_by(s.injection_defence)
        excerpts = [e for e in compact(question, hits, s.context_tokens, embedder,
                                       self.generator.count_tokens, drop) if e.sentences]
        # Same-document passages side by side (best document first), so each title is written once.
        first = {}
        for i, e in enumerate(excerpts):
            first.setdefault(e.hit.doc_id, i)
        excerpts.sort(key=lambda e: first[e.hit.doc_id])
        hits = tuple(e.hit for e in excerpts)  # numbered as the model sees them
        stream.passages = hits
        _add(timings, "context_s", time.perf_counter() - t1)
        if not excerpts:  # every sentence found was page furniture or an order to the model: nothing to read
            return _Part(hits, (), "", "weak-retrieval")
        t2 = time.perf_counter()
        pieces: list[str] = []
        prefill = 0.0
        for piece in self.generator.answer(question, [(h.title, e.text) for h, e in zip(hits, excerpts, strict=True)],
                                           s.prompt, s.max_tokens):
            if not pieces:
                now = time.perf_counter()
                prefill = now - t2
                if "first_token_s" not in timings:  # the first part's: what a reader waits for
                    timings["first_token_s"], timings["prefill_s"] = now - t0, prefill
                if lead:
                    yield lead
            pieces.append(piece)
            yield piece
        written = time.perf_counter() - t2
        _add(timings, "generation_s", written)
        if pieces:
            _add(timings, "writing_s", written - prefill)
        raw = "".join(pieces).strip()
        t3 = time.perf_counter()
        known = [*(h.text for h in hits), *(h.title for h in hits)]
        unknown_name = echoable(question, known) != question  # a name no passage has: do the documents?
        if s.judge_reads != "excerpt" or unknown_name:
            documents.update(self._documents(hits, documents))
        if unknown_name:
            known += [documents[doc_id] for doc_id in dict.fromkeys(h.doc_id for h in hits)]
        # What the judge reads: the excerpts, the excerpts with the sentences the chunker cut made whole, or with the
        # shown excerpts of the passages each touches.
        if s.judge_reads == "touching":
            judged = with_touching(excerpts, documents)
        elif s.judge_reads == "sentences":
            judged = [whole_sentences(e, documents[e.hit.doc_id]) for e in excerpts]
        else:
            judged = [e.text for e in excerpts]
        claims = verify(raw, hits, judged, question, mode=s.verify, min_support=s.min_support,
                        judge_threshold=s.judge_threshold, judge=self.generator.judge, known=known,
                        trust_support=s.trust_support)
        if s.injection_defence == "screen":
            claims = self._screen(claims, hits)
        kept = [c for c in claims if c.supported]
        relevance = None
        if kept and s.verify == "judge" and s.relevance_threshold > 0:
            # True, cited sentences can still miss the point ("how many soldiers?" answered with when
            # talks began): that is not an answer, and pretending it is hides that the documents are silent.
            relevance = self.generator.answers(question, " ".join(c.text for c in kept))
        _add(timings, "verify_s", time.perf_counter() - t3)
        # "How many?" answered without a number (or "who?" without a name, "how much, in yen?" without yen) is
        # true, maybe, but not an answer. A sentence's first word is a name only if the passages use it as one
        # ("Nagy said …" names Nagy, "Accordingly, …" names nothing).
        named = set().union(*(names(h.text) for h in hits))
        off_topic = (relevance is not None and relevance < s.relevance_threshold) or not gives_what_is_asked(
            question, [c.text for c in kept], named)
        if kept and not off_topic and s.specifics == "sentence" and asks_for_specifics(question):
            # ... nor is a name taken from the sentence beside the one about what was asked.
            # The sentence as the document has it: a chunk may cut a long one ("... 36.4 per cent said the pact").
            documents.update(self._documents(hits, documents))
            giving = [c for c in kept if gives_what_is_asked(question, [c.text], named)]
            sources = [x for c in giving for n in c.citations
                       for x in giving_sentences(question, c.text, widen(hits[n - 1], documents[hits[n - 1].doc_id]))]
            off_topic = not about(question, sources, [x.text for e in excerpts for x in e.sentences])
        # "What did Nagy say about New Zealand?" is not answered by passages that do not name Nagy and New Zealand:
        # someone else's words, or a false premise about what Nagy spoke of.
        if kept and not off_topic and (said := asked_said(question, source_names(question))) is not None:
            # ("... according to the SCMP?" says where the words were read, not what they are about)
            off_topic = not gives_words_of(said, [hits[n - 1].text for c in kept for n in c.citations])
        # Not when the question names someone the passages never mention: that premise is false.
        premise_known = echoable(question, known) == question
        rescue = s.evidence == "rescue" or (s.evidence == "asked" and asks_for_specifics(question))
        if (not kept or off_topic) and rescue and premise_known:
            t4 = time.perf_counter()
            quoted = self._quote_evidence(question, hits, excerpts, named)
            _add(timings, "select_s", time.perf_counter() - t4)
            # Each quoted sentence gives what was asked (a number for "how many"), not only one of them.
            quoted = [c for c in quoted if gives_what_is_asked(question, [c.text], named)]
            if quoted:
                replaced = [replace(c, supported=False, note="does not answer the question") if c.supported else c
                            for c in claims]
                claims, kept, off_topic = [*replaced, *quoted], quoted, False
                yield ("\n\n" if raw else lead) + " ".join(with_markers(c) for c in kept)
        if kept and not off_topic and s.complete == "quote" and two_sided(question) \
                and not asks_for_specifics(question):
            # An answer from one passage often gives one side of what was asked; a sentence of another passage shown
            # may give the other ("despite its nuclear stance": the passage that says it is nuclear-free).
            t5 = time.perf_counter()
            extra = self._complement(question, excerpts, kept)
            _add(timings, "complete_s", time.perf_counter() - t5)
            if extra is not None:
                claims, kept = [*claims, extra], [*kept, extra]
                yield " " + with_markers(extra)
        if kept and not off_topic and s.complete == "quote" and asks_what_was_said(question):
            # What someone said often takes two passages ("no plans to expand …", "… project-by-project, …"): the same
            # speaker's sentences in the passages shown that the answer did not cite, each if the judge finds it
            # answers the question.
            t6 = time.perf_counter()
            more = self._said_too(question, hits, excerpts, kept)
            _add(timings, "complete_s", time.perf_counter() - t6)
            for extra in more:
                claims, kept = [*claims, extra], [*kept, extra]
                yield " " + with_markers(extra)
        if not kept or off_topic:
            reason: Reason = ("model" if ABSTAIN_LIKE.search(raw) or not raw else "unsupported") if not kept \
                else "off-topic"
            return _Part(hits, tuple(claims), raw, reason)
        return _Part(hits, tuple(claims), raw, "")

    def _search(self, question: str, skip: Collection[tuple[str, int, int]] = ()) -> tuple[Hit, ...]:
        """The k passages for ``question`` (``rag.picking``: no more than ``per_document`` of them from one document
        while other documents have passages to offer, from the best 4k; with ``passage_edges="joined"``, touching
        chunks joined), in rank order. Chunks within a ``(doc_id, start, end)`` span in ``skip`` are left out.
        A document the question names as its source (``rag.naming``) is read first, and when the question has one part
        and names one source, asking nothing across documents, it may have all places but one; a passage that says
        nothing (``rag.context.says_nothing``) is read last."""
        s = self.settings
        joined = s.passage_edges == "joined"
        found = self._candidates(question)
        named = self._named(question)
        if named:  # the named documents' own best passages first, found however their words rank overall
            try:
                own = self.retriever.search(question, k=max(len(found), s.k), mode=s.mode, doc_ids=named)
            except DocumentNotFoundError:  # removed since the name was looked up: read in rank order
                named, own = (), []
            found = [*own, *(h for h in found if h.doc_id not in named)]
        # a passage that says nothing (a heading, a disclaimer) is read last; ranks follow the order read
        found = [replace(h, rank=n) for n, h in enumerate(sorted(found, key=lambda h: says_nothing(h.text)), 1)]
        per_document = s.per_document
        if per_document and len(named) == 1 and one_source(question):  # all but one place may go to it
            per_document = max(per_document, s.k - 1)
        return tuple(pick(found, s.k, per_document, self._documents(found) if joined else None, skip))

    def _named(self, question: str) -> tuple[str, ...]:
        """The documents ``question`` names as its source (``rag.naming``); () with ``sources="off"``."""
        if self.settings.sources == "off":
            return ()
        return named_documents(question, lambda name: self.retriever.search(name, k=SEARCHED, mode="bm25"))

    def _candidates(self, question: str) -> list[Hit]:
        """The best 4k passages for ``question``, from which ``k`` are picked."""
        return self.retriever.search(question, k=min(4 * self.settings.k, SEARCH_K[1]), mode=self.settings.mode)

    def _later_parts(self, question: str, whole: _Part) -> list[tuple[str, tuple[Hit, ...], str]]:
        """What to ask, and from which passages, after ``question`` was answered whole (``whole``).

        - The second part of a two-part question, unless the answer already covers it (``COVERED``), from passages
          the answer did not cite (it did not find the second part there). A part that refers back ("what past
          episode illustrates this?") is searched for with what the answer said, and asked with the first part.
        - For a question asked across documents: the question again, of each of the best documents the answer
          did not cite (until ``MULTI_DOCUMENTS`` are cited or tried), from that document's passages alone.
        """
        s = self.settings
        said = " ".join(claim.text for claim in whole.kept)
        cited = {(whole.hits[n - 1].doc_id, whole.hits[n - 1].start, whole.hits[n - 1].end)
                 for claim in whole.kept for n in claim.citations}
        asked = split_parts(question)
        if len(asked) > 1:
            first, second = asked
            if said and support(second, said, given=first) >= COVERED:
                return []
            refers = bool(_FOLLOW_UP.search(second))
            query = f"{second} {said or first}" if refers else second
            hits = self._search(query, skip=cited)
            return [(f"{second} {first}" if refers else second, hits, second)]
        if not across_documents(question):
            return []
        documents = {doc_id for doc_id, _, _ in cited}
        found = self._candidates(question)
        best = [d for d in dict.fromkeys(h.doc_id for h in found) if d not in documents]
        best = best[: MULTI_DOCUMENTS - len(documents)]
        texts = self._documents(found) if s.passage_edges == "joined" else None
        parts = [tuple(pick([h for h in found if h.doc_id == doc_id], s.k, documents=texts)) for doc_id in best]
        return [(question, hits, f"{question} (in {hits[0].title})") for hits in parts]

    def _documents(self, hits: Sequence[Hit], read: dict[str, str] | None = None) -> dict[str, str]:
        """The whole texts of the documents ``hits`` come from, by id; those in ``read`` are not read again."""
        texts = dict(read or {})
        for doc_id in dict.fromkeys(h.doc_id for h in hits):
            if doc_id not in texts:
                doc = self.index.document(doc_id)
                texts[doc_id] = doc.text if doc is not None else ""
        return texts

    def _quote_evidence(self, question: str, hits: tuple[Hit, ...], excerpts: Sequence[Excerpt],
                        named: Collection[str]) -> list[Claim]:
        """The shown sentences the model names as answering ``question``, each a claim quoting it exactly and
        citing its passage; [] when it names none (or can't choose). ``named``: the words ``hits`` use as names
        (see ``rag.asks.gives_what_is_asked``)."""
        numbered = [(n, sentence) for n, e in enumerate(excerpts, 1) for sentence in e.sentences]
        office = asked_office(question)

        def gives(text: str) -> bool:  # "Foreign Minister Winston Peters …" does not say who the defence minister is
            return gives_what_is_asked(question, [text], named) and holds_office(text, office)

        picked = self.generator.select(question, [(hits[n - 1].title, sentence.text) for n, sentence in numbered])
        if picked is None:  # this model can't choose
            return []
        # A choice that shares none of the question's rarer words is a guess (a photo caption, say), not evidence.
        overlap = idf_overlap(question, [sentence.text for _, sentence in numbered])
        chosen = [i for i in picked if overlap[i - 1] >= MIN_EVIDENCE_OVERLAP]
        # The choice is forced to name something or NONE, and small models rarely say NONE: the judge must also
        # find that the chosen sentences give what the question asks (read together: one may say what the other's
        # "it" is). A choice none of whose sentences gives the kind of thing asked (no name for "who?": a pull-quote
        # without its speaker) is no choice either.
        if chosen and not (any(gives(numbered[i - 1][1].text) for i in chosen)
                           and self._relevant(question, [numbered[i - 1][1].text for i in chosen])):
            chosen = []
        # A small model also picks the wrong sentence beside the right one. For a question asking a number, date
        # or name, the sentence sharing most of the question's words that gives that kind of thing is put to the
        # same judge.
        if not chosen and asks_for_specifics(question):
            giving = [i for i, (_, x) in enumerate(numbered, 1) if gives(x.text)]
            best = max(giving, key=lambda i: overlap[i - 1], default=None)
            if best is not None and overlap[best - 1] >= MIN_FALLBACK_OVERLAP \
                    and self._relevant(question, [numbered[best - 1][1].text], judged=True):
                chosen = [best]
        return [Claim(text=" ".join(numbered[i - 1][1].text.split()), citations=(numbered[i - 1][0],), supported=True,
                      support=1.0, note="quoted: the model chose it as evidence", quoted=True)
                for i in sorted(chosen)]

    def _complement(self, question: str, excerpts: Sequence[Excerpt], kept: Sequence[Claim]) -> Claim | None:
        """The shown sentence, of a passage ``kept`` does not cite, that shares most of ``question``'s words, as a
        quoted claim, if it shares enough of them (``COMPLETE_OVERLAP``, ``COMPLETE_SHARE``), says mostly what
        ``kept`` did not, and the judge finds that it answers the question; else None."""
        cited = {n for claim in kept for n in claim.citations}
        shown = [(n, " ".join(sentence.text.split())) for n, e in enumerate(excerpts, 1) for sentence in e.sentences]
        overlap = idf_overlap(question, [text for _, text in shown])
        candidates = [i for i, (n, _) in enumerate(shown) if n not in cited]
        best = max(candidates, key=lambda i: overlap[i], default=None)
        if best is None or overlap[best] < max(COMPLETE_OVERLAP, COMPLETE_SHARE * max(overlap)):
            return None
        n, text = shown[best]
        if not self._adds(question, text, " ".join(claim.text for claim in kept)):
            return None
        return _quoted(text, n, "quoted: it answers the question too")

    def _said_too(self, question: str, hits: tuple[Hit, ...], excerpts: Sequence[Excerpt],
                  kept: Sequence[Claim]) -> list[Claim]:
        """Up to ``SAID_MORE`` shown sentences, of passages ``kept`` does not cite, in which someone the answer (or
        the question) has speaking speaks, as quoted claims: each says mostly what was not said yet, and the judge
        finds that it answers ``question``. The most question-like first."""
        cited = {n for claim in kept for n in claim.citations}
        sources = [source_sentence(claim.text, hits[n - 1]) for claim in kept for n in claim.citations]
        who = set().union(*(speakers(text) for text in [question, *(c.text for c in kept), *sources]))
        shown = [(n, " ".join(sentence.text.split())) for n, e in enumerate(excerpts, 1) if n not in cited
                 for sentence in e.sentences]
        candidates = [(n, text) for n, text in shown if speakers(text) & who]
        overlap = idf_overlap(question, [text for _, text in candidates])
        said = " ".join(claim.text for claim in kept)
        out: list[Claim] = []
        for i in sorted(range(len(candidates)), key=lambda i: -overlap[i]):
            n, text = candidates[i]
            if len(out) < SAID_MORE and self._adds(question, text, said):
                out.append(_quoted(text, n, "quoted: the same speaker on what was asked"))
                said += " " + text
        return sorted(out, key=lambda claim: claim.citations)

    def _adds(self, question: str, text: str, said: str) -> bool:
        """``text`` says mostly what ``said`` did not (``SAID_ALREADY``); the judge finds it answers ``question``."""
        return support(text, said) < SAID_ALREADY and self._relevant(question, [text], judged=True)

    def _relevant(self, question: str, sentences: Sequence[str], judged: bool = False) -> bool:
        """The model, as judge, finds that ``sentences`` answer ``question`` (without a judge: not ``judged``)."""
        relevance = self.generator.answers(question, " ".join(sentences))
        return not judged if relevance is None else relevance >= MIN_EVIDENCE_RELEVANCE

    def _screen(self, claims: list[Claim], hits: tuple[Hit, ...]) -> list[Claim]:
        """Drop answer sentences whose source sentence orders an AI model about: a planted order the model
        obeyed or repeated. Costs one short yes/no read per kept sentence, after the answer is written."""
        out = []
        for claim in claims:
            sources = [source_sentence(claim.text, hits[n - 1]) for n in claim.citations]
            if claim.supported and any((self.generator.gives_orders(t) or 0.0) >= ORDER_THRESHOLD for t in sources):
                claim = replace(claim, supported=False, note="its source gives orders to an AI model")
            out.append(claim)
        return out

    def _abstain(self, question: str, standalone: str, hits: tuple[Hit, ...], reason: Reason, raw: str,
                 timings: dict[str, float], t0: float, claims: Sequence[Claim] = (),
                 parts: tuple[str, ...] = ()) -> Answer:
        timings["total_s"] = time.perf_counter() - t0
        return Answer(question=question, standalone=standalone, text=prompts.ABSTAIN, claims=tuple(claims),
                      citations=(), passages=hits, abstained=True, reason=reason, raw=raw, timings=_rounded(timings),
                      parts=parts)


def _quoted(text: str, n: int, note: str) -> Claim:
    """A shown sentence added to an answer word for word, citing passage ``n``."""
    return Claim(text=text, citations=(n,), supported=True, support=1.0, note=note, quoted=True)


@dataclass(frozen=True)
class _Part:
    """One part of a question, answered: its passages as the model saw them, every sentence written (verified or
    not), those kept, what the model wrote, and why none was kept ("" when some were)."""

    hits: tuple[Hit, ...]
    claims: tuple[Claim, ...]
    raw: str
    reason: Reason | Literal[""]

    @property
    def kept(self) -> tuple[Claim, ...]:
        """The sentences to show: the supported ones, when the part was answered."""
        return () if self.reason else tuple(c for c in self.claims if c.supported)


def _merge(parts: Sequence[_Part]) -> tuple[tuple[Hit, ...], list[Claim]]:
    """The passages of all ``parts`` (each span once) and their sentences, citations renumbered to match. A part
    that did not answer keeps its sentences for the record, none of them shown; a sentence already shown is not
    shown again."""
    hits: list[Hit] = []
    where: dict[tuple[str, int, int], int] = {}
    claims: list[Claim] = []
    earlier = ""  # what the parts before said
    for part in parts:
        number = {}
        for n, hit in enumerate(part.hits, 1):
            number[n] = where.setdefault((hit.doc_id, hit.start, hit.end), len(hits) + 1)
            if number[n] == len(hits) + 1:
                hits.append(hit)
        for claim in part.claims:
            claim = replace(claim, citations=tuple(dict.fromkeys(number[n] for n in claim.citations)))
            if claim.supported and not part.kept:
                claim = replace(claim, supported=False, note=claim.note or "does not answer its part of the question")
            elif claim.supported and earlier and support(claim.text, earlier) >= SAID_ALREADY:
                claim = replace(claim, supported=False, note="said already")
            claims.append(claim)
        earlier = " ".join(c.text for c in claims if c.supported)
    return tuple(hits), claims


def _add(timings: dict[str, float], stage: str, seconds: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + seconds


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in timings.items()}
