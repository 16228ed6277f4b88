"""The customer's answer to a confirmation: reading it, wording the question, its events."""

from __future__ import annotations

import re

from agent.transcript.events import AnyEvent, ConfirmationDeclined, ConfirmationGiven
from agent.transcript.state import ConversationState

AFFIRMATIVE = {"yes", "y", "yep", "yeah", "confirm", "confirmed", "correct", "ok", "okay", "sure"}
POLITE = AFFIRMATIVE | {
    "please",
    "go",
    "ahead",
    "do",
    "it",
    "thats",
    "that",
    "is",
    "right",
    "thanks",
    "thank",
    "you",
    "proceed",
    "i",
}


def confirms(text: str) -> bool:
    """A plain yes ("Yes, go ahead.") confirms; anything with a qualifier ("yes but…") does not."""
    words = re.sub(r"[^a-z\s]", "", text.lower().replace("'", "")).split()
    return (
        bool(words)
        and words[0] in AFFIRMATIVE | {"i"}
        and set(words) <= POLITE
        and bool(set(words) & AFFIRMATIVE)
    )


def question(summary: str) -> str:
    """What the customer is asked before a write runs."""
    return f"Please confirm: {summary.rstrip('.')}. Reply 'yes' to go ahead."


def approval_notice(summary: str) -> str:
    """What the customer is told while a supervisor decides."""
    return f"This needs a supervisor's approval first: {summary.rstrip('.')}."


def answer_events(state: ConversationState, text: str) -> list[AnyEvent]:
    """The customer's message read as the answer to the one question they were shown."""
    for use in state.pending:
        asked = state.confirmation_asked.get(use.id)
        if asked is None or use.id in state.confirmations:
            continue
        kind = ConfirmationGiven if confirms(text) else ConfirmationDeclined
        return [kind(tool_use_id=asked.tool_use_id, args_hash=asked.args_hash, text=text)]
    return []
