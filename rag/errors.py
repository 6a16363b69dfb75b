"""One error hierarchy. ``str(error)`` is a single line a user can act on.

Each class carries the HTTP status it means (``status``); a subclass that says nothing inherits its
parent's, so the most specific class wins by the class hierarchy, as in starlette's handler lookup:

    >>> DocumentNotFoundError("no document 'x'").status, ConfigError("k must be 1..20").status
    (404, 400)
    >>> ModelError("the answer model is missing").status   # a ConfigError, but the server's fault
    503
"""

from typing import ClassVar


class RagError(Exception):
    """Base class for every error this package raises on purpose."""

    status: ClassVar[int] = 400


class ConfigError(RagError, ValueError):
    """A setting has a value we cannot use; the message names the setting and the value."""


class DocumentNotFoundError(ConfigError):
    """A document id that is not in the index (``rag status --documents`` lists the ids)."""

    status = 404


class ModelError(ConfigError):
    """The answer model is missing, damaged or cannot run here; the message says how to fix it."""

    status = 503


class DocumentError(RagError):
    """A file could not be turned into a document (unsupported, empty, binary, undecodable, unreadable)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class BusyError(RagError):
    """Too many questions are already waiting for the model; ``retry_after`` seconds is a fair wait."""

    status = 429

    def __init__(self, message: str, retry_after: int = 10) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WaitTimeoutError(RagError):
    """A question waited for the ones before it longer than the server allows."""

    status = 503


class IndexNotFoundError(RagError):
    """There is no index where one was expected."""

    status = 503


class IndexIncompatibleError(RagError):
    """The index on disk was built with another format, model or dimension."""

    status = 503


class IndexDamagedError(RagError):
    """No generation of the index can be read (truncated, corrupted or missing files)."""

    status = 503


class IndexWriteError(RagError):
    """Writing the next generation failed (a full disk, an I/O error); the previous one still serves."""

    status = 503


class IndexBusyError(RagError):
    """Another process is writing the index."""

    status = 503


class StoreError(RagError):
    """A PostgreSQL store (``rag.pg``) cannot be used: unreachable, refused, or missing the pgvector extension."""

    status = 503
