"""Wire an Agent from configuration: domain, policy, store, model, approver."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from agent.clock import utcnow
from agent.config import Settings
from agent.domain import Domain
from agent.gate.approvals import Approver
from agent.gate.gate import Gate
from agent.gate.policy import Policy
from agent.gate.policy_file import check_tools, load_policy
from agent.loop import Agent, Limits
from agent.model.client import ModelClient
from agent.model.spend import SpendAlert, SpendGuard
from agent.model.usage import Budget
from agent.transcript.files import DataRef, ModelRef, PolicyRef, TranscriptMeta


def domain_policy(domain: Domain, path: Path | None = None) -> Policy:
    """Load the policy (explicit path, else the domain's) and check it names real tools."""
    policy = load_policy(path or domain.policy_path)
    check_tools(policy, {name: tool.effect for name, tool in domain.registry.tools.items()})
    return policy


def build_agent(
    domain: Domain,
    settings: Settings,
    engine: Engine,
    model: ModelClient,
    *,
    approver: Approver | None = None,
    policy: Policy | None = None,
    clock: Callable[[], datetime] = utcnow,
    data_ref: dict[str, Any] | None = None,
) -> Agent:
    """An Agent for this domain with limits and model settings taken from `settings`."""
    policy = policy or domain_policy(domain, settings.policy_path)
    gate = Gate(
        engine=engine,
        registry=domain.registry,
        policy=policy,
        approver=approver,
        max_invalid=settings.max_invalid_tool_calls,
        approval_hours=settings.approval_expiry_hours,
        # No [approvers] table: nobody's decision holds, even one written into the store.
        roster=settings.approvers if settings.approvers is not None else {},
        clock=clock,
    )
    limits = Limits(
        model=settings.model,
        max_tokens=settings.max_tokens,
        max_model_calls=settings.max_model_calls_per_message,
        max_tool_calls=settings.max_tool_calls_per_conversation,
        budget=Budget(settings.max_tokens_per_conversation, settings.max_dollars_per_conversation),
        context_budget=settings.context_budget_tokens,
    )
    meta = TranscriptMeta(
        domain=domain.name,
        data=DataRef.model_validate(data_ref or {}),
        policy=PolicyRef(source=policy.source, sha256=file_sha256(Path(policy.source))),
        model=ModelRef(model=settings.model, max_tokens=settings.max_tokens),
        system_sha256=hashlib.sha256(domain.system_prompt.encode()).hexdigest(),
    )
    return Agent(
        engine=engine,
        model=model,
        gate=gate,
        system=domain.system_prompt,
        limits=limits,
        meta=meta,
        spend_guard=spend_guard(settings, engine),
    )


def spend_guard(settings: Settings, engine: Engine) -> SpendGuard | None:
    """Per-customer limits and the spend alert from settings; None when none is configured."""
    alert = None
    if settings.spend_alert_dollars_per_day is not None:
        alert = SpendAlert(settings.spend_alert_dollars_per_day, settings.spend_alert_webhook)
    limits = (settings.customer_messages_per_hour, settings.customer_dollars_per_day)
    if alert is None and limits == (None, None):
        return None
    return SpendGuard(engine, *limits, alert=alert)


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of a file's bytes, or None if it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
