"""Untrusted text made safe to show: no control or bidirectional characters, bounded length."""

from __future__ import annotations

import re

# C0 and C1 controls except tab and newline, DEL, and the bidirectional overrides,
# embeddings, isolates and marks that can make a terminal show text in another order.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """The text without control and bidirectional formatting characters (newline and tab kept)."""
    return _HIDDEN.sub("", text)


def has_hidden(text: str) -> bool:
    """Whether the text holds a control or bidirectional formatting character."""
    return _HIDDEN.search(text) is not None
