"""Uploads for the web chat: the logic lives in ``rag.uploads`` so the HTTP API shares it without importing ``ui``."""

from rag.uploads import MAX_UPLOAD_MB, safe_name, store_uploads

__all__ = ["MAX_UPLOAD_MB", "safe_name", "store_uploads"]
