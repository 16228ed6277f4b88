"""The support inbox: tickets, three-line gists and triage (realtime or batch)."""

from __future__ import annotations

from tools.tickets.gist import Gist, gist_params, gist_tool, parse_gist
from tools.tickets.tables import Ticket, TicketAttachment, TriageBatch

__all__ = [
    "Gist",
    "Ticket",
    "TicketAttachment",
    "TriageBatch",
    "gist_params",
    "gist_tool",
    "parse_gist",
]
