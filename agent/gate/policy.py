"""Policies as data, evaluated: decide on one tool call (never raise).

Loading and validating a policy file lives in agent.gate.policy_file; semantics, the
file format and the retail rules are described in policies/README.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, assert_never

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from agent.gate.policy_words import clip, in_words
from agent.registry import Effect
from agent.transcript.events import Verdict


def strictness(verdict: Verdict) -> int:
    """How strict a verdict is: allow 0 < confirm 1 < approve 2 < deny 3."""
    match verdict:
        case "allow":
            return 0
        case "confirm":
            return 1
        case "approve":
            return 2
        case "deny":
            return 3
        case _:
            assert_never(verdict)


@dataclass(frozen=True)
class RuleCheck:
    """Whether one rule matched a call, and why (or why not).

    The reason a condition did not match is worked out only when `why` is read (the
    explain command): deciding needs the yes/no alone, and the wording costs more.
    """

    rule_id: str
    verdict: Verdict
    matched: bool
    reason: str | Callable[[], str] = field(repr=False, compare=False)

    @property
    def why(self) -> str:
        """Why the rule matched or not, in words."""
        return self.reason if isinstance(self.reason, str) else self.reason()


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one call.

    `rules` and `reasons` are aligned and list the matched rules strictest first (file
    order within a verdict). `role` is the role of the first approve rule in file order
    when the verdict is approve; one approval by that role suffices. `defaulted` is True
    when no rule matched and the effect's default applied.
    """

    verdict: Verdict
    rules: list[str]
    reasons: list[str]
    role: str | None
    explain: list[RuleCheck]
    defaulted: bool = False

    @property
    def deciding_reasons(self) -> list[str]:
        """Reasons of the rules whose verdict won (what the model or approver is told)."""
        winners = {c.rule_id for c in self.explain if c.matched and c.verdict == self.verdict}
        if not winners:  # a default or an evaluation error: no rule list to align with
            return self.reasons
        chosen = [r for rid, r in zip(self.rules, self.reasons, strict=True) if rid in winners]
        return chosen or self.reasons


@dataclass(frozen=True)
class Rule:
    """One validated rule; `condition` is its `when`, compiled once at load."""

    id: str
    index: int
    tools: tuple[str, ...]
    effects: tuple[Effect, ...] | None
    verdict: Verdict
    reason: str
    role: str | None = None
    when: dict[str, Any] | bool | None = None
    condition: Draft202012Validator | None = field(default=None, repr=False, compare=False)
    # The same condition compiled by jsonschema-rs (see policy_file.fast_condition), when
    # the two implementations are known to agree on it: it only says yes or no, fast.
    fast: Callable[[Any], bool] | None = field(default=None, repr=False, compare=False)

    def applies(self, tool: str, effect: Effect) -> bool:
        """Whether the rule is about calls of this tool and effect at all."""
        return self._not_about(tool, effect) is None

    def _not_about(self, tool: str, effect: Effect) -> str | None:
        """Why the rule is not about such a call, or None if it is."""
        if "*" not in self.tools and tool not in self.tools:
            return "tool not listed"
        if self.effects is not None and effect not in self.effects:
            return f"effect {effect} not in [{', '.join(self.effects)}]"
        return None

    def may_read(self, fact: str) -> bool:
        """Whether the condition could read this fact (when in doubt, yes).

        It could if it names it anywhere, or holds a keyword that reads values by
        pattern or by what is left over rather than by name.
        """
        if self.when is None:
            return False
        text = json.dumps(self.when)
        return json.dumps(fact) in text or any(key in text for key in _UNNAMED_READS)

    def check(
        self, tool: str, effect: Effect, document: dict[str, Any], *, plain: bool = False
    ) -> RuleCheck:
        """Does this rule match the call? May raise if the condition cannot be evaluated.

        `plain`: the document holds nothing but JSON's own types (see plain_json), so the
        fast condition may decide it.
        """
        if (why_not := self._not_about(tool, effect)) is not None:
            return RuleCheck(self.id, self.verdict, False, why_not)
        if self.condition is None:
            return RuleCheck(self.id, self.verdict, True, "no condition")
        if self._holds(self.condition, document, plain):
            return RuleCheck(self.id, self.verdict, True, "when matched")
        condition = self.condition
        return RuleCheck(self.id, self.verdict, False, lambda: _mismatch(condition, document))

    def _holds(self, condition: Draft202012Validator, document: Any, plain: bool) -> bool:
        if self.fast is not None and plain:
            return self.fast(document)
        return bool(condition.is_valid(document))


