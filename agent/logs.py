"""Logging via loguru, with secrets redacted before anything is written."""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
from typing import Any

from loguru import logger

SECRET_PATTERNS = [
    # Whole keys and the fragments a server echoes back ("sk-ant-api03-Ab1…xyz", "sk-ant-***").
    re.compile(r"sk-ant-[A-Za-z0-9_\-*.…]+"),
    re.compile(r"(?i)(authorization:\s*bearer\s+)[^\s'\"]+"),
    re.compile(r"(?i)(x-api-key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"(?i)(api[_-]?key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
]
# scheme://user:password@host — the password may itself hold '@', ':' or '/', so the
# user part ends at the first ':' and the host starts after the LAST '@' of the token.
URL_TOKEN = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s'\"<>]+)")


def _mask_url(match: re.Match[str]) -> str:
    scheme, rest = match.group(1), match.group(2)
    at = rest.rfind("@")
    if at < 0 or ":" not in rest[:at]:
        return match.group(0)
    user = rest[:at].split(":", 1)[0]
    return f"{scheme}{user}:[REDACTED]@{rest[at + 1 :]}"


def redact_urls(text: str) -> str:
    """Mask the password of every URL in the text (user and host stay readable)."""
    return URL_TOKEN.sub(_mask_url, text)


def redact(text: str) -> str:
    """Mask API keys, bearer tokens and database passwords in a string."""
    text = redact_urls(text)
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(
            lambda m: (
                (m.group(1) if m.groups() else "")
                + "[REDACTED]"
                + (m.group(2) if m.lastindex and m.lastindex >= 2 else "")
            ),
            text,
        )
    key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
    if len(key) >= 8:
        text = text.replace(key, "[REDACTED]")
    if len(key) >= 24:  # a server may echo only the end of a key
        text = text.replace(key[-8:], "[REDACTED]")
    return text


def _patch(record: Any) -> None:
    message = record["message"]
    exception = record["exception"]
    if exception is not None:
        # The traceback is rendered here, redacted, instead of by the sink: exception
        # text (a database URL in a driver error) would otherwise be written as is.
        lines = traceback.format_exception(exception.type, exception.value, exception.traceback)
        message = f"{message}\n{''.join(lines).rstrip()}"
        record["exception"] = None
        record["extra"]["redacted"] = True
    record["message"] = redact(message)


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
