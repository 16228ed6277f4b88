"""One builder for approval requests the tests put in front of a supervisor or the queue."""

from __future__ import annotations

from typing import Any

from agent.gate.approvals import ApprovalRequest, expiry


def approval_request(hours: float = 1, **fields: Any) -> ApprovalRequest:
    """A request expiring in `hours`; `fields` override the plain defaults (a team lead's)."""
    plain: dict[str, Any] = {
        "request_id": "apr_1",
        "conversation_id": "c",
        "tool_use_id": "t",
        "tool": "x",
        "input": {},
        "args_hash": "h",
        "role": "team-lead",
        "summary": "s",
    }
    return ApprovalRequest(**{**plain, **fields}, expires_at=expiry(hours))
