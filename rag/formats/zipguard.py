"""Refuse a ZIP container (.docx, .pptx, .xlsx, .epub, .odt) that would inflate past a bound, before parsing it.

Python's ``zipfile`` never inflates a member past the size its directory entry declares (it stops there
and fails the CRC check), so the declared sizes bound what a parser can be made to hold: checking their
sum refuses a decompression bomb, overlapping-member bombs included, in milliseconds, with a clear reason.
The reader's memory cap and time limit (``rag.reading``) remain the backstop.

    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w") as z:
    ...     z.writestr("a.xml", "<a/>")
    >>> check_zip(buf.getvalue(), "a.docx").namelist()
    ['a.xml']
"""

from __future__ import annotations

import io
import zipfile

from ..errors import DocumentError

MAX_INFLATED_MB = 512  # what all members of one container may inflate to
MAX_MEMBERS = 20_000


def check_zip(data: bytes, path: str) -> zipfile.ZipFile:
    """The open container, once its member count and declared inflated size are within bounds.

    Raises ``DocumentError`` for a file that is not a ZIP container or exceeds a bound.
    """
    try:
        container = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise DocumentError(path, f"not a valid ZIP container, as this file type must be ({exc.__class__.__name__})"
                            ) from None
    members = container.infolist()
    if len(members) > MAX_MEMBERS:
        raise DocumentError(path, f"a ZIP container of {len(members):,} members (more than {MAX_MEMBERS:,})")
    inflated = sum(member.file_size for member in members)
    if inflated > MAX_INFLATED_MB * 1_000_000:
        raise DocumentError(path, f"its parts would inflate to {inflated / 1e6:,.0f} MB (more than "
                                  f"{MAX_INFLATED_MB} MB): a decompression bomb?")
    return container
