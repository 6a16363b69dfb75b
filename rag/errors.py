"""One error hierarchy. ``str(error)`` is a single line a user can act on."""


class RagError(Exception):
    """Base class for every error this package raises on purpose."""


class ConfigError(RagError, ValueError):
    """A setting has a value we cannot use; the message names the setting and the value."""


class DocumentNotFoundError(ConfigError):
    """A document id that is not in the index (``rag status --documents`` lists the ids)."""


class DocumentError(RagError):
    """A file could not be turned into a document (unsupported, empty, binary, undecodable, unreadable)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexNotFoundError(RagError):
    """There is no index where one was expected."""


class IndexIncompatibleError(RagError):
    """The index on disk was built with another format, model or dimension."""


class IndexBusyError(RagError):
    """Another process is writing the index."""
