"""Documents per second per format, on a folder a person could have (issue 16, item 5).

Each format's folder holds the five bundled articles written in that format with the format's own library:
a Word file per article (a heading, then its paragraphs), a presentation (a slide per paragraph), a
workbook and a CSV (a row per paragraph under a header), an EPUB (a chapter per five paragraphs), an ODT,
an e-mail, and the plain text itself for comparison. Each folder is indexed from nothing with the real
embedding model (read, clean, chunk, embed, write), three times; the median is reported.

    python eval/bench_formats.py --out eval/reports/bench-formats.json
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def articles() -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of each bundled article, as its cleaned text has them."""
    from rag.documents import load_document

    out = []
    for path in sorted(CORPUS.glob("*.txt")):
        doc = load_document(path)
        out.append((doc.title, [p.strip() for p in doc.text.split("\n\n") if p.strip()]))
    return out


def _saved(save: Callable[[io.BytesIO], object]) -> bytes:
    buffer = io.BytesIO()
    save(buffer)
    return buffer.getvalue()


def docx(title: str, paragraphs: list[str]) -> bytes:
    from docx import Document

    d = Document()
    d.add_heading(title, level=1)
    for p in paragraphs:
        d.add_paragraph(p)
    return _saved(d.save)


def pptx(title: str, paragraphs: list[str]) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    for i, p in enumerate(paragraphs):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        heading = slide.shapes.title
        assert heading is not None  # the "Title and Content" layout has one
        heading.text = f"{title[:40]} ({i + 1})"
        slide.placeholders[1].text = p  # pyright: ignore[reportAttributeAccessIssue]
    return _saved(deck.save)


def xlsx(title: str, paragraphs: list[str]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "Article"
    sheet.append(["paragraph", "text"])
    for i, p in enumerate(paragraphs, 1):
        sheet.append([i, p])
    return _saved(book.save)


def csv(title: str, paragraphs: list[str]) -> bytes:
    import csv as csv_module

    text = io.StringIO()
    writer = csv_module.writer(text)
    writer.writerow(["paragraph", "text"])
    writer.writerows([i, p] for i, p in enumerate(paragraphs, 1))
    return text.getvalue().encode()


def epub(title: str, paragraphs: list[str]) -> bytes:
    from ebooklib import epub as e

    book = e.EpubBook()
    book.set_identifier(title[:20])
    book.set_title(title)
    book.set_language("en")
    chapters = []
    for n, i in enumerate(range(0, len(paragraphs), 5), 1):
        chapter = e.EpubHtml(title=f"Part {n}", file_name=f"part{n}.xhtml", lang="en")
        chapter.content = f"<h1>Part {n}</h1>" + "".join(f"<p>{_escape(p)}</p>" for p in paragraphs[i:i + 5])
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.spine = ["nav", *chapters]
    book.add_item(e.EpubNcx())
    book.add_item(e.EpubNav())
    return _saved(lambda buffer: e.write_epub(buffer, book))


def odt(title: str, paragraphs: list[str]) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    d = OpenDocumentText()
    body = d.text  # pyright: ignore[reportAttributeAccessIssue]
    body.addElement(H(outlinelevel=1, text=title))
    for p in paragraphs:
        body.addElement(P(text=p))
    return _saved(d.write)


def eml(title: str, paragraphs: list[str]) -> bytes:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = title, "news@example.com", "reader@example.com"
    message.set_content("\n\n".join(paragraphs))
    return bytes(message)


def txt(title: str, paragraphs: list[str]) -> bytes:
    return (title + "\n\n" + "\n\n".join(paragraphs)).encode()


def _escape(text: str) -> str:
    import html

    return html.escape(text)


FORMATS: dict[str, Callable[[str, list[str]], bytes]] = {
    "txt": txt, "docx": docx, "pptx": pptx, "xlsx": xlsx, "csv": csv, "epub": epub, "odt": odt, "eml": eml}


def run(runs: int) -> dict:
    from rag import Index
    from rag.embedding import get_embedder

    source = articles()
    get_embedder().warm_up()  # the model loads once, outside the timings
    results = {}
    for kind, write in FORMATS.items():
        times, chunks, size = [], 0, 0
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / kind
            folder.mkdir()
            for i, (title, paragraphs) in enumerate(source):
                data = write(title, paragraphs)
                size += len(data)
                (folder / f"article{i}.{kind}").write_bytes(data)
            for r in range(runs):
                index = Index(Path(tmp) / f"index{r}")
                t0 = time.perf_counter()
                report = index.sync([folder])
                times.append(time.perf_counter() - t0)
                chunks = report.chunks
                if report.problems:
                    raise SystemExit(f"{kind}: {report.problems}")
        median = statistics.median(times)
        results[kind] = {"documents": len(source), "bytes": size, "chunks": chunks,
                         "seconds_median": round(median, 3), "seconds": [round(t, 3) for t in times],
                         "documents_per_s": round(len(source) / median, 2),
                         "chunks_per_s": round(chunks / median, 1)}
        print(f"{kind:5s} {len(source)} docs, {size / 1e3:7.1f} kB, {chunks:3d} chunks: "
              f"{median:5.2f} s median -> {len(source) / median:5.2f} docs/s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Index builds per format (median reported).")
    parser.add_argument("--out", type=Path, help="Write the results as JSON here.")
    args = parser.parse_args()
    from rag_eval.processes import cpu_name  # pyright: ignore[reportMissingImports]

    results = {"machine": cpu_name(), "date": time.strftime("%Y-%m-%d %H:%M"), "formats": run(args.runs)}
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
