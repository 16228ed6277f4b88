"""The customer's answer to a confirmation: the question, the classifier, the events.

The one home of "did the customer say yes to THIS action". An answer is confirm,
decline or unclear. The classifier is deliberately one-sided: anything that is not
plainly a yes to the action as stated (a question, a condition, a change, a negation,
a word it does not know) is never a confirm. Unclear answers keep the run paused and
the customer is asked again, restating the action; the model is not told they declined.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Literal, assert_never

from agent.transcript.events import (
    ConfirmationDeclined,
    ConfirmationGiven,
    ConfirmationRequested,
    ConfirmationUnclear,
)

Answer = Literal["confirm", "decline", "unclear"]
AnswerEvent = ConfirmationGiven | ConfirmationDeclined | ConfirmationUnclear


def question(summary: str) -> str:
    """What the customer is asked before a confirmed action runs."""
    return f"Please confirm: {summary.rstrip('. ')}. Reply 'yes' to go ahead, or 'no' to stop."


def approval_notice(summary: str) -> str:
    """What the customer is told while a supervisor decides."""
    return f"This needs a supervisor's approval first: {summary.rstrip('.')}."


def question_again(summary: str) -> str:
    """The re-ask after an answer that was neither a clear yes nor a clear no."""
    return (
        "Sorry, I need a clear yes or no before I do this: "
        f"{summary.rstrip('. ')}. Reply 'yes' to go ahead exactly as stated, or 'no' to stop "
        "(to change anything, say no and tell me what you would like instead)."
    )


def answer_events(asked: ConfirmationRequested, text: str) -> list[AnswerEvent]:
    """The event recording the customer's answer to the question they were shown."""
    kind = classify(text, asked.summary)
    match kind:
        case "confirm":
            return [
                ConfirmationGiven(
                    tool_use_id=asked.tool_use_id, args_hash=asked.args_hash, text=text
                )
            ]
        case "decline":
            return [
                ConfirmationDeclined(
                    tool_use_id=asked.tool_use_id, args_hash=asked.args_hash, text=text
                )
            ]
        case "unclear":
            return [
                ConfirmationUnclear(
                    tool_use_id=asked.tool_use_id, args_hash=asked.args_hash, text=text
                )
            ]
        case _:
            assert_never(kind)


