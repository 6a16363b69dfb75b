"""Every error class carries its HTTP status; the API answers with it (most specific class wins)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import rag
from rag import errors
from rag.http_api import install_errors

EXPECTED = {
    errors.RagError: 400,
    errors.ConfigError: 400,
    errors.DocumentNotFoundError: 404,
    errors.ModelError: 503,
    errors.DocumentError: 400,
    errors.IndexNotFoundError: 503,
    errors.IndexIncompatibleError: 503,
    errors.IndexBusyError: 503,
    errors.IndexDamagedError: 503,
    errors.IndexWriteError: 503,
    errors.BusyError: 429,
    errors.WaitTimeoutError: 503,
    errors.StoreError: 503,
}


def every_subclass(cls: type) -> set[type]:
    return {cls} | {sub for child in cls.__subclasses__() for sub in every_subclass(child)}


def test_every_error_class_of_the_package_has_an_expected_status():
    defined = {cls for cls in every_subclass(errors.RagError) if cls.__module__.startswith("rag.")}
    assert defined == set(EXPECTED), "a new error class needs its status decided here"


def make(cls: type[errors.RagError]) -> errors.RagError:
    return cls("file.txt", "unreadable") if cls is errors.DocumentError else cls(f"{cls.__name__} happened")


@pytest.mark.parametrize("cls", sorted(EXPECTED, key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_the_api_answers_each_error_with_its_class_status_and_one_line(cls):
    app = FastAPI()

    @app.get("/fail")
    def fail():
        raise make(cls)

    install_errors(app)
    reply = TestClient(app).get("/fail")
    assert reply.status_code == EXPECTED[cls] == cls.status
    assert reply.json() == {"error": str(make(cls)), "type": cls.__name__}


def test_a_missing_model_is_a_server_problem_not_a_bad_request():
    """The bug this replaced: ModelError subclasses ConfigError, which an ordered table matched first (400)."""
    assert issubclass(rag.ModelError, rag.ConfigError) and rag.ModelError.status == 503
    assert rag.models.ModelError is rag.ModelError
