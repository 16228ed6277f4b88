"""Transcript files: read an export back (migrating older versions), write one, its JSON Schema.

An export is JSONL: the first line is a header (`format_version`, `kind`, the
conversation id and the conversation's meta: starting data, policy, model settings,
system prompt hash), every other line one `StoredEvent`. The format is described
event by event in agent/TRANSCRIPTS.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from agent.transcript.events import FORMAT_VERSION, StoredEvent, export_lines

KIND: Final = "support-agent-transcript"
SCHEMA_ID = "https://support-agent.local/transcript.schema.json"

Json = dict[str, Any]


class TranscriptError(Exception):
    """A transcript file cannot be used; the message names the file and the line."""


class DataRef(BaseModel):
    """How to recreate the starting data: a demo seed, or a data file with its hash."""

    model_config = ConfigDict(extra="allow")

    demo_seed: int | None = None
    file: str | None = None
    sha256: str | None = None


class PolicyRef(BaseModel):
    """The policy file the conversation ran under, with its hash."""

    model_config = ConfigDict(extra="allow")

    source: str | None = None
    sha256: str | None = None


class ModelRef(BaseModel):
    """The model settings the conversation ran with."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    max_tokens: int | None = None


class TranscriptMeta(BaseModel):
    """What a replay needs besides the events (Agent.meta, stored on the conversation)."""

    model_config = ConfigDict(extra="allow")

    domain: str | None = None
    data: DataRef = Field(default_factory=DataRef)
    policy: PolicyRef = Field(default_factory=PolicyRef)
    model: ModelRef = Field(default_factory=ModelRef)
    system_sha256: str | None = None


class TranscriptHeader(BaseModel):
    """The first line of every export."""

    model_config = ConfigDict(extra="allow")

    format_version: int
    kind: Literal["support-agent-transcript"]
    conversation_id: str | None = None
    meta: TranscriptMeta = Field(default_factory=TranscriptMeta)


class Transcript(NamedTuple):
    """A transcript read back: its header and its events, in order."""

    header: TranscriptHeader
    events: list[StoredEvent]


def _same(value: Json) -> Json:
    return value


@dataclass(frozen=True)
class Migration:
    """Upgrades a transcript from `from_version` to the next version, line by line."""

    from_version: int
    name: str
    header: Callable[[Json], Json] = _same
    event: Callable[[Json], Json] = _same


# Append-only: MIGRATIONS[i] upgrades version i + 1 to i + 2. Version 1 is the only
# version so far, so there is nothing to migrate yet.
MIGRATIONS: list[Migration] = []


def migrations_from(
    version: int, migrations: list[Migration], current: int = FORMAT_VERSION
) -> list[Migration]:
    """The chain of migrations that takes `version` to `current`; ValueError when incomplete."""
    chain = [m for m in migrations if version <= m.from_version < current]
    chain.sort(key=lambda m: m.from_version)
    if [m.from_version for m in chain] != list(range(version, current)):
        raise ValueError(f"no migration path from format_version {version} to {current}")
    return chain


def _problem(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "(line)"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def _header(
    path: Path, line: str, migrations: list[Migration], current: int
) -> tuple[TranscriptHeader, list[Migration]]:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"{path}:1: the header is not valid JSON: {exc.msg}") from exc
    if not isinstance(raw, dict) or raw.get("kind") != KIND:
        raise TranscriptError(
            f"{path}:1: not a support-agent transcript (the first line must be a header "
            f'with "kind": "{KIND}")'
        )
    version = raw.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TranscriptError(f"{path}:1: unknown format_version {version!r}")
    if version > current:
        raise TranscriptError(
            f"{path}:1: format_version {version} is newer than this support-agent "
            f"understands ({current}); upgrade support-agent to read it"
        )
    try:
        chain = migrations_from(version, migrations, current)
    except ValueError as exc:
        raise TranscriptError(f"{path}:1: {exc}") from exc
    for migration in chain:
        raw = migration.header(raw)
    raw["format_version"] = current
    try:
        return TranscriptHeader.model_validate(raw), chain
    except ValidationError as exc:
        raise TranscriptError(f"{path}:1: invalid header: {_problem(exc)}") from exc


