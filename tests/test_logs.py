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


PASSWORD = "p@ss:w/rd@123"


def test_password_with_at_sign_never_leaks():
    from agent.store.engine import redacted_url

    url = f"postgresql://app:{PASSWORD}@db.internal:5432/prod"
    for out in (redact(f"could not connect to {url}: refused"), redacted_url(url)):
        for piece in ("p@ss", "w/rd", "rd@123", "123@db"):
            assert piece not in out, out
        assert "app:[REDACTED]@db.internal:5432/prod" in out


def test_exception_text_in_debug_tracebacks_is_redacted():
    configure_logging("DEBUG")
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="DEBUG", format="{message}")
    try:
        try:
            raise ConnectionError(f"postgresql://app:{PASSWORD}@db/prod is down")
        except ConnectionError as exc:
            logger.opt(exception=exc).debug("unhandled error")
    finally:
        logger.remove(sink)
    assert seen and "ConnectionError" in seen[0] and "Traceback" in seen[0]
    assert "p@ss" not in seen[0] and "[REDACTED]" in seen[0]


def test_partial_keys_echoed_by_a_server_are_masked(monkeypatch):
    key = "sk-ant-api03-" + "A" * 40 + "tail9876"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    echoed = "invalid x-api-key: sk-ant-api03-AAAA…tail9876 (also ***tail9876)"
    out = redact(echoed)
    assert "tail9876" not in out and "AAAA" not in out


def test_sdk_std_logging_goes_through_redaction_without_request_bodies(monkeypatch):
    import logging

    monkeypatch.setenv("ANTHROPIC_API_KEY", "custom-key-1234567890")
    configure_logging("DEBUG")
    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="DEBUG", format="{message}")
    try:
        sdk = logging.getLogger("anthropic._base_client")
        sdk.debug("Request options: %s", {"json_data": {"messages": "my card is 4111"}})
        logging.getLogger("httpx2").info("HTTP Request: POST with custom-key-1234567890")
    finally:
        logger.remove(sink)
        configure_logging("WARNING")
    text = "\n".join(seen)
    assert "Request options: [request body not logged]" in text
    assert "4111" not in text
    assert "custom-key-1234567890" not in text and "[REDACTED]" in text
    assert logging.getLogger("anthropic").propagate is False
