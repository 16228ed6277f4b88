"""Logging via loguru, with secrets redacted before anything is written."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from loguru import logger

SECRET_PATTERNS = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]+"),
    re.compile(r"(?i)(authorization:\s*bearer\s+)[^\s'\"]+"),
    re.compile(r"(?i)(x-api-key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"(?i)(api[_-]?key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"(postgres(?:ql)?(?:\+\w+)?://[^:/@\s]+:)[^@\s]+(@)"),
]


def redact(text: str) -> str:
    """Mask API keys, bearer tokens and database passwords in a string."""
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(
            lambda m: (
                (m.group(1) if m.groups() else "")
                + "[REDACTED]"
                + (m.group(2) if m.lastindex and m.lastindex >= 2 else "")
            ),
            text,
        )
    key = os.environ.get("ANTHROPIC_API_KEY")
    if key and len(key) >= 8:
        text = text.replace(key, "[REDACTED]")
    return text


def _patch(record: Any) -> None:
    record["message"] = redact(record["message"])
    if record["exception"] is not None:
        record["extra"]["redacted"] = True


def configure_logging(level: str | None = None, sink: Any = None) -> None:
    """Send logs to stderr or `sink` (level: SUPPORT_AGENT_LOG_LEVEL, default WARNING), redacted."""
    logger.remove()
    logger.configure(patcher=_patch)
    logger.add(
        sink or sys.stderr,
        level=level or os.environ.get("SUPPORT_AGENT_LOG_LEVEL", "WARNING"),
        format="{time:HH:mm:ss} {level} {name}: {message}",
        backtrace=False,
        diagnose=False,
    )