def _event(path: Path, number: int, line: str, chain: list[Migration]) -> StoredEvent:
    try:
        if not chain:
            return StoredEvent.model_validate_json(line)
        raw = json.loads(line)
        if not isinstance(raw, dict):
            raise TranscriptError(f"{path}:{number}: expected a JSON object, got {line[:60]!r}")
        for migration in chain:
            raw = migration.event(raw)
        return StoredEvent.model_validate(raw)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"{path}:{number}: invalid JSON: {exc.msg}") from exc
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise TranscriptError(f"{path}:{number}: invalid JSON") from exc
        raise TranscriptError(f"{path}:{number}: invalid event: {_problem(exc)}") from exc


def parse_lines(
    lines: Iterable[str],
    path: Path | str = "<transcript>",
    *,
    migrations: list[Migration] | None = None,
    current: int = FORMAT_VERSION,
) -> Transcript:
    """Parse export lines (header first); TranscriptError names the file and line number."""
    path = Path(path)
    header: TranscriptHeader | None = None
    chain: list[Migration] = []
    events: list[StoredEvent] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if header is None:
            header, chain = _header(
                path, line, MIGRATIONS if migrations is None else migrations, current
            )
            continue
        stored = _event(path, number, line, chain)
        if events and stored.seq <= events[-1].seq:
            raise TranscriptError(
                f"{path}:{number}: seq {stored.seq} does not follow seq {events[-1].seq}"
            )
        cid = header.conversation_id or (events[0].conversation_id if events else None)
        if cid is not None and stored.conversation_id != cid:
            raise TranscriptError(
                f"{path}:{number}: event of conversation {stored.conversation_id!r} "
                f"in a transcript of {cid!r}"
            )
        events.append(stored)
    if header is None:
        raise TranscriptError(f"{path}: empty file: expected a header line")
    return Transcript(header, events)


def parse_text(text: str, path: Path | str = "<transcript>", **options: Any) -> Transcript:
    """Parse a whole export held in a string (split on newlines only, as files are read)."""
    return parse_lines(text.split("\n"), path, **options)


def read_transcript(
    path: Path | str,
    *,
    migrations: list[Migration] | None = None,
    current: int = FORMAT_VERSION,
) -> Transcript:
    """Read an export: (header, events); older versions are migrated, anything else refused."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            return parse_lines(handle, path, migrations=migrations, current=current)
    except OSError as exc:
        raise TranscriptError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"{path}: not UTF-8 text: {exc.reason}") from exc


def export_text(events: list[StoredEvent], meta: dict[str, Any] | None = None) -> str:
    """The whole export as text (header line, then one event per line)."""
    return "\n".join(export_lines(events, meta)) + "\n"


def write_transcript(
    path: Path | str, events: list[StoredEvent], meta: dict[str, Any] | None = None
) -> None:
    """Write an export file."""
    Path(path).write_text(export_text(events, meta), encoding="utf-8")


def transcript_schema() -> dict[str, Any]:
    """The JSON Schema of one export line (header or event), generated from the models."""
    adapter: TypeAdapter[TranscriptHeader | StoredEvent] = TypeAdapter(
        TranscriptHeader | StoredEvent
    )
    generated = adapter.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "support-agent transcript line",
        "description": (
            f"One line of a transcript export (JSONL, format_version {FORMAT_VERSION}): the "
            "first line is a TranscriptHeader, every other line a StoredEvent. Generated from "
            "the Pydantic event union by agent.transcript.files.transcript_schema()."
        ),
        **generated,
    }


def schema_text() -> str:
    """The schema as the shipped file holds it."""
    return json.dumps(transcript_schema(), indent=2, ensure_ascii=False) + "\n"


def shipped_schema_path() -> Path:
    """Where the shipped schema file lives."""
    return Path(str(resources.files("agent").joinpath("schemas/transcript.schema.json")))


if __name__ == "__main__":  # python -m agent.transcript.files regenerates the shipped schema
    shipped_schema_path().write_text(schema_text(), encoding="utf-8")
    print(f"wrote {shipped_schema_path()}")
