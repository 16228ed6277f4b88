"""Logging via loguru, with secrets redacted before anything is written."""

from __future__ import annotations

import logging
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


SDK_LOGGERS = ("anthropic", "httpx2", "httpx", "httpcore")
"""Standard-library loggers of the SDK and its HTTP stack, routed into loguru."""
REQUEST_BODY = re.compile(r"(?s)^Request options: .*")


class ToLoguru(logging.Handler):
    """Hands std-logging records to loguru, whose patcher redacts them.

    The SDK's debug log prints whole request bodies (customer messages); only the
    fact that a request was made is kept.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Forward one record at its level, without request bodies."""
        message = REQUEST_BODY.sub(
            "Request options: [request body not logged]", record.getMessage()
        )
        level: str | int
        try:
            level = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=0).bind(std_logger=record.name).log(level, "{}: {}", record.name, message)


def route_std_logging(level: str) -> None:
    """Send the SDK's and httpx's std loggers through loguru only (never to stderr directly)."""
    handler = ToLoguru()
    for name in SDK_LOGGERS:
        std = logging.getLogger(name)
        std.handlers = [handler]
        std.propagate = False  # ANTHROPIC_LOG=debug installs a root handler: bypass it
        std.setLevel(logging.DEBUG if level.upper() in ("DEBUG", "TRACE") else logging.INFO)


def configure_logging(level: str | None = None, sink: Any = None) -> None:
    """Send logs to stderr or `sink` (level: SUPPORT_AGENT_LOG_LEVEL, default WARNING), redacted."""
    level = level or os.environ.get("SUPPORT_AGENT_LOG_LEVEL", "WARNING")
    logger.remove()
    logger.configure(patcher=_patch)
    route_std_logging(level)
    logger.add(
        sink or sys.stderr,
        level=level,
        format="{time:HH:mm:ss} {level} {name}: {message}",
        backtrace=False,
        diagnose=False,
    )
