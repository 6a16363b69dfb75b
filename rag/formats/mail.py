"""E-mail (.eml) through the standard library's ``email``: headers, the body (plain, else HTML), text attachments."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from pathlib import PurePath

from ..errors import DocumentError

HEADERS = ("Subject", "From", "To", "Cc", "Date")
_TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".csv", ".html", ".htm"}


def read_eml(data: bytes, path: str) -> tuple[list[str], str | None]:
    """The message as text: its headers, body and text attachments (each under ``Attachment: NAME``); the title is
    its subject."""
    message = BytesParser(policy=policy.default).parsebytes(data)
    headers = [(name, _header(message, name)) for name in HEADERS]
    if not any(value for name, value in headers if name != "Cc"):
        raise DocumentError(path, "not an e-mail message (no Subject, From, To or Date header)")
    lines = [f"{name}: {value}" for name, value in headers if value]
    assert isinstance(message, EmailMessage)  # policy.default's message class
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        lines += ["", _text(body, path)]
    for part in message.iter_attachments():
        name = part.get_filename() or ""
        if part.get_content_maintype() == "text" or PurePath(name).suffix.lower() in _TEXT_SUFFIXES:
            lines += ["", f"Attachment: {name or part.get_content_type()}", _text(part, path)]
    return ["\n".join(lines)], _header(message, "Subject") or None


def _header(message: Message, name: str) -> str:
    """One line; a header the parser cannot make sense of is read as it was written."""
    try:
        value = str(message.get(name) or "")
    except Exception:  # the header's parser failed on malformed words: keep its raw text
        value = next((str(v) for k, v in message.raw_items() if k.lower() == name.lower()), "") \
            if isinstance(message, EmailMessage) else ""
    return " ".join(value.split())


def _text(part: Message, path: str) -> str:
    """A part's text: decoded by its charset (else as ours are: ``documents.decode``), HTML reduced to its text."""
    from ..documents import _html, decode

    raw = part.get_payload(decode=True)
    payload = raw if isinstance(raw, bytes) else b""
    try:
        text = payload.decode(part.get_content_charset() or "utf-8")
    except (LookupError, UnicodeDecodeError):  # an unknown or wrong charset: detect it, as for our text files
        try:
            text = decode(payload, path)
        except DocumentError:  # a binary attachment that claims to be text
            return ""
    if part.get_content_subtype() == "html":
        return _html(text.encode("utf-8"), path)[0]
    return text
