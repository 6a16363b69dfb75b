"""Property-based tests of the HTTP API against its own OpenAPI spec (schemathesis + hypothesis).

The real server (uvicorn, real embedding model and FAISS, extractive generator) runs on a dedicated
index, since generated requests upload and delete documents. Every generated request, valid or
not, must get a documented, non-5xx answer whose body matches the spec.
"""

from __future__ import annotations

import shutil

import pytest
import schemathesis  # a dev dependency: missing, these tests must fail, not skip
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from rag import AnswerSettings, Index, Workspace

from .conftest import CORPUS, serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a fuzzer

OPERATIONS = [("/v1/search", "POST"), ("/v1/ask", "POST"), ("/v1/documents", "GET"), ("/v1/documents", "POST"),
              ("/v1/documents/{doc_id}", "DELETE"), ("/health", "GET")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("fuzz")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in sorted(p.name for p in CORPUS.iterdir())[:2]:
        shutil.copy(CORPUS / name, corpus / name)
    index = Index(root / "index")
    index.sync([corpus])
    workspace = Workspace(index, AnswerSettings(generator="extractive"), uploads=root / "uploads", max_upload_mb=1)
    workspace.warm_up()
    from rag.http_api import create_api

    with serving(create_api(workspace)) as url:
        yield url, schemathesis.openapi.from_url(url + "openapi.json"), index


def test_the_spec_lists_every_route(served):
    _, schema, _ = served
    listed = {(op.path, op.method.upper()) for op in (r.ok() for r in schema.get_all_operations())}
    assert listed == set(OPERATIONS)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_generated_requests_get_documented_non_5xx_answers(served, path: str, method: str):
    url, schema, index = served
    operation = schema[path][method]
    before = {d["doc_id"] for d in index.documents()}

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(case=operation.as_strategy())
    def check(case):
        case.call_and_validate(base_url=url.rstrip("/"), timeout=60,
                               checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                       response_schema_conformance])

    check()
    # Generated uploads are refused (no supported file name) and generated ids match nothing: the index is intact.
    assert before <= {d["doc_id"] for d in index.documents()}


def test_the_spec_has_real_schemas(served):
    _, schema, _ = served
    raw = schema.raw_schema
    search = raw["paths"]["/v1/search"]["post"]
    body = search["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SearchRequest"}
    k = raw["components"]["schemas"]["SearchRequest"]["properties"]["k"]
    assert (k["minimum"], k["maximum"]) == (1, 100)
    assert {"400", "401", "413", "422", "503"} <= set(search["responses"])
