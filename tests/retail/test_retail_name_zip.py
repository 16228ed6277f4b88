"""find_user_id_by_name_zip reads the accounts at the customer's zip, not every account."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from agent.registry import ToolError, ToolOutput
from tests.retail.conftest import store_of
from tools.retail.tables import RetailUser


def _with_namesakes(doc: dict[str, Any]) -> dict[str, Any]:
    """The mini store plus two more Ann Lees, at other zips, and 40 strangers."""
    doc = copy.deepcopy(doc)
    users = doc["users"]
    ann = users["ann_1"]
    for user_id, zip_code in (("ann_2", "22222"), ("ann_3", "33333")):
        twin = copy.deepcopy(ann)
        twin.update(user_id=user_id, email=f"{user_id}@example.com", orders=[])
        twin["address"]["zip"] = zip_code
        users[user_id] = twin
    for n in range(40):
        other = copy.deepcopy(ann)
        other.update(user_id=f"u{n}", email=f"u{n}@example.com", orders=[])
        other["name"] = {"first_name": f"Name{n}", "last_name": "Other"}
        other["address"]["zip"] = f"{50000 + n}"
        users[f"u{n}"] = other
    return doc


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path, mini_doc: Any) -> Iterator[Engine]:
    """The store on SQLite, then on PostgreSQL (skipped with the reason when unset)."""
    with store_of(request, tmp_path, _with_namesakes(mini_doc)) as engine:
        yield engine


def _find(engine: Engine, call: Any, first: str, last: str, zip_code: str) -> Any:
    args = {"first_name": first, "last_name": last, "zip": zip_code}
    with Session(engine) as session:
        return call(
            session,
            "find_user_id_by_name_zip",
            args,
            customer=None,
            said=f"{first} {last} {zip_code}",
        )


@pytest.mark.parametrize(("zip_code", "user_id"), [("11111", "ann_1"), ("22222", "ann_2")])
def test_namesakes_are_told_apart_by_zip(store: Engine, call: Any, zip_code: str, user_id: str):
    found = _find(store, call, "Ann", "Lee", zip_code)
    assert found == ToolOutput(content=user_id, identifies_customer=user_id)


def test_accents_and_case_still_fold(store: Engine, call: Any) -> None:
    assert _find(store, call, "ÁNN", "lée", "33333").content == "ann_3"


def test_a_zip_with_nobody_of_that_name_is_refused(store: Engine, call: Any) -> None:
    with pytest.raises(ToolError, match="no user named Ann Lee with zip 50001"):
        _find(store, call, "Ann", "Lee", "50001")


def test_the_lookup_loads_no_account_objects(store: Engine, call: Any) -> None:
    # It loaded all 43 accounts as objects (and parsed every address) to find one.
    loaded: list[str] = []

    def count(target: RetailUser, _context: Any) -> None:
        loaded.append(target.user_id)

    event.listen(RetailUser, "load", count)
    try:
        assert _find(store, call, "Ann", "Lee", "22222").content == "ann_2"
    finally:
        event.remove(RetailUser, "load", count)
    assert loaded == []


def test_a_malformed_address_elsewhere_does_not_stop_the_lookup(store: Engine, call: Any) -> None:
    # One account whose stored address no longer parses (a hand edit, an old import)
    # made every name-and-zip sign-in fail, since every account's address was parsed.
    with Session(store) as session:
        session.execute(
            update(RetailUser)
            .where(col(RetailUser.user_id) == "ann_2")  # a namesake read before ann_3
            .values(address={"zip": "22222"})
        )
        session.commit()
    assert _find(store, call, "Ann", "Lee", "33333").content == "ann_3"
