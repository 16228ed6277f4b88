"""The approval inbox: server-rendered pages (Jinja2, autoescaped) for signed-in supervisors."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from agent.clock import utcnow
from agent.service import sessions
from agent.service.auth import context
from agent.service.decisions import ApprovalView, approval_for, approvals_for, decide
from agent.service.problems import Problem
from agent.service.users import Caller, authenticate
from agent.service.views import TranscriptLine, transcript_events, transcript_lines

router = APIRouter(prefix="/inbox", include_in_schema=False)
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,  # every {{ }} is HTML-escaped: customer and model text is never markup
)
LOGIN_CSRF = "sa_login_csrf"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def until(moment: datetime, now: datetime | None = None) -> str:
    """'in 3 h 12 min' or 'expired'."""
    seconds = int((moment - (now or utcnow())).total_seconds())
    if seconds <= 0:
        return "expired"
    hours, minutes = divmod(seconds // 60, 60)
    return f"in {hours} h {minutes} min" if hours else f"in {max(minutes, 1)} min"


TEMPLATES.filters["until"] = until


def page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    """Render a template with the security headers every inbox page carries."""
    html = TEMPLATES.get_template(name).render(**values)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def signed_in(request: Request) -> tuple[Caller, str] | None:
    """The session's caller and CSRF token, if signed in."""
    return sessions.resume(context(request).engine, request.cookies.get(sessions.COOKIE))


def to_login() -> RedirectResponse:
    """Back to the sign-in page."""
    return RedirectResponse("/inbox/login", status_code=303)


@router.get("/login")
def login_form(request: Request, failed: bool = False) -> HTMLResponse:
    """The sign-in form (the token is pasted once; the browser then holds a session cookie)."""
    token = secrets.token_urlsafe(24)
    response = page("login.html", 401 if failed else 200, csrf=token, failed=failed)
    ctx = context(request)
    response.set_cookie(
        LOGIN_CSRF,
        token,
        httponly=True,
        samesite="strict",
        path="/inbox",
        secure=ctx.secure_cookies,
    )
    return response


@router.post("/login")
def login(
    request: Request, token: str = Form(max_length=200), csrf: str = Form(max_length=100)
) -> Response:
    """Exchange an API token for a session cookie; only supervisors and admins."""
    ctx = context(request)
    if not sessions.csrf_ok(request.cookies.get(LOGIN_CSRF, ""), csrf):
        return page("error.html", 403, message="The form expired; reload the sign-in page.")
    caller = authenticate(ctx.engine, token.strip())
    if caller is None or caller.kind == "app":
        return RedirectResponse("/inbox/login?failed=true", status_code=303)
    session_id = sessions.start(ctx.engine, caller, ctx.session_hours)
    response = RedirectResponse("/inbox", status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        path="/inbox",
        secure=ctx.secure_cookies,
        max_age=int(ctx.session_hours * 3600),
    )
    response.delete_cookie(LOGIN_CSRF, path="/inbox")
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form(max_length=100)) -> Response:
    """Forget the session."""
    found = signed_in(request)
    if found is not None and sessions.csrf_ok(found[1], csrf):
        sessions.end(context(request).engine, request.cookies.get(sessions.COOKIE))
    response = to_login()
    response.delete_cookie(sessions.COOKIE, path="/inbox")
    return response


def _lists(request: Request, caller: Caller) -> dict[str, Any]:
    engine = context(request).engine
    everything = approvals_for(engine, caller, None)
    pending = [a for a in everything if a.status == "pending"]
    transcripts = {a.request_id: _transcript(request, caller, a.conversation_id) for a in pending}
    version = hashlib.sha256(
        "|".join(f"{a.request_id}:{a.status}" for a in everything).encode()
    ).hexdigest()[:16]
    return {
        "pending": pending,
        "decided": [a for a in everything if a.status in ("approved", "denied")],
        "expired": [a for a in everything if a.status == "expired"],
        "transcripts": transcripts,
        "version": version,
        "now": utcnow(),
    }


def _transcript(request: Request, caller: Caller, cid: str) -> list[TranscriptLine]:
    events = transcript_events(context(request).engine, cid, pii=caller.may_see_pii)
    return transcript_lines(events)


@router.get("")
def inbox(request: Request, decided: str = "", result: str = "") -> Response:
    """Pending requests the supervisor may decide, newest first; decided and expired apart."""
    found = signed_in(request)
    if found is None:
        return to_login()
    caller, csrf = found
    notice = ""
    if re.fullmatch(r"apr_[0-9a-f]{1,32}", decided) and result in ("approved", "denied"):
        notice = f"Request {decided} {result}. A worker resumes the conversation."
    poll_ms = int(context(request).inbox_poll_seconds * 1000)
    values = _lists(request, caller)
    return page("inbox.html", caller=caller, csrf=csrf, notice=notice, poll_ms=poll_ms, **values)


@router.get("/lists")
def lists(request: Request) -> Response:
    """The lists alone, for the page's live updates."""
    found = signed_in(request)
    if found is None:
        return Response(status_code=401)
    caller, csrf = found
    return page("lists.html", caller=caller, csrf=csrf, **_lists(request, caller))


@router.get("/requests/{request_id}")
def request_page(request: Request, request_id: str) -> Response:
    """One request with its conversation so far (the place to watch the resumed reply)."""
    found = signed_in(request)
    if found is None:
        return to_login()
    caller, csrf = found
    try:
        approval: ApprovalView = approval_for(context(request).engine, caller, request_id)
    except Problem as exc:
        return page("error.html", exc.status, message=exc.detail)
    lines = _transcript(request, caller, approval.conversation_id)
    return page("request.html", caller=caller, csrf=csrf, a=approval, lines=lines, now=utcnow())


@router.post("/requests/{request_id}/decide")
def decide_form(
    request: Request,
    request_id: str,
    decision: str = Form(pattern="^(approve|deny)$"),
    csrf: str = Form(max_length=100),
    reason: str = Form("", max_length=2000),
) -> Response:
    """Approve or deny from the page (CSRF-checked); back to the inbox with a notice."""
    found = signed_in(request)
    if found is None:
        return to_login()
    caller, expected = found
    if not sessions.csrf_ok(expected, csrf):
        return page("error.html", 403, message="The form expired; reload the inbox.")
    approved = decision == "approve"
    try:
        decide(context(request).engine, caller, request_id, approved=approved, reason=reason)
    except Problem as exc:
        return page("error.html", exc.status, message=exc.detail)
    result = "approved" if approved else "denied"
    return RedirectResponse(f"/inbox?decided={request_id}&result={result}", status_code=303)
