"""What the model reads: compaction keeps what a sentence leans on and leaves page furniture out."""

from __future__ import annotations

from dataclasses import replace

from rag.context import compact, is_furniture
from rag.retriever import Hit


def hit(text: str, rank: int = 1) -> Hit:
    return Hit(rank=rank, chunk_id=rank, doc_id=f"d{rank}.txt", title=f"D{rank}", text=text, start=0,
               end=len(text), score=1.0)


def words(text: str) -> int:
    return len(text.split())


def test_captions_datelines_and_reprint_notices_are_furniture():
    for line in ("Photo: AP", "Image: Associated Press / Alamy Stock Photo", "12 May 2024 06:37", "10 Apr, 2024 01:35",
                 "Caliber.Az reprints the article.", "WRITTEN BY",
                 "The views expressed in this Commentary are the author's, and do not represent those of RUSI."):
        assert is_furniture(line), line
    for line in ("The fallout cost South Korea's economy some US$7.5 billion that year alone.",
                 "Photographs of the summit were released on Monday.", "By 2030 the pact will have eight areas."):
        assert not is_furniture(line), line


def test_furniture_is_not_shown_to_the_model():
    text = "Photo: AP. Japan wants to join Pillar 2. 12 May 2024 06:37"
    [excerpt] = compact("Does Japan want to join Pillar 2?", [hit(text)], budget=0)
    assert [s.text for s in excerpt.sentences] == ["Japan wants to join Pillar 2."]


def test_a_sentence_that_only_repeats_the_title_is_not_shown_but_one_that_goes_on_is():
    page = Hit(rank=1, chunk_id=1, doc_id="d.txt", title="Aukus expansion: Japan wants in on Pillar 2 - but trust "
               "is still a sticking point", text="", start=0, end=0, score=1.0)
    headline = "Japan wants in on Pillar 2 - but trust is still sticking point Aukus expansion\n\n"
    body = "Japan wants in on Pillar 2 because it builds submarines."
    [excerpt] = compact("Why does Japan want in?", [replace(page, text=headline + body, end=len(headline + body))],
                        budget=0)
    assert [s.text for s in excerpt.sentences] == [body]


def test_a_sentence_that_refers_back_brings_the_one_before_it():
    text = ("China retaliated against South Korea over the THAAD deployment in 2017. Tourism and retail suffered "
            "for a long time after that, analysts said. The fallout cost South Korea's economy some US$7.5 billion "
            "that year alone. Photo: AP. Caliber.Az reprints the article. Other news followed on many topics today.")
    question = "How much did the fallout cost South Korea's economy?"
    [excerpt] = compact(question, [hit(text)], budget=25, count_tokens=words)
    kept = [s.text for s in excerpt.sentences]
    assert kept[-1].startswith("The fallout cost") and kept[-2].startswith("Tourism and retail")
    assert not any(is_furniture(s) for s in kept)


def test_a_quotation_goes_on_with_the_sentence_that_names_its_speaker():
    text = ("Other news came first on many unrelated topics today. “South Korea has much to gain from joining, "
            "especially now,” Ban Kil-joo, a research professor at Korea University, said. “The AUKUS Pillar 2 isn't "
            "just a security partnership. It's more like a new Cold War-era military alliance.")
    question = "Which academic said Pillar 2 is more like a new Cold War-era military alliance?"
    [excerpt] = compact(question, [hit(text)], budget=40, count_tokens=words)
    kept = [s.text for s in excerpt.sentences]
    assert kept[-1].startswith("It's more like") and kept[-2].startswith("“The AUKUS")
    assert "Ban Kil-joo" in kept[-3]  # two steps back: the sentence the quotation's speaker is named in
    assert not kept[0].startswith("Other news")


def test_a_second_strong_sentence_of_the_top_passage_comes_before_a_weak_best_sentence_of_another():
    top = hit("Doo said the lattice architecture is made of small cooperation groups. Small cooperation groups of "
              "the lattice architecture include the Quad.", rank=1)
    weak = hit("Several groups of senators agree.", rank=2)
    question = "Which small cooperation groups make up the lattice architecture?"
    excerpts = compact(question, [top, weak], budget=21, count_tokens=words)
    assert [s.text for s in excerpts[0].sentences][-1].endswith("include the Quad.")
    assert excerpts[1].sentences == ()
