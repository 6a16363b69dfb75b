"""The OpenAI Chat Completions request we accept, and how its messages become a question and a history.

Only what changes the answer is read: the last ``user`` message is the question and earlier
``user``/``assistant`` turns are the conversation (for follow-ups). ``system`` and ``developer``
messages, tool messages and sampling parameters (``temperature``, ``max_tokens``, ``top_p``, ``stop``,
``seed``…) are accepted and ignored: the answer's wording, length and citations are the grounded
pipeline's, whatever the client asks. Unknown fields are ignored too, as clients send many.

    >>> request = ChatRequest.model_validate({"model": "rag", "messages": [
    ...     {"role": "system", "content": "You are helpful."},
    ...     {"role": "user", "content": "When does the ferry leave?"},
    ...     {"role": "assistant", "content": "At 7:45 [1]."},
    ...     {"role": "user", "content": [{"type": "text", "text": "And the fare?"}]}]})
    >>> conversation(request.messages)
    ('And the fare?', [('When does the ferry leave?', 'At 7:45 [1].')])
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConfigError
from .http_models import MAX_HISTORY, MAX_QUESTION

MAX_MESSAGES = 200  # a long chat still fits; the API's 64 kB body limit bounds it first


class ContentPart(BaseModel):
    """One part of a message's content; only ``text`` parts can be read."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, refusal…: accepted, not used
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions``. Fields other than these are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str | None = Field(None, max_length=200, description="Any id; the server answers with its own model.")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool | None = False
    n: int | None = Field(None, ge=1, le=1, description="One choice only.")
    temperature: float | None = Field(None, ge=0, le=2, description="Ignored: answers are decoded greedily.")
    max_tokens: int | None = Field(None, ge=1, description="Ignored: the pipeline bounds the answer's length.")


def message_text(message: ChatMessage, position: int) -> str:
    """The text of a message (its text parts joined); a part that is not text is refused."""
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    for part in message.content:
        if part.type != "text":
            raise ConfigError(f"messages[{position}]: only text content can be answered from documents, "
                              f"not {part.type!r}")
    return "\n".join(part.text or "" for part in message.content)


def conversation(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last message, which must be the user's) and the earlier (question, answer)
    pairs, at most ``MAX_HISTORY`` of the latest. System, developer and tool messages are ignored."""
    last = len(messages) - 1
    if messages[last].role != "user":
        raise ConfigError(f"messages[{last}]: the last message must be the user's question (role \"user\"), "
                          f"not {messages[last].role!r}")
    question = message_text(messages[last], last)
    if len(question) > MAX_QUESTION:
        raise ConfigError(f"messages[{last}]: the question is {len(question)} characters long; "
                          f"at most {MAX_QUESTION} are read")
    history: list[tuple[str, str]] = []
    asked: list[str] = []
    for position, message in enumerate(messages[:last]):
        if message.role == "user":
            asked.append(message_text(message, position))
        elif message.role == "assistant" and asked:
            reply = message_text(message, position)
            if reply:
                history.append(("\n".join(asked), reply))
                asked = []
    return question, history[-MAX_HISTORY:]
