"""The ASGI app: the JSON API under /v1, the approval inbox under /inbox, problem+json errors."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from agent.service import inbox, problems
from agent.service.api import router as conversations
from agent.service.auth import context, require
from agent.service.decisions import (
    ApprovalView,
    DecisionBody,
    Listed,
    approval_for,
    approvals_for,
    decide,
)
from agent.service.limits import BodyLimit
from agent.service.runtime import ServiceContext
from agent.service.users import Caller

approvals = APIRouter(prefix="/v1/approvals", tags=["approvals"])
Deciders = Depends(require("supervisor", "admin"))


@approvals.get("")
def list_approvals(
    request: Request, status: Listed | None = None, caller: Caller = Deciders
) -> list[ApprovalView]:
    """Requests for roles the caller holds (admins: all), newest first."""
    return approvals_for(context(request).engine, caller, status)


@approvals.get("/{request_id}")
def get_approval(request_id: str, request: Request, caller: Caller = Deciders) -> ApprovalView:
    """One request with its tool, arguments, facts, reasons and any decision."""
    return approval_for(context(request).engine, caller, request_id)


@approvals.post("/{request_id}/approve")
def approve(
    request_id: str, request: Request, body: DecisionBody | None = None, caller: Caller = Deciders
) -> ApprovalView:
    """Approve as yourself, within your roles; a worker then resumes the conversation."""
    reason = body.reason if body else ""
    return decide(context(request).engine, caller, request_id, approved=True, reason=reason)


@approvals.post("/{request_id}/deny")
def deny(
    request_id: str, body: DecisionBody, request: Request, caller: Caller = Deciders
) -> ApprovalView:
    """Deny with a reason the model and the customer are told."""
    return decide(context(request).engine, caller, request_id, approved=False, reason=body.reason)


def create_app(ctx: ServiceContext, *, max_body_bytes: int = 64 * 1024) -> FastAPI:
    """The service for this context."""
    app = FastAPI(
        title="support-agent",
        version="1",
        description=(
            "A tool-using customer-support agent with guarded actions: conversations for the "
            "embedding application, approvals for supervisors, an inbox for people."
        ),
    )
    app.state.ctx = ctx
    problems.install(app)
    app.include_router(conversations)
    app.include_router(approvals)
    app.include_router(inbox.router)
    static = Path(__file__).with_name("static")
    app.mount("/inbox/static", StaticFiles(directory=static), name="inbox-static")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/inbox", status_code=303)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    return app
