"""Who is calling: a bearer token checked against the users table; roles never from the request."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent.service.problems import Problem
from agent.service.runtime import ServiceContext
from agent.service.users import Caller, CallerKind, authenticate
from agent.store.tables import Conversation

bearer = HTTPBearer(auto_error=False, description="An API token from `support-agent users add`.")


def context(request: Request) -> ServiceContext:
    """The service context the app was created with."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def current_caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Caller:
    """The authenticated caller, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "send an API token: Authorization: Bearer <token>")
    caller = authenticate(context(request).engine, credentials.credentials)
    if caller is None:
        raise Problem(401, "unknown or revoked API token")
    return caller


def require(*kinds: CallerKind) -> Callable[..., Caller]:
    """A dependency admitting only these kinds of caller (403 for the others)."""

    def dependency(caller: Caller = Depends(current_caller)) -> Caller:
        if caller.kind not in kinds:
            raise Problem(
                403, f"a {caller.kind} caller may not do this (needs {' or '.join(kinds)})"
            )
        return caller

    return dependency


def may_read(caller: Caller, conversation: Conversation) -> bool:
    """Apps see the conversations they created; supervisors and admins see all."""
    if caller.kind == "app":
        return conversation.meta.get("created_by") == caller.name
    return True


def may_write(caller: Caller, conversation: Conversation) -> bool:
    """Only the app that created a conversation (or an admin) speaks for its customer."""
    if caller.kind == "admin":
        return True
    return caller.kind == "app" and conversation.meta.get("created_by") == caller.name
