"""The one JSON hash: canonical JSON bytes and their SHA-256."""

from __future__ import annotations

import hashlib
import json


def canonical_json(value: object) -> bytes:
    """Sorted-key JSON (non-JSON values as str), the form every hash here is taken over."""
    return json.dumps(value, sort_keys=True, default=str).encode()


def json_sha256(value: object) -> str:
    """SHA-256 (hex) of the canonical JSON of a value."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