def _vocab(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Whole phrases first (normalised: lower case, no accents, apostrophes dropped).
# Idioms whose words would mislead the word rules ("no problem" is a yes).
AFFIRMATIVE_PHRASES = (
    "no problem",
    "no worries",
    "not a problem",
    "go ahead",
    "go for it",
    "do it",
    "please do",
    "sounds good",
    "sounds great",
    "sounds right",
    "of course",
    "thats right",
    "that is right",
    "thats correct",
    "that is correct",
    "all good",
    "all right",
    "why not",
    "works for me",
    "make it so",
    "por supuesto",
    "de acuerdo",
    "esta bien",
    "bien sur",
    "allez y",
    "vas y",
    "cest bon",
    "daccord",
    "in ordnung",
    "na klar",
    "mach das",
    "mach es",
    "machen sie das",
    "com certeza",
    "pode fazer",
    "pode sim",
    "va em frente",
    "esta certo",
    "pas de probleme",
    "kein problem",
    "sin problema",
    "sem problema",
)
NEGATIVE_PHRASES = (
    "absolutely not",
    "definitely not",
    "certainly not",
    "of course not",
    "por supuesto que no",
    "claro que no",
    "bien sur que non",
    "auf keinen fall",
    "de jeito nenhum",
)
UNCERTAIN_PHRASES = (
    "not sure",
    "i guess",
    "i think so",
    "i suppose",
    "let me think",
    "let me check",
    "hold on",
    "hang on",
    "one moment",
    "one sec",
    "never mind",
    "nevermind",
    "no se",
    "je sais pas",
    "je ne sais",
    "weiss nicht",
    "nao sei",
)
AFFIRMATIVE = _vocab(
    "yes y ys ya yea yeah yep yup yas ok okay okey k kk alright confirm confirmed confirming "
    "correct right sure certainly absolutely definitely proceed approve approved agreed agree "
    "fine good great perfect excellent exactly affirmative indeed "
    # es, fr, de, pt, it
    "si claro vale dale adelante hazlo hagalo procede proceda confirmo correcto perfecto "
    "oui ouais ouep yep volontiers parfait exactement confirme certainement "
    "ja jawohl jap jo genau klar gerne einverstanden passt richtig bestatige "
    "sim certo isso beleza confirmado perfeito pode faca prossiga "
    "certo va bene"
)
NEGATIVE = _vocab(
    "no nope nah nay not dont stop wait abort never negative wrong incorrect non pas ne "
    "attendez attends arrete nein nicht kein keine warte stopp halt nao espera espere "
    "pare yet"
)
# A condition or a change of the action: "yes if…", "yes but…", "…instead".
QUALIFIERS = _vocab(
    "if unless provided providing only when after before until once but however though "
    "although except instead rather actually also plus another other different separately "
    "too either pero sino solo cuando excepto ademas otra otro cambia cambiar mais "
    "seulement quand sauf plutot aussi autre changer aber wenn falls nur sondern statt "
    "stattdessen ausser auch andere anderen andern mas se somente quando exceto tambem "
    "outra outro mudar trocar"
)
QUESTION_OPENERS = _vocab(
    "what why how when where which who whom whose is are was were can could would will "
    "should shall do does did may might am que como cuando donde cual quien puede quoi "
    "comment quand ou quel quelle est peux was wie wann wo welche wer kann ist onde qual "
    "quem"
)
# Words that add nothing to a yes: courtesy, pronouns, filler, "the order", "it".
FILLER = _vocab(
    "please pls plz thanks thank thx ty you so much very lot a an the it its this that thats "
    "is i im am me my we us our lets let s go ahead do proceed with now please just "
    "really totally sounds looks want would like love and to for of on done it please "
    "yes sir maam mate buddy hi hello hey well oh ah um uh cool nice awesome lovely "
    "order one request please thats fine that go your help helping appreciate appreciated "
    "wonderful brilliant thing new ill id ive youre que"
    # es, fr, de, pt
    " por favor gracias muchas lo la el eso esto hazlo gracias senor senora muy bien ok "
    "merci beaucoup svp sil vous plait te tu le la ca cela je bien tres oui "
    "bitte danke schon sehr das es ich gut machen sie mach dir ihnen "
    "obrigado obrigada muito o a isso pode por favor bem"
)
# Generic action verbs that restate "do the thing" without naming a different one.
GENERIC_ACTIONS = _vocab("do proceed process go ahead continue execute complete finish")
EMOJI = {
    "\N{THUMBS UP SIGN}": " yes ",
    "\N{OK HAND SIGN}": " ok ",
    "\N{WHITE HEAVY CHECK MARK}": " yes ",
    "\N{HEAVY CHECK MARK}": " yes ",
    "\N{BALLOT BOX WITH CHECK}": " yes ",
    "\N{THUMBS DOWN SIGN}": " no ",
    "\N{CROSS MARK}": " no ",
    "\N{NO ENTRY SIGN}": " no ",
    "\N{OCTAGONAL SIGN}": " stop ",
    "\N{THINKING FACE}": " ? ",
}
_ALL_KNOWN = AFFIRMATIVE | NEGATIVE | QUALIFIERS | FILLER | QUESTION_OPENERS
# Typos are mapped only onto these: a wider list turns "mine" into "fine".
_FUZZY_TARGETS = _vocab(
    "yes yeah okay sure please proceed confirm correct ahead absolutely definitely "
    "thanks thank perfect"
)


def _normalise(text: str) -> str:
    for symbol, word in EMOJI.items():
        text = text.replace(symbol, word)
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[\u2019'`´]", "", text)  # don't -> dont, c'est -> cest
    text = re.sub(r"(\w)\1{2,}", r"\1", text)  # yesss -> yes, sooo -> so
    return text


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9#]+", text)


def _close(word: str, target: str) -> bool:
    """One edit apart: insert, delete, swap two neighbours, or (long words) substitute."""
    if abs(len(word) - len(target)) > 1 or word == target:
        return word == target
    if len(word) == len(target):
        diff = [i for i in range(len(word)) if word[i] != target[i]]
        if len(diff) == 1:
            return len(target) >= 5  # "yet" and "yrs" are not typos of "yes"
        i, j = diff[0], diff[-1]
        return len(diff) == 2 and j == i + 1 and word[i] == target[j] and word[j] == target[i]
    short, long = sorted((word, target), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _spelled(word: str) -> str:
    """The known word a typo stands for ("yse" -> "yes"), or the word itself."""
    if word in _ALL_KNOWN or len(word) < 3 or not word.isalpha():
        return word
    for target in _FUZZY_TARGETS:
        if _close(word, target):
            return target
    return word


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


@functools.lru_cache(maxsize=256)
def _summary_words(summary: str) -> tuple[str, ...]:
    """The summary's words, normalised (a question's summary is read once per answer)."""
    return tuple(_words(_normalise(summary)))


def _summary_stems(summary: str | None) -> frozenset[str]:
    return frozenset(_stem(w.lstrip("#")) for w in _summary_words(summary or ""))


def _in_summary(stem: str, stems: frozenset[str]) -> bool:
    """The word is one of the summary's ("ship" for "shipping", "charge" for "charged")."""
    if stem in stems:
        return True
    return any(
        min(len(stem), len(s)) >= 4 and (s.startswith(stem) or stem.startswith(s)) for s in stems
    )


def _action_verb(summary: str | None) -> str | None:
    """The verb the summary opens with ("Cancel order …" -> cancel)."""
    words = _summary_words(summary or "")
    return _stem(words[0]) if words else None


def _replace(phrases: tuple[str, ...], by: str, text: str) -> tuple[str, bool]:
    found = False
    for phrase in phrases:
        text, count = re.subn(rf"\b{phrase}\b", by, text)
        found = found or count > 0
    return text, found


def classify(text: str, summary: str | None = None) -> Answer:
    """confirm, decline or unclear: the customer's answer to "Please confirm: <summary>"."""
    if "?" in text or "\N{THINKING FACE}" in text:
        return "unclear"  # a question is never a yes
    norm = " ".join(_spelled(w) for w in _words(_normalise(text)))
    if not norm:
        return "unclear"
    norm, _ = _replace(NEGATIVE_PHRASES, " no ", norm)
    norm, affirmed = _replace(AFFIRMATIVE_PHRASES, " ", norm)
    if _replace(UNCERTAIN_PHRASES, " ", norm)[1]:
        return "unclear"
    words = norm.split()
    affirmed = affirmed or any(w in AFFIRMATIVE for w in words)
    if words and words[0] in NEGATIVE:
        return "decline"  # "no wait", "don't", "no, go ahead": a no first is a no
    if any(w in NEGATIVE for w in words):
        return "unclear" if affirmed else "decline"
    verb = _action_verb(summary)
    if any(w in QUALIFIERS and _stem(w) != verb for w in words):
        return "unclear"  # a condition or a change; the summary's own verb is not one
    if words and words[0] in QUESTION_OPENERS:
        return "unclear"
    restated = _restates(words, summary)
    if restated is None:
        return "unclear"  # a word that is neither a yes nor part of the action
    return "confirm" if affirmed or restated else "unclear"


def _restates(words: list[str], summary: str | None) -> bool | None:
    """Whether the words name the summary's own action; None when a word is foreign to it."""
    stems = _summary_stems(summary)
    verb = _action_verb(summary)
    names_action = False
    for word in words:
        if word in AFFIRMATIVE or word in FILLER or word in GENERIC_ACTIONS:
            continue
        stem = _stem(word.lstrip("#"))
        if not _in_summary(stem, stems):
            return None
        names_action = names_action or stem == verb
    return names_action
