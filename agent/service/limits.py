"""Request limits: a body larger than the limit, or one that trickles in too slowly, is refused."""

from __future__ import annotations

import json

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM = "application/problem+json"


async def _refuse(send: Send, status: int, title: str, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM.encode()), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


class BodyLimit:
    """ASGI middleware: at most `max_bytes` of body, received within `timeout` seconds."""

    def __init__(self, app: ASGIApp, max_bytes: int = 64 * 1024, timeout: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body under the limits, then hand it to the app."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _refuse(send, 413, "Content Too Large", f"at most {self.max_bytes} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        with anyio.move_on_after(self.timeout) as scope_timer:
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_bytes:
                    await _refuse(send, 413, "Content Too Large", f"at most {self.max_bytes} bytes")
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
        if scope_timer.cancelled_caught:
            await _refuse(send, 408, "Request Timeout", "the request body arrived too slowly")
            return
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
