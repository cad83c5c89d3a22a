"""Text from journals inside Markdown."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["escape"]

_HTML = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("\n", " "))
_MARKUP = re.compile(r"([\\`*_\[\]])")


def escape(value: Any, *, markup: bool = False) -> str:
    """``value`` as text on one line that holds no HTML and cannot break a table cell; with ``markup``,
    no emphasis, code or link either (backslashes, ``*``, ``_``, backticks and brackets are escaped)."""
    text = "" if value is None else str(value)
    if markup:
        text = _MARKUP.sub(r"\\\1", text)
    for raw, escaped in _HTML:
        text = text.replace(raw, escaped)
    return text
