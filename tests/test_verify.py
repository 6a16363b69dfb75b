"""Sentence-by-sentence verification (``rag.verify.verify``) on hand-made passages: fast, no model."""

from __future__ import annotations

from rag.retriever import Hit
from rag.verify import verify

PASSAGES = (
    "South Korea has openly expressed its wish to join Pillar 2, particularly in the face of the threats posed "
    "by North Korea's nuclear and missile capabilities.",
    "Rain is expected on Monday in Seoul.",
    "There is an ongoing discussion as to whether South Korea will join the AUKUS Pillar 2.",
)


def hits(*texts: str) -> list[Hit]:
    return [Hit(rank=n, chunk_id=n, doc_id=f"d{n}.txt", title=f"Doc {n}", text=text, start=0, end=len(text),
                score=1.0) for n, text in enumerate(texts, 1)]


def test_a_sentence_citing_the_passage_next_to_the_right_one_is_cited_to_the_right_one():
    [claim] = verify("North Korea's nuclear and missile capabilities threaten South Korea [2].", hits(*PASSAGES),
                     min_support=0.7)
    assert claim.supported and claim.citations == (1,)
    assert claim.note == "citation [2] corrected to [1]"


def test_a_sentence_needing_a_second_passage_beside_the_one_it_cites_gets_both():
    # [1] holds all the sentence says but "AUKUS", which only the cited [3] gives.
    raw = "North Korea's nuclear and missile capabilities push South Korea to join AUKUS Pillar 2 [3]."
    [claim] = verify(raw, hits(*PASSAGES), min_support=0.7)
    assert claim.supported and claim.citations == (1, 3)
    assert claim.note == "citation [1] added"


def test_no_passage_is_added_to_a_sentence_that_two_passages_together_do_not_state():
    raw = "North Korea's nuclear tests worry Canada and Japan [3]."
    [claim] = verify(raw, hits(*PASSAGES), min_support=0.7)
    assert not claim.supported and claim.citations == (3,)


def test_a_sentence_citing_nothing_is_not_cited_to_a_passage_lacking_one_of_its_names():
    [claim] = verify("North Korea's capabilities push South Korea to join AUKUS Pillar 2.", hits(*PASSAGES),
                     min_support=0.7)
    assert not claim.supported and claim.note == "no citation"


def test_a_second_passage_never_supplies_a_number_or_a_date():
    # [1] says all but when; the cited [2] gives a date, for something else: joined, the sentence would date the
    # submarine by the pact's founding.
    raw = "Australia will receive its first nuclear-powered submarine under Pillar 1 in September 2021 [2]."
    [claim] = verify(raw, hits("Australia will receive its first nuclear-powered submarine under Pillar 1.",
                               "The pact was first unveiled in September 2021."), min_support=0.7)
    assert not claim.supported and claim.citations == (2,)


def test_a_name_inside_a_hyphenated_word_of_the_passage_counts_as_given():
    # "Chicago-based" gives "Chicago": the dev3 question e05 was abstained on as "not in the cited passages: chicago".
    passage = "Eleanor Shiori Hughes is a non-resident fellow at Chicago-based economic research think tank EconVue."
    question = "In which city is the EconVue fellow's think tank based?"
    [claim] = verify("Hughes is a fellow at a think tank based in Chicago [1].", hits(passage), min_support=0.7,
                     question=question)
    assert claim.supported and claim.citations == (1,)
    [invented] = verify("Hughes is a fellow at a think tank based in Boston [1].", hits(passage), min_support=0.7,
                        question=question)
    assert not invented.supported and invented.note == "not in the cited passages: boston"
