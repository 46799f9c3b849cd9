"""Where the model's entities go wrong: each gold and each predicted entity put in one cell of a
confusion table, so the table adds up to what was there and what was predicted.

Per Doc, gold and predicted entities (token spans; gold tokenization on both sides) are paired one
to one, and each pair or lone entity gets one kind:

- correct: same span, same label (what spaCy and seqeval count as a true positive);
- type: same span, other label (a type confusion);
- boundary: spans overlap but differ, same label;
- boundary+type: spans overlap but differ, other label;
- missed: a gold entity left without a partner (a false negative that no prediction touches, or
  whose overlapping predictions were all paired with other gold entities);
- spurious: a predicted entity left without a partner (likewise).

Pairing: exact spans first (spans within one side never overlap, so these pairs are unique); then,
among the entities still alone, overlapping pairs, same label before other label, more shared
tokens before fewer, then document order. So a gold entity that two predictions cut in half is
paired with one of them (a boundary error) and the other prediction is spurious.

The table has a row per gold label plus "spurious" and a column per predicted label plus "missed":
a pair lands in (gold label, predicted label), a missed entity in (gold label, missed), a spurious
one in (spurious, predicted label). Boundary pairs are counted apart from same-span pairs of the
same cell. Every gold entity is in exactly one cell of its label's row, every predicted entity in
exactly one cell of its label's column, so a row adds up to the gold entities of that label and a
column to the predicted ones; the diagonal's same-span counts are spaCy's true positives per label.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.tokens import Doc
from spacy.training import Example

Entity = Tuple[int, int, str]  # token start, token end, label

CORRECT, TYPE, BOUNDARY, BOUNDARY_TYPE, MISSED, SPURIOUS = (
    "correct",
    "type",
    "boundary",
    "boundary+type",
    "missed",
    "spurious",
)
KINDS = (CORRECT, TYPE, BOUNDARY, BOUNDARY_TYPE, MISSED, SPURIOUS)
ERROR_KINDS = KINDS[1:]
KIND_HELP = {
    CORRECT: "same span, same label",
    TYPE: "same span, other label (type confusion)",
    BOUNDARY: "overlapping but different span, same label (boundary error)",
    BOUNDARY_TYPE: "overlapping but different span, other label (boundary and type)",
    MISSED: "gold entity with no predicted partner (false negative)",
    SPURIOUS: "predicted entity with no gold partner (false positive)",
}


@dataclass(frozen=True)
class Outcome:
    """One pair, or one entity alone, in Doc `doc`: what kind of match it is."""

    kind: str
    doc: int
    gold: Optional[Entity]
    predicted: Optional[Entity]

    @property
    def row(self) -> str:
        return self.gold[2] if self.gold else SPURIOUS

    @property
    def column(self) -> str:
        return self.predicted[2] if self.predicted else MISSED


def overlap(a: Entity, b: Entity) -> int:
    """Tokens the two spans share."""
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def match_entities(gold: Sequence[Entity], predicted: Sequence[Entity], doc: int = 0) -> List[Outcome]:
    """Pair one Doc's entities as the module docstring says; every entity is in exactly one Outcome."""
    outcomes = []
    by_span = {(start, end): (start, end, label) for start, end, label in predicted}
    paired_gold, paired_predicted = set(), set()
    for g in gold:
        p = by_span.get(g[:2])
        if p is not None and p not in paired_predicted:
            outcomes.append(Outcome(CORRECT if g[2] == p[2] else TYPE, doc, g, p))
            paired_gold.add(g)
            paired_predicted.add(p)
    candidates = [
        (g, p) for g in gold if g not in paired_gold for p in predicted if p not in paired_predicted and overlap(g, p)
    ]
    candidates.sort(key=lambda gp: (gp[0][2] != gp[1][2], -overlap(*gp), gp[0][:2], gp[1][:2]))
    for g, p in candidates:
        if g not in paired_gold and p not in paired_predicted:
            outcomes.append(Outcome(BOUNDARY if g[2] == p[2] else BOUNDARY_TYPE, doc, g, p))
            paired_gold.add(g)
            paired_predicted.add(p)
    outcomes += [Outcome(MISSED, doc, g, None) for g in gold if g not in paired_gold]
    outcomes += [Outcome(SPURIOUS, doc, None, p) for p in predicted if p not in paired_predicted]
    return sorted(outcomes, key=lambda o: min(e[0] for e in (o.gold, o.predicted) if e))


