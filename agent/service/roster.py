"""The approver roster the gate re-checks at resume: config approvers plus the service's users."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from sqlalchemy.engine import Engine

from agent.config import Settings
from agent.service.users import approver_roles


class Roster(Mapping[str, list[str]]):
    """Name -> roles, read afresh on every lookup so added or revoked users count at once."""

    def __init__(self, configured: Mapping[str, list[str]] | None, engine: Engine) -> None:
        self.configured = dict(configured or {})
        self.engine = engine

    def _merged(self) -> dict[str, list[str]]:
        merged = {name: list(roles) for name, roles in self.configured.items()}
        for name, roles in approver_roles(self.engine).items():
            merged[name] = sorted(set(merged.get(name, [])) | set(roles))
        return merged

    def __getitem__(self, name: str) -> list[str]:
        return self._merged()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged())

    def __len__(self) -> int:
        return len(self._merged())


def service_roster(settings: Settings, engine: Engine) -> Roster:
    """Settings.approvers merged with the active supervisor and admin users of the service."""
    return Roster(settings.approvers, engine)
