"""Confirmation classifier on the labelled replies: false confirms and confirm recall.

Run from the repository root:

    python -m bench.confirmations [--show-misses]

Reads tests/gate/confirmation_replies.yaml (hand-written customer answers, each with the
summary it answers and its label) and classifies every reply with agent.gate.confirm.
A false confirm is a reply labelled decline or unclear that the classifier confirms;
recall is the share of replies labelled confirm that it confirms. Prints the confusion
table, then `RESULT false_confirms=<n> recall=<r>`.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import yaml

from agent.gate.confirm import Answer, classify

REPLIES = Path(__file__).resolve().parent.parent / "tests" / "gate" / "confirmation_replies.yaml"


@dataclass(frozen=True)
class LabelledReply:
    """One customer answer, the summary it answers, and what it means."""

    text: str
    summary: str
    label: Answer


@dataclass
class Figures:
    """What the classifier did with the labelled set."""

    confusion: Counter[tuple[Answer, Answer]] = field(default_factory=Counter)
    false_confirms: list[LabelledReply] = field(default_factory=list)
    missed: list[LabelledReply] = field(default_factory=list)

    @property
    def total(self) -> int:
        """How many replies were classified."""
        return sum(self.confusion.values())

    @property
    def recall(self) -> float:
        """Share of replies labelled confirm that were confirmed."""
        labelled = sum(n for (label, _), n in self.confusion.items() if label == "confirm")
        return self.confusion["confirm", "confirm"] / labelled if labelled else 0.0


def load_replies(path: Path = REPLIES) -> list[LabelledReply]:
    """The labelled replies, each with its summary's full text."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    summaries: dict[str, str] = data["summaries"]
    labels = set(get_args(Answer))
    replies = []
    for item in data["replies"]:
        if item["label"] not in labels:
            raise ValueError(f"{path}: unknown label {item['label']!r} for {item['text']!r}")
        replies.append(LabelledReply(str(item["text"]), summaries[item["summary"]], item["label"]))
    return replies


def evaluate(replies: list[LabelledReply]) -> Figures:
    """Classify every reply and count the outcomes against the labels."""
    figures = Figures()
    for reply in replies:
        got = classify(reply.text, reply.summary)
        figures.confusion[reply.label, got] += 1
        if got == "confirm" and reply.label != "confirm":
            figures.false_confirms.append(reply)
        elif reply.label == "confirm" and got != "confirm":
            figures.missed.append(reply)
    return figures


def main() -> None:
    """Print the confusion table, the misses on request, and the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-misses", action="store_true", help="List every wrong answer.")
    args = parser.parse_args()
    replies = load_replies()
    figures = evaluate(replies)
    answers: tuple[Answer, ...] = get_args(Answer)
    print(f"{len(replies)} labelled replies from {REPLIES.name}")
    print(f"{'label/got':<12}" + "".join(f"{a:>10}" for a in answers))
    for label in answers:
        print(f"{label:<12}" + "".join(f"{figures.confusion[label, a]:>10}" for a in answers))
    if args.show_misses:
        for reply in figures.false_confirms:
            print(f"FALSE CONFIRM ({reply.label}): {reply.text!r}")
        for reply in figures.missed:
            print(f"missed confirm: {reply.text!r} -> {classify(reply.text, reply.summary)}")
    print(f"RESULT false_confirms={len(figures.false_confirms)} recall={figures.recall:.3f}")


if __name__ == "__main__":
    main()