def entities(doc: Doc) -> List[Entity]:
    return [(ent.start, ent.end, ent.label_) for ent in doc.ents]


def match_examples(examples: Iterable[Example]) -> List[Outcome]:
    """Every Outcome of every Example (gold = eg.reference, predicted = eg.predicted, same tokens)."""
    return [
        o
        for i, eg in enumerate(examples)
        for o in match_entities(entities(eg.reference), entities(eg.predicted), doc=i)
    ]


@dataclass
class Confusion:
    """The table: same-span counts and boundary counts per (row, column); see the module docstring."""

    labels: List[str]
    same_span: Counter = field(default_factory=Counter)
    boundary: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)

    @property
    def rows(self) -> List[str]:
        return self.labels + [SPURIOUS]

    @property
    def columns(self) -> List[str]:
        return self.labels + [MISSED]

    def cell(self, row: str, column: str) -> int:
        return self.same_span[row, column] + self.boundary[row, column]

    def row_total(self, row: str) -> int:
        """The gold entities of this label (for "spurious": the predicted entities without a partner)."""
        return sum(self.cell(row, column) for column in self.columns)

    def column_total(self, column: str) -> int:
        """The predicted entities of this label (for "missed": the gold entities without a partner)."""
        return sum(self.cell(row, column) for row in self.rows)


def confusion_table(outcomes: Iterable[Outcome]) -> Confusion:
    outcomes = list(outcomes)
    labels = sorted({e[2] for o in outcomes for e in (o.gold, o.predicted) if e})
    table = Confusion(labels)
    for o in outcomes:
        counts = table.boundary if o.kind in (BOUNDARY, BOUNDARY_TYPE) else table.same_span
        counts[o.row, o.column] += 1
        table.kinds[o.kind] += 1
    return table


def context(doc: Doc, start: int, end: int, window: int = 15) -> Tuple[int, int]:
    """The gold sentence(s) around tokens start..end, cut to `window` tokens either side (some
    sentences are tables of scores a hundred tokens long); just the window where the Doc has none."""
    low, high = max(0, start - window), min(len(doc), end + window)
    if doc.has_annotation("SENT_START"):
        return max(low, doc[start].sent.start), min(high, doc[end - 1].sent.end)
    return low, high


@dataclass
class ErrorExample:
    """A sentence with both sides' entities (offsets within it), around the Outcome at issue."""

    outcome: Outcome
    start: int  # the sentence's first token in its Doc
    words: List[str]
    spaces: List[bool]
    gold: List[Entity]
    predicted: List[Entity]

    def focus(self, side: str) -> Optional[Entity]:
        """The outcome's entity on that side ("gold" or "predicted"), in sentence offsets."""
        entity = getattr(self.outcome, side)
        return None if entity is None else (entity[0] - self.start, entity[1] - self.start, entity[2])


def error_examples(
    examples: Sequence[Example], outcomes: Iterable[Outcome], per_kind: int = 3
) -> Dict[str, List[ErrorExample]]:
    """The first `per_kind` outcomes of each error kind in corpus order, each with its sentence."""
    chosen: Dict[str, List[ErrorExample]] = {kind: [] for kind in ERROR_KINDS}
    for o in outcomes:
        if o.kind not in chosen or len(chosen[o.kind]) >= per_kind:
            continue
        reference = examples[o.doc].reference
        spans = [e for e in (o.gold, o.predicted) if e]
        start, end = context(reference, min(e[0] for e in spans), max(e[1] for e in spans))
        inside = lambda ents: [(s - start, e - start, label) for s, e, label in ents if s >= start and e <= end]  # noqa: E731
        tokens = reference[start:end]
        chosen[o.kind].append(
            ErrorExample(
                o,
                start,
                [t.text for t in tokens],
                [bool(t.whitespace_) for t in tokens],
                inside(entities(reference)),
                inside(entities(examples[o.doc].predicted)),
            )
        )
    return chosen
