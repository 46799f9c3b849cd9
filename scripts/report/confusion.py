"""Where the errors are: the confusion table of gold type against predicted type (scripts/error_analysis.py
pairs the entities), as a picture and a table, and example sentences per kind of error, drawn by displaCy."""

import zlib
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import PowerNorm  # noqa: E402

from scripts.error_analysis import (  # noqa: E402
    ERROR_KINDS,
    KIND_HELP,
    KINDS,
    MISSED,
    SPURIOUS,
    Confusion,
    ErrorExample,
    confusion_table,
    error_examples,
    match_examples,
)
from scripts.report.page import Section, esc, html_table, image_tag  # noqa: E402


def cell_text(table: Confusion, row: str, column: str) -> Tuple[str, str]:
    """A cell's same-span count (on the diagonal: the correct ones) and its boundary errors, apart."""
    boundary = table.boundary[row, column]
    return str(table.same_span[row, column]), f"+{boundary} boundary" if boundary else ""


def cell_errors(table: Confusion, row: str, column: str) -> int:
    """The errors in a cell: all of it off the diagonal, the boundary errors on it."""
    return table.boundary[row, column] if row == column else table.cell(row, column)


def plot_confusion(table: Confusion, path: Path) -> None:
    """Errors in shades of red (their count), cells of correct entities only in green; empty cells stay
    blank (with OntoNotes' 18 types most are, and a text per cell is most of the drawing time)."""
    rows, columns = table.rows, table.columns
    most = max(cell_errors(table, r, c) for r in rows for c in columns) or 1
    norm = PowerNorm(0.5, vmin=0, vmax=most)
    colours = [
        [
            (0.9, 0.9, 0.9, 1)
            if (r, c) == (SPURIOUS, MISSED)
            else plt.cm.Reds(0.1 + 0.8 * norm(cell_errors(table, r, c)))
            if cell_errors(table, r, c)
            else ((0.82, 0.93, 0.8, 1) if r == c else (1, 1, 1, 1))
            for c in columns
        ]
        for r in rows
    ]
    fig, ax = plt.subplots(figsize=(1.5 * len(columns) + 2, 0.75 * len(rows) + 1.6))
    ax.imshow(colours, aspect="auto")
    for i, r in enumerate(rows):
        for j, c in enumerate(columns):
            if (r, c) == (SPURIOUS, MISSED):
                continue
            count, boundary = cell_text(table, r, c)
            if count == "0" and not boundary:
                continue
            dark = norm(cell_errors(table, r, c)) > 0.6
            ax.text(
                j,
                i,
                f"{count}\n{boundary}" if boundary else count,
                ha="center",
                va="center",
                fontsize=10,
                color="white" if dark else "black",
            )
    ax.set_xticks(range(len(columns)), columns, rotation=30 if max(map(len, columns)) > 6 else 0, ha="left")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xticks([x + 0.5 for x in range(len(columns) - 1)], minor=True)
    ax.set_yticks([y + 0.5 for y in range(len(rows) - 1)], minor=True)
    ax.grid(which="minor", color="white", lw=2)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    ax.set_title("Test entities: gold type against predicted type (red: errors)", pad=10, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def confusion_html(table: Confusion) -> str:
    """The table with its totals; each cell's boundary errors named apart under its same-span count."""
    most = max(cell_errors(table, r, c) for r in table.rows for c in table.columns) or 1
    head = "".join(f"<th>{'missed (no prediction)' if c == MISSED else esc(c)}</th>" for c in table.columns)
    body = []
    for r in table.rows:
        cells = []
        for c in table.columns:
            if (r, c) == (SPURIOUS, MISSED):
                cells.append('<td class="none">–</td>')
                continue
            count, boundary = cell_text(table, r, c)
            errors = cell_errors(table, r, c)
            colour = (
                f"rgba(214,39,40,{0.1 + 0.35 * (errors / most) ** 0.5:.2f})"
                if errors
                else ("rgba(46,139,87,0.2)" if r == c else "transparent")
            )
            extra = f'<br><span class="boundary">{boundary}</span>' if boundary else ""
            cells.append(f'<td style="background:{colour}">{count}{extra}</td>')
        name = "spurious (no gold)" if r == SPURIOUS else esc(r)
        body.append(f"<tr><th>{name}</th>{''.join(cells)}<td class=total>{table.row_total(r)}</td></tr>")
    totals = "".join(f"<td class=total>{table.column_total(c)}</td>" for c in table.columns)
    body.append(f"<tr><th>predicted total</th>{totals}<td></td></tr>")
    return (
        f'<table class="confusion"><tr><th>gold ↓ &nbsp; predicted →</th>{head}<th>gold total</th></tr>'
        f"{''.join(body)}</table>"
    )


def kinds_html(table: Confusion) -> str:
    gold = sum(table.row_total(x) for x in table.labels)
    predicted = sum(table.column_total(x) for x in table.labels)
    rows = [([kind, table.kinds[kind], KIND_HELP[kind]], False) for kind in KINDS]
    paired = sum(table.kinds[k] for k in KINDS[:4])
    sums = (
        f"<p>Gold entities: {gold} = {paired} paired + {table.kinds[MISSED]} missed. "
        f"Predicted entities: {predicted} = {paired} paired + {table.kinds[SPURIOUS]} spurious. "
        "Only <i>correct</i> counts for P and R: "
        f"P = {table.kinds['correct']}/{predicted}, R = {table.kinds['correct']}/{gold}.</p>"
    )
    return html_table(["kind", "count", "meaning"], rows, "text") + sums


def label_colours(labels: Iterable[str]) -> Dict[str, str]:
    """displaCy's colour for the labels it knows (OntoNotes'), and for any other a light colour of its own
    (the hue from a checksum of the name), so every label of any data set is marked, the same way in every report."""
    from spacy.displacy.render import DEFAULT_LABEL_COLORS

    return {
        label: DEFAULT_LABEL_COLORS.get(label) or f"hsl({zlib.crc32(label.encode('utf8')) % 360}, 75%, 78%)"
        for label in labels
    }


def displacy_sentence(example: ErrorExample, side: str, colours: Dict[str, str]) -> str:
    """The sentence with that side's entities marked by displaCy."""
    from spacy import displacy

    offsets, text = [], ""
    for word, space in zip(example.words, example.spaces):
        offsets.append(len(text))
        text += word + (" " if space else "")
    ends = [start + len(word) for start, word in zip(offsets, example.words)]
    entities = example.gold if side == "gold" else example.predicted
    parsed = {
        "text": text,
        "ents": [{"start": offsets[s], "end": ends[e - 1], "label": label} for s, e, label in entities],
        "title": None,
    }
    return displacy.render(parsed, style="ent", manual=True, page=False, jupyter=False, options={"colors": colours})


def at_issue(example: ErrorExample) -> str:
    """Which entity the row is about: gold's and the prediction's text and label."""
    sides = []
    for side in ("gold", "predicted"):
        focus = example.focus(side)
        if focus is None:
            sides.append(f'<span class="absent">nothing {"in gold" if side == "gold" else "predicted"}</span>')
        else:
            words = "".join(
                w + (" " if s else "")
                for w, s in zip(example.words[focus[0] : focus[1]], example.spaces[focus[0] : focus[1]])
            ).strip()
            sides.append(f"“{esc(words)}” {esc(focus[2])}")
    return f"Doc {example.outcome.doc}, token {example.start}:<br>{sides[0]} → {sides[1]}"


def examples_html(chosen: Dict[str, List[ErrorExample]]) -> str:
    labels = {e[2] for found in chosen.values() for example in found for e in example.gold + example.predicted}
    colours = label_colours(sorted(labels))
    out = []
    for kind in ERROR_KINDS:
        found = chosen.get(kind) or []
        out.append(f"<h3>{esc(kind)} <small>— {esc(KIND_HELP[kind])}</small></h3>")
        if not found:
            out.append("<p class=muted>None in the test set.</p>")
            continue
        rows = "".join(
            f'<tr><td class="issue">{at_issue(e)}</td><td>{displacy_sentence(e, "gold", colours)}</td>'
            f"<td>{displacy_sentence(e, 'predicted', colours)}</td></tr>"
            for e in found
        )
        out.append(
            '<table class="examples"><tr><th>at issue: gold → predicted</th><th>gold</th><th>predicted</th></tr>'
            f"{rows}</table>"
        )
    return "".join(out)


def errors_section(
    examples: list, problems: List[str], gold_path: Path, predicted_path: Path, image: Path, per_kind: int
) -> Tuple[Section, Optional[Confusion]]:
    section = Section("Errors", missing=list(problems))
    if problems:
        return section, None
    outcomes = match_examples(examples)
    table = confusion_table(outcomes)
    if not table.labels:
        section.body = f"<p>No entity in <code>{esc(gold_path)}</code> nor in <code>{esc(predicted_path)}</code>.</p>"
        return section, table
    plot_confusion(table, image)
    section.body = (
        f"<p>Every gold entity of <code>{esc(gold_path)}</code> and every predicted one of "
        f"<code>{esc(predicted_path)}</code> ({len(examples)} Docs), paired one to one: same span first, "
        "then overlapping spans (same label first, then the larger overlap). "
        "A row holds the gold entities of its type, a column the predicted entities of its type. "
        "In each cell the first number counts pairs with the same span "
        "(on the diagonal: the correct ones; off it: type confusions), "
        "<span class=boundary>+n boundary</span> the pairs whose spans overlap but differ. "
        "A row adds up to its gold total, a column to its predicted total.</p>"
        f"{confusion_html(table)}{kinds_html(table)}{image_tag(image, 'Confusion table')}"
        f"<h3>Examples</h3><p>The first {per_kind} of each kind in the test set, gold beside predicted, "
        "as displaCy draws them.</p>"
        f"{examples_html(error_examples(examples, outcomes, per_kind))}"
    )
    return section, table
