"""Logs are redacted before any sink sees them."""

from __future__ import annotations

from loguru import logger

from agent.logs import configure_logging, redact


def test_redact_masks_keys_tokens_and_passwords(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "custom-key-1234567890")
    text = (
        "key sk-ant-api03-abcDEF123 Authorization: Bearer tok123 api_key=xyz "
        "postgresql://u:hunter2@h/db custom-key-1234567890"
    )
    out = redact(text)
    for secret in ("abcDEF123", "tok123", "xyz", "hunter2", "custom-key-1234567890"):
        assert secret not in out
    assert "postgresql://u:[REDACTED]@h/db" in out


def test_configured_logger_redacts(monkeypatch):
    configure_logging("DEBUG")
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="DEBUG", format="{message}")
    try:
        logger.info("calling with sk-ant-api03-zzzzzzzz")
    finally:
        logger.remove(sink)
    assert seen and "zzzzzzzz" not in seen[0] and "[REDACTED]" in seen[0]
