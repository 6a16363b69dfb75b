"""The LangChain retriever on the real index, alone and inside a small chain."""

from __future__ import annotations

import subprocess
import sys

import pytest
from langchain_core.documents import Document  # a dev dependency: missing, these tests must fail, not skip
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from rag import ConfigError, Retriever
from rag.langchain import RagRetriever

QUESTION = "Which fighter jet project was involved in the South Korean leak case?"


@pytest.mark.integration
def test_documents_carry_our_text_and_metadata(real_index):
    docs = RagRetriever(retriever=real_index, k=3, mode="hybrid").invoke(QUESTION)
    hits = Retriever(real_index).search(QUESTION, k=3)
    assert [d.page_content for d in docs] == [h.text for h in hits]
    for doc, hit in zip(docs, hits, strict=True):
        assert isinstance(doc, Document)
        assert {k: doc.metadata[k] for k in ("doc_id", "title", "start", "end", "score", "rank", "chunk_id", "page")} \
            == {"doc_id": hit.doc_id, "title": hit.title, "start": hit.start, "end": hit.end, "score": hit.score,
                "rank": hit.rank, "chunk_id": hit.chunk_id, "page": hit.page}
        text = real_index.document(doc.metadata["doc_id"]).text
        assert text[doc.metadata["start"]:doc.metadata["end"]] == doc.page_content


@pytest.mark.integration
def test_built_from_a_folder_with_a_document_filter(real_index):
    doc = "004_07f60d43413d9997.txt"
    docs = RagRetriever(retriever=str(real_index.path), k=2, mode="bm25", doc_ids=[doc]).invoke("Japan technology")
    assert [d.metadata["doc_id"] for d in docs] == [doc, doc] and docs[0].metadata["mode"] == "bm25"
    with pytest.raises(ConfigError, match="the query is empty"):
        RagRetriever(retriever=real_index).invoke("  ")
    with pytest.raises(ValueError, match="mode must be one of hybrid, dense, bm25"):
        RagRetriever(retriever=real_index, mode="fuzzy")
    with pytest.raises(ValueError, match="less than or equal to 100"):
        RagRetriever(retriever=real_index, k=500)


@pytest.mark.integration
def test_inside_a_chain_the_model_reads_the_retrieved_passages(real_index):
    def format_docs(docs: list[Document]) -> str:
        return "\n\n".join(f"[{d.metadata['doc_id']} {d.metadata['start']}:{d.metadata['end']}] {d.page_content}"
                           for d in docs)

    prompt = ChatPromptTemplate.from_messages([("system", "Answer from these passages only:\n{context}"),
                                               ("human", "{question}")])
    seen: list[str] = []

    def model(prompt_value) -> str:  # a stand-in LLM: records what it read, names the passage holding the answer
        text = prompt_value.to_string()
        seen.append(text)
        lines = [line for line in text.splitlines() if line.startswith("[")]
        line = next((line for line in lines if "KF-21" in line), lines[0])
        return "The KF-21 project " + line.split("]")[0] + "]"

    chain = ({"context": RagRetriever(retriever=real_index, k=4) | format_docs, "question": RunnablePassthrough()}
             | prompt | RunnableLambda(model))
    answer = chain.invoke(QUESTION)
    assert answer.startswith("The KF-21 project [00") and QUESTION in seen[0]
    cited = answer.split("[")[1].rstrip("]").split()
    doc_id, (start, end) = cited[0], map(int, cited[1].split(":"))
    assert "KF-21" in real_index.document(doc_id).text[start:end]
    chain.batch([QUESTION, "Who said New Zealand was still a long way from deciding?"])
    assert "New Zealand" in seen[-1] or "New Zealand" in seen[-2]


def test_a_missing_langchain_says_how_to_install_it():
    code = "import sys; sys.modules['langchain_core'] = None; import rag.langchain"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert 'ImportError: rag.langchain needs langchain-core: pip install ".[langchain]"' in run.stderr
