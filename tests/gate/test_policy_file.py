"""Policy files report every problem at once, and rule mismatches are said in words."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from agent.gate.policy_file import PolicyError, load_policy, loads_policy
from agent.gate.policy_words import in_words

THREE_BAD_RULES = """\
version: 1
roles: [team-lead]
rules:
  - {id: a, tools: [x], verdict: maybe, reason: r}
  - {id: b, tools: [x], verdict: approve, role: manager, reason: r}
  - {id: c, tools: [x], verdict: deny, reason: r, when: {properties: {n: {minimun: 1}}}}
  - {id: a, tools: [y], verdict: deny, reason: r}
"""


def test_every_problem_is_listed_not_just_the_first(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(THREE_BAD_RULES)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    error = caught.value
    assert [str(p) for p in error.problems] == [
        "rule 'a' (rules[0]) field 'verdict': 'maybe' is not one of "
        "['allow', 'confirm', 'approve', 'deny']",
        "rule 'b' (rules[1]) field 'role': role 'manager' is not declared in `roles` ['team-lead']",
        "rule 'c' (rules[2]) field 'when.properties.n.minimun': unknown JSON Schema keyword "
        "'minimun' (did you mean 'minimum'?)",
        "rule 'a' (rules[3]) field 'id': duplicate id (also used by rules[0])",
    ]
    message = str(error)
    assert message.startswith(f"{path}: 4 problems:\n  - rule 'a' (rules[0])")
    assert "more problem" not in message


def test_one_problem_stays_one_line() -> None:
    with pytest.raises(PolicyError) as caught:
        loads_policy("version: 2\nrules: []\n", "p.yaml")
    assert str(caught.value) == "p.yaml: field 'version': 1 was expected"
    assert caught.value.field == "version"


@pytest.mark.parametrize(
    ("condition", "document", "words"),
    [
        ({"properties": {"n": {"const": True}}}, {"n": False}, "n is false, the rule needs true"),
        ({"properties": {"n": {"not": {"const": True}}}}, {"n": True},
         "n is true, the rule needs anything but true"),
        ({"properties": {"n": {"minimum": 500}}}, {"n": 20},
         "n is 20, the rule needs at least 500"),
        ({"properties": {"n": {"exclusiveMaximum": 3}}}, {"n": 3},
         "n is 3, the rule needs less than 3"),
        ({"properties": {"n": {"enum": ["a", "b"]}}}, {"n": "c"},
         'n is "c", the rule needs one of "a", "b"'),
        ({"required": ["facts"]}, {}, "the call has no facts"),
        ({"properties": {"n": {"type": "integer"}}}, {"n": "x"},
         'n is "x", the rule needs a whole number'),
    ],
)  # fmt: skip
def test_mismatch_in_words(condition: dict[str, object], document: object, words: str) -> None:
    error = best_match(Draft202012Validator(condition).iter_errors(document))
    assert error is not None
    assert in_words(error) == words
    assert "should not be valid under" not in in_words(error)
