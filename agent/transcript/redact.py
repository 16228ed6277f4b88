"""Mask personal data in transcripts consistently, so they can be shared.

Domain-agnostic: emails are found by pattern anywhere; names, addresses, payment
method ids and customer ids by the keys they sit under (in tool inputs, tool
results, facts), including JSON held in strings. Every value found is then masked
wherever it appears (model text, customer messages, summaries, reasons), and the
same value always gets the same mask: `email_1@redacted.example`, `name_3`,
`address_2`, `payment_1`, `customer_4`, `card_1`, `phone_1`. Beyond whole values it also
masks what gives a person away in pieces: phone numbers found by pattern, the street name
of an address line without its number, the name stems in email local parts and customer
ids (`omar.khan@…`, `omar_khan_2002` -> `omar`, `khan`), a card's brand and last four,
and API keys or fragments of them (`sk-ant-…`) a server echoed. Hashes in the transcript
are left as they are; a redacted transcript is for reading, not for replay.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.logs import redact as redact_secrets
from agent.transcript.events import StoredEvent

MaskKind = Literal["email", "name", "address", "payment", "customer", "card", "phone"]

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(
    r"(?<![\w#])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\w)"
)
STEM_SPLIT = re.compile(r"[^A-Za-z]+")
MIN_STEM = 3  # shorter pieces of an email or id ("a", "jo") are not searched for
KEY_KINDS: dict[str, MaskKind] = {
    "email": "email",
    "first_name": "name",
    "last_name": "name",
    "full_name": "name",
    "customer_name": "name",
    "address1": "address",
    "address2": "address",
    "street": "address",
    "city": "address",
    "zip": "address",
    "zip_code": "address",
    "postal_code": "address",
    "postcode": "address",
    "phone": "phone",
    "phone_number": "phone",
    "brand": "card",
    "last_four": "card",
    "payment_method_id": "payment",
    "payment_method_ids": "payment",
    "payment_id": "payment",
    "return_payment_method_id": "payment",
    "source_payment_method_id": "payment",
    "user_id": "customer",
    "customer_id": "customer",
    "target_user_id": "customer",
}
ID_MAPS: dict[str, MaskKind] = {"payment_methods": "payment"}  # mappings keyed by an id
MIN_LENGTH = 2  # shorter values are masked where they sit, not searched for in text


def _as_json(text: str) -> Any:
    """The JSON value a string holds, if it is canonical JSON text (as tool results are)."""
    if text[:1] not in ("{", "["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if json.dumps(value, sort_keys=True) == text else None


@dataclass
class Redactor:
    """Collects personal values, then masks them everywhere; same value, same mask."""

    masks: dict[str, str] = field(default_factory=dict)
    counts: dict[MaskKind, int] = field(default_factory=dict)
    _pattern: re.Pattern[str] | None = None

    def mask(self, value: str, kind: MaskKind) -> str:
        """The mask for a value, made on first sight."""
        key = value.casefold()
        if key not in self.masks:
            number = self.counts.get(kind, 0) + 1
            self.counts[kind] = number
            self.masks[key] = (
                f"email_{number}@redacted.example" if kind == "email" else f"{kind}_{number}"
            )
            self._pattern = None
        return self.masks[key]

    def collect(self, value: Any, key: str = "") -> None:
        """Find the personal values in a JSON-like value."""
        kind = KEY_KINDS.get(key)
        if isinstance(value, dict):
            for k, v in value.items():
                if key in ID_MAPS:
                    self.mask(str(k), ID_MAPS[key])
                self.collect(v, str(k))
        elif isinstance(value, list):
            for item in value:
                self.collect(item, key)
        elif isinstance(value, str):
            if kind is not None and value.strip():
                self.mask(value, kind)
                self._pieces(value, kind)
            for email in EMAIL.findall(value):
                self.mask(email, "email")
                self._stems(email.split("@", 1)[0])
            for phone in PHONE.findall(value):
                self.mask(phone, "phone")
            inner = _as_json(value)
            if inner is not None:
                self.collect(inner)

    def _stems(self, handle: str) -> None:
        """Mask the name-like pieces of an email local part or id: omar.khan -> omar, khan."""
        for piece in STEM_SPLIT.split(handle):
            if len(piece) >= MIN_STEM:
                self.mask(piece, "name")

    def _pieces(self, value: str, kind: MaskKind) -> None:
        """What a whole value gives away in parts: a street's name, a customer id's stems."""
        if kind == "address":
            street = re.sub(r"^\s*\d+[A-Za-z]?\s+", "", value).strip()
            if street != value.strip() and len(street) >= MIN_STEM:
                self.mask(street, "address")
        elif kind in ("customer", "email"):
            self._stems(value.split("@", 1)[0])

    def pattern(self) -> re.Pattern[str] | None:
        """One regex matching every collected value as a whole word, longest first."""
        if self._pattern is None and self.masks:
            values = sorted((v for v in self.masks if len(v) >= MIN_LENGTH), key=len, reverse=True)
            if values:
                alternation = "|".join(re.escape(v) for v in values)
                # "_" separates words here: the stem in omar_khan's must be found too.
                self._pattern = re.compile(rf"(?<![^\W_])(?:{alternation})(?![^\W_])", re.I)
        return self._pattern

    def text(self, value: str) -> str:
        """A string with every collected value masked."""
        value = redact_secrets(value)
        value = EMAIL.sub(lambda m: self.masks.get(m.group().casefold(), m.group()), value)
        value = PHONE.sub(lambda m: self.mask(m.group(), "phone"), value)
        pattern = self.pattern()
        if pattern is None:
            return value
        return pattern.sub(lambda m: self.masks.get(m.group().casefold(), m.group()), value)

    def apply(self, value: Any, key: str = "") -> Any:
        """A copy of a JSON-like value with every personal value masked."""
        if isinstance(value, dict):
            return {
                (self.text(str(k)) if key in ID_MAPS else k): self.apply(v, str(k))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.apply(item, key) for item in value]
        if isinstance(value, str):
            if key in KEY_KINDS and value.casefold() in self.masks:
                return self.masks[value.casefold()]
            if key in KEY_KINDS and value.strip():
                return self.mask(value, KEY_KINDS[key])
            inner = _as_json(value)
            if inner is not None:
                return json.dumps(self.apply(inner), sort_keys=True)
            return self.text(value)
        return value


def redact_transcript(
    events: list[StoredEvent], meta: dict[str, Any] | None = None
) -> tuple[list[StoredEvent], dict[str, Any]]:
    """The events and meta with customer emails, names, addresses and payment ids masked."""
    redactor = Redactor()
    dumped = [e.model_dump(mode="json") for e in events]
    for item in dumped:
        redactor.collect(item["event"])
    masked = [StoredEvent.model_validate(redactor.apply(item)) for item in dumped]
    return masked, redactor.apply(meta or {})