_JSON_LEAVES = (str, int, float, bool, type(None))


def plain_json(value: Any) -> bool:
    """Whether a value is made of JSON's own types only: no subclasses, no other objects.

    Anything else (a float subclass, a date, a tuple) is decided by the reference
    implementation alone, whose errors deny the call.
    """
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and plain_json(v) for k, v in value.items())
    if kind is list:
        return all(plain_json(v) for v in value)
    return kind in _JSON_LEAVES


_UNNAMED_READS = ('"patternProperties"', '"additionalProperties"', '"unevaluatedProperties"')


def _mismatch(condition: Draft202012Validator, document: dict[str, Any]) -> str:
    """Why a document fails a rule's condition, in words."""
    error = best_match(condition.iter_errors(document))
    return clip(f"when: {in_words(error) if error is not None else 'did not match'}")


@dataclass(frozen=True)
class Policy:
    """A validated policy: rules in file order, approver roles, defaults per effect."""

    source: str
    rules: tuple[Rule, ...]
    roles: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    default_read: Verdict = "allow"
    default_write: Verdict = "confirm"
    _reads: dict[tuple[str, str, str], bool] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Refuse defaults that would allow a write, or approve without a role."""
        if self.default_write == "allow" or "approve" in (self.default_read, self.default_write):
            raise ValueError("defaults: writes cannot default to allow; approve needs a rule")

    def default_for(self, effect: Effect) -> Verdict:
        """The verdict when no rule matches a call with this effect."""
        match effect:
            case "read":
                return self.default_read
            case "write":
                return self.default_write
            case _:
                assert_never(effect)

    def reads_fact(self, tool: str, effect: Effect, fact: str) -> bool:
        """False only if no rule that applies to such a call could read the fact.

        Its value can then not change the decision: the domain may skip computing it.
        """
        key = (tool, effect, fact)
        found = self._reads.get(key)
        if found is None:
            found = any(r.applies(tool, effect) and r.may_read(fact) for r in self.rules)
            self._reads[key] = found
        return found

    def evaluate(
        self, tool: str, effect: Effect, input: dict[str, Any], facts: dict[str, Any]
    ) -> Decision:
        """Decide on one call; never raises (an evaluation error denies)."""
        try:
            return self._evaluate(tool, effect, input, facts)
        except Exception as exc:  # fail closed, whatever went wrong
            reason = f"policy evaluation error: {type(exc).__name__}"
            return Decision("deny", [], [reason], None, [])

    def _evaluate(
        self, tool: str, effect: Effect, input: dict[str, Any], facts: dict[str, Any]
    ) -> Decision:
        document = {"tool": tool, "input": input, "facts": facts}
        plain = plain_json(document)
        checks: list[RuleCheck] = []
        matched: list[Rule] = []
        failed: Rule | None = None
        for rule in self.rules:
            try:
                check = rule.check(tool, effect, document, plain=plain)
            except Exception as exc:
                check = RuleCheck(rule.id, rule.verdict, False, clip(f"error: {exc!r}"))
                failed = failed or rule
            checks.append(check)
            if check.matched:
                matched.append(rule)
        if failed is not None:
            reason = f"policy evaluation error in rule {failed.id}"
            return Decision("deny", [failed.id], [reason], None, checks)
        if not matched:
            verdict = self.default_for(effect)
            reason = f"no rule matched; a {effect} defaults to {verdict}"
            return Decision(verdict, [], [reason], None, checks, defaulted=True)
        ordered = sorted(matched, key=lambda r: (-strictness(r.verdict), r.index))
        verdict = ordered[0].verdict
        role = ordered[0].role if verdict == "approve" else None
        return Decision(verdict, [r.id for r in ordered], [r.reason for r in ordered], role, checks)
