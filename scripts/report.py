"""One HTML page to look at after a run: the training curve, P/R/F per entity type from both
scorers, and where the errors are, drawn from the files the run wrote (no model, no GPU).

`python -m scripts.report --training-dir training --corpus-dir corpus --metrics-dir metrics
--output metrics/report.html` writes the page, with its pictures embedded, and the same pictures
beside it as PNGs (report_training.png, report_per_type.png, report_errors.png for report.html).
Each section stands alone: an input that is missing or unreadable leaves a notice naming it in
that section and in a list at the top, not a traceback, and the exit status stays 0.
"""
import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")  # headless: no display on a training machine

import matplotlib.pyplot as plt  # noqa: E402
import srsly  # noqa: E402
import typer  # noqa: E402
from matplotlib.colors import PowerNorm  # noqa: E402
from wasabi import msg  # noqa: E402

from scripts.errors import (  # noqa: E402
    ERROR_KINDS, KIND_HELP, KINDS, MISSED, SPURIOUS, Confusion, ErrorExample, confusion_table, error_examples, match_examples,
)
from scripts.scoring import read_predictions  # noqa: E402

IMAGES = ("training", "per_type", "errors")  # report_training.png etc. beside report.html
LABEL_COLOURS = {"PER": "#aa9cfc", "ORG": "#7aecec", "LOC": "#ff9561", "MISC": "#c887fb"}
SCORER_COLOURS = ("#4c72b0", "#dd8452")


@dataclass
class Section:
    title: str
    body: str = ""
    missing: List[str] = field(default_factory=list)


def missing_note(path: Path, step: str) -> str:
    return f"{path} is missing: the {step} step writes it (spacy project run {step})"


def read_json(path: Path, step: str) -> Tuple[Optional[dict], Optional[str]]:
    """The JSON object in `path`, or None and what is wrong with it."""
    if not path.is_file():
        return None, missing_note(path, step)
    try:
        data = srsly.read_json(path)
    except ValueError as err:
        return None, f"{path} is not valid JSON ({err}): run the {step} step again"
    if not isinstance(data, dict):
        return None, f"{path} holds no JSON object: run the {step} step again"
    return data, None


# Training curve


def read_training_log(path: Path) -> Tuple[List[dict], List[str]]:
    """The evaluations in spaCy's JSON-lines log (ConsoleLogger.v3 writes one line per evaluation),
    and the problems found: no log, no evaluation yet, lines that are not evaluations (a line cut
    off by a run still writing is left out, the rest shown)."""
    if not path.is_file():
        return [], [missing_note(path, "train")]
    evaluations, bad = [], 0
    for line in path.read_text(encoding="utf8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if not (isinstance(entry, dict) and isinstance(entry.get("step"), int) and isinstance(entry.get("scores"), dict)):
            bad += 1
            continue
        scores = {k: float(v) for k, v in entry["scores"].items() if isinstance(v, (int, float))}
        score = entry.get("score")
        evaluations.append({
            "step": entry["step"],
            "epoch": entry.get("epoch"),
            "scores": scores,
            "score": float(score) if isinstance(score, (int, float)) else scores.get("ents_f", 0.0) / 100,
            "losses": {k: float(v) for k, v in (entry.get("losses") or {}).items() if isinstance(v, (int, float))},
        })
    problems = [f"{bad} line(s) of {path} are no evaluation and were left out"] if bad else []
    if not evaluations:
        problems.append(f"{path} has no evaluation yet: spaCy writes a line at each evaluation (every training.eval_frequency steps)")
    return evaluations, problems


def best_evaluation(evaluations: Sequence[dict]) -> dict:
    """The evaluation model-best holds: spaCy saves it whenever the score equals the best so far
    (`score == max(results)[0]` in spacy/training/loop.py), so among equal scores the latest step."""
    return max(evaluations, key=lambda e: (e["score"], e["step"]))


def loss_per_step(evaluations: Sequence[dict]) -> List[Dict[str, float]]:
    """Each logged loss divided by the steps it sums: spaCy adds the losses of every update since the
    previous evaluation and resets them after logging; the first evaluation, at step 0, follows one."""
    per_step, previous = [], -1
    for e in evaluations:
        n_steps = e["step"] - previous
        per_step.append({k: v / n_steps for k, v in e["losses"].items()} if n_steps > 0 else {})
        previous = e["step"]
    return per_step


def plot_training(evaluations: Sequence[dict], best: dict, path: Path) -> None:
    steps = [e["step"] for e in evaluations]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for key, name in (("ents_f", "F"), ("ents_p", "P"), ("ents_r", "R")):
        if any(key in e["scores"] for e in evaluations):
            top.plot(steps, [e["scores"].get(key, float("nan")) for e in evaluations], marker="o", ms=3, label=f"dev {name}", lw=2 if name == "F" else 1)
    if not top.lines:  # another pipeline's log: spaCy's weighted score
        top.plot(steps, [e["score"] * 100 for e in evaluations], marker="o", ms=3, label="dev score")
    best_f = best["scores"].get("ents_f", best["score"] * 100)
    for ax in (top, bottom):
        ax.axvline(best["step"], color="grey", ls="--", lw=1)
        ax.grid(alpha=0.3)
    top.plot([best["step"]], [best_f], marker="*", ms=14, color="black", ls="", label=f"model-best: step {best['step']}, F {best_f:.2f}")
    top.set_ylabel("dev score (%)")
    top.set_title("Training: dev scores at each evaluation")
    top.legend(loc="lower right")
    losses = loss_per_step(evaluations)
    for name in sorted({k for e in losses for k in e}):
        points = [(s, e[name]) for s, e in zip(steps, losses) if name in e]
        bottom.plot([s for s, _ in points], [v for _, v in points], marker="o", ms=3, label=f"{name} loss")
    if all(v > 0 for e in losses for v in e.values()) and any(losses):
        bottom.set_yscale("log")
    bottom.set_ylabel("train loss per step")
    bottom.set_xlabel("step")
    if bottom.lines:
        bottom.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def training_section(log_path: Path, evaluations: List[dict], problems: List[str], image: Path) -> Section:
    section = Section("Training curve", missing=list(problems))
    if not evaluations:
        return section
    best = best_evaluation(evaluations)
    plot_training(evaluations, best, image)
    losses = loss_per_step(evaluations)
    names = sorted({k for e in losses for k in e})
    header = ["step", "epoch", "dev P", "dev R", "dev F", "score"] + [f"{n} loss/step" for n in names]
    rows = []
    for e, loss in zip(evaluations, losses):
        cells = [e["step"], e["epoch"] if e["epoch"] is not None else ""] + [fmt(e["scores"].get(k)) for k in ("ents_p", "ents_r", "ents_f")]
        cells += [f"{e['score']:.4f}"] + [fmt(loss.get(n)) for n in names]
        rows.append((cells, e is best))
    f = best["scores"].get("ents_f")
    section.body = (
        f"<p>Dev P, R and F at each of the {len(evaluations)} evaluations in <code>{esc(log_path)}</code>, and the training losses "
        f"(per step: spaCy logs their sum since the previous evaluation). The star marks step {best['step']}, the best score"
        f"{f' (dev F {f:.2f})' if f is not None else ''}, which <code>model-best</code> keeps (of equal scores, spaCy keeps the latest).</p>"
        f"{image_tag(image, 'Training curve')}"
        f"<details><summary>Every evaluation</summary>{html_table(header, rows)}</details>"
    )
    return section


# Per type


def per_type_sides(test_scores: Optional[dict], crosscheck: Optional[dict]) -> Dict[str, dict]:
    """{"spaCy": ..., "seqeval": ...}, each {"per_type": {type: {p, r, f}}, "all": {p, r, f}}, for the inputs there are."""
    sides = {}
    if test_scores is not None and isinstance(test_scores.get("ents_per_type"), dict):
        sides["spaCy"] = {"per_type": test_scores["ents_per_type"], "all": {k: test_scores.get(f"ents_{k}") or 0.0 for k in "prf"}}
    if crosscheck is not None and isinstance(crosscheck.get("seqeval"), dict):
        seqeval = crosscheck["seqeval"]
        sides["seqeval"] = {"per_type": seqeval.get("per_type") or {}, "all": {k: seqeval.get(k, 0.0) for k in "prf"}}
    return sides


def plot_per_type(sides: Dict[str, dict], path: Path) -> None:
    types = sorted({t for side in sides.values() for t in side["per_type"]}) + ["all"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharey=True)
    width = 0.8 / len(sides)
    for ax, key, name in zip(axes, "prf", ("Precision", "Recall", "F")):
        for i, (side_name, side) in enumerate(sides.items()):
            values = [100 * ((side["all"] if t == "all" else side["per_type"].get(t, {})).get(key) or 0.0) for t in types]
            xs = [x - 0.4 + width * (i + 0.5) for x in range(len(types))]
            bars = ax.bar(xs, values, width, label=side_name, color=SCORER_COLOURS[i % 2], hatch="//" if i else None, edgecolor="white")
            ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2, rotation=90)
        ax.set_xticks(range(len(types)), types)
        ax.set_title(f"{name} on test")
        ax.set_ylim(0, 118)
        ax.set_yticks(range(0, 101, 20))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("%")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def per_type_section(
    test_path: Path, test_scores: Optional[dict], crosscheck_path: Path, crosscheck: Optional[dict], problems: List[str],
    image: Path, table: Optional[Confusion],
) -> Section:
    section = Section("Per entity type", missing=list(problems))
    sides = per_type_sides(test_scores, crosscheck)
    if test_scores is not None and "spaCy" not in sides:
        section.missing.append(f"{test_path} has no ents_per_type: is it spaCy's scores of an ner pipeline?")
    if not sides:
        return section
    plot_per_type(sides, image)
    types = sorted({t for side in sides.values() for t in side["per_type"]})
    header = ["type", "gold", "predicted"] + [f"{side} {k.upper()}" for side in sides for k in "prf"]
    rows = []
    for t in types + ["all"]:
        gold = predicted = ""
        if table is not None:
            gold = sum(table.row_total(x) for x in table.labels) if t == "all" else table.row_total(t)
            predicted = sum(table.column_total(x) for x in table.labels) if t == "all" else table.column_total(t)
        elif "seqeval" in sides and t in sides["seqeval"]["per_type"]:
            gold = sides["seqeval"]["per_type"][t].get("support", "")
        cells = [t if t != "all" else "all (micro)", gold, predicted]
        for side in sides.values():
            scores = side["all"] if t == "all" else side["per_type"].get(t, {})
            cells += [fmt(100 * scores[k]) if scores.get(k) is not None else "–" for k in "prf"]
        rows.append((cells, t == "all"))
    agree = ""
    if crosscheck is not None:
        agree = (
            f"<p>seqeval, reading the same predictions per sentence as conlleval does, agrees with spaCy on every figure: "
            f"<b>{'yes' if crosscheck.get('agree') else 'NO'}</b>{mismatch_list(crosscheck)}</p>"
        )
    section.body = (
        f"<p>Precision, recall and F on test, in percent: spaCy's (<code>{esc(test_path)}</code>) beside seqeval's "
        f"(<code>{esc(crosscheck_path)}</code>). Gold and predicted are entity counts.</p>{agree}"
        f"{image_tag(image, 'P/R/F per entity type')}{html_table(header, rows)}"
    )
    return section


def mismatch_list(crosscheck: dict) -> str:
    mismatches = crosscheck.get("mismatches") or []
    return "<ul>" + "".join(f"<li>{esc(m)}</li>" for m in mismatches) + "</ul>" if mismatches else ""


# Errors


def cell_text(table: Confusion, row: str, column: str) -> Tuple[str, str]:
    """A cell's same-span count (on the diagonal: the correct ones) and its boundary errors, apart."""
    boundary = table.boundary[row, column]
    return str(table.same_span[row, column]), f"+{boundary} boundary" if boundary else ""


def cell_errors(table: Confusion, row: str, column: str) -> int:
    """The errors in a cell: all of it off the diagonal, the boundary errors on it."""
    return table.boundary[row, column] if row == column else table.cell(row, column)


def plot_confusion(table: Confusion, path: Path) -> None:
    """Errors in shades of red (their count), cells of correct entities only in green."""
    rows, columns = table.rows, table.columns
    most = max(cell_errors(table, r, c) for r in rows for c in columns) or 1
    norm = PowerNorm(0.5, vmin=0, vmax=most)
    colours = [[(0.9, 0.9, 0.9, 1) if (r, c) == (SPURIOUS, MISSED) else plt.cm.Reds(0.1 + 0.8 * norm(cell_errors(table, r, c)))
                if cell_errors(table, r, c) else ((0.82, 0.93, 0.8, 1) if r == c else (1, 1, 1, 1)) for c in columns] for r in rows]
    fig, ax = plt.subplots(figsize=(1.5 * len(columns) + 2, 0.75 * len(rows) + 1.6))
    ax.imshow(colours, aspect="auto")
    for i, r in enumerate(rows):
        for j, c in enumerate(columns):
            if (r, c) == (SPURIOUS, MISSED):
                continue
            count, boundary = cell_text(table, r, c)
            dark = norm(cell_errors(table, r, c)) > 0.6
            ax.text(j, i, f"{count}\n{boundary}" if boundary else count, ha="center", va="center", fontsize=10, color="white" if dark else "black")
    ax.set_xticks(range(len(columns)), columns)
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
            colour = f"rgba(214,39,40,{0.1 + 0.35 * (errors / most) ** 0.5:.2f})" if errors else ("rgba(46,139,87,0.2)" if r == c else "transparent")
            extra = f'<br><span class="boundary">{boundary}</span>' if boundary else ""
            cells.append(f'<td style="background:{colour}">{count}{extra}</td>')
        name = "spurious (no gold)" if r == SPURIOUS else esc(r)
        body.append(f"<tr><th>{name}</th>{''.join(cells)}<td class=total>{table.row_total(r)}</td></tr>")
    totals = "".join(f"<td class=total>{table.column_total(c)}</td>" for c in table.columns)
    body.append(f"<tr><th>predicted total</th>{totals}<td></td></tr>")
    return f'<table class="confusion"><tr><th>gold ↓ &nbsp; predicted →</th>{head}<th>gold total</th></tr>{"".join(body)}</table>'


def kinds_html(table: Confusion) -> str:
    gold = sum(table.row_total(x) for x in table.labels)
    predicted = sum(table.column_total(x) for x in table.labels)
    rows = [([kind, table.kinds[kind], KIND_HELP[kind]], False) for kind in KINDS]
    paired = sum(table.kinds[k] for k in KINDS[:4])
    sums = (
        f"<p>Gold entities: {gold} = {paired} paired + {table.kinds[MISSED]} missed. "
        f"Predicted entities: {predicted} = {paired} paired + {table.kinds[SPURIOUS]} spurious. "
        f"Only <i>correct</i> counts for P and R: P = {table.kinds['correct']}/{predicted}, R = {table.kinds['correct']}/{gold}.</p>"
    )
    return html_table(["kind", "count", "meaning"], rows, "text") + sums


def sentence_html(example: ErrorExample, side: str) -> str:
    """The sentence with that side's entities marked, the one at issue outlined."""
    spans = {e[0]: e for e in (example.gold if side == "gold" else example.predicted)}
    focus = example.focus(side)
    parts, i = [], 0
    while i < len(example.words):
        if i in spans:
            start, end, label = spans[i]
            text = "".join(w + (" " if s else "") for w, s in zip(example.words[start:end], example.spaces[start:end])).strip()
            cls = "ent focus" if focus is not None and focus[:2] == (start, end) else "ent"
            colour = LABEL_COLOURS.get(label, "#ddd")
            parts.append(f'<mark class="{cls}" style="background:{colour}">{esc(text)} <span class="label">{esc(label)}</span></mark>')
            parts.append(" " if example.spaces[end - 1] else "")
            i = end
        else:
            parts.append(esc(example.words[i]) + (" " if example.spaces[i] else ""))
            i += 1
    if focus is None:
        parts.append(f' <span class="absent">(nothing {"in gold" if side == "gold" else "predicted"} here)</span>')
    return "".join(parts)


def examples_html(chosen: Dict[str, List[ErrorExample]]) -> str:
    out = []
    for kind in ERROR_KINDS:
        found = chosen.get(kind) or []
        out.append(f"<h3>{esc(kind)} <small>— {esc(KIND_HELP[kind])}</small></h3>")
        if not found:
            out.append("<p class=muted>None in the test set.</p>")
            continue
        rows = "".join(
            f"<tr><td class=doc>Doc {e.outcome.doc}, token {e.start}</td><td>{sentence_html(e, 'gold')}</td><td>{sentence_html(e, 'predicted')}</td></tr>"
            for e in found
        )
        out.append(f'<table class="examples"><tr><th class=doc></th><th>gold</th><th>predicted</th></tr>{rows}</table>')
    return "".join(out)


def load_examples(gold_path: Path, predicted_path: Path) -> Tuple[list, List[str]]:
    """The gold and predicted Docs paired, or what stops that."""
    problems = [missing_note(path, step) for path, step in ((gold_path, "corpus"), (predicted_path, "evaluate")) if not path.is_file()]
    if problems:
        return [], problems
    try:
        return read_predictions(gold_path, predicted_path), []
    except Exception as err:  # a DocBin cut short or from elsewhere: say so, whatever the reader raised
        return [], [f"{predicted_path} cannot be paired with {gold_path}: {type(err).__name__}: {err}"]


def errors_section(examples: list, problems: List[str], gold_path: Path, predicted_path: Path, image: Path, per_kind: int) -> Tuple[Section, Optional[Confusion]]:
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
        f"<p>Every gold entity of <code>{esc(gold_path)}</code> and every predicted one of <code>{esc(predicted_path)}</code> "
        f"({len(examples)} Docs), paired one to one: same span first, then overlapping spans (same label first, then the larger overlap). "
        f"A row holds the gold entities of its type, a column the predicted entities of its type. "
        f"In each cell the first number counts pairs with the same span (on the diagonal: the correct ones; off it: type confusions), "
        f"<span class=boundary>+n boundary</span> the pairs whose spans overlap but differ. A row adds up to its gold total, a column to its predicted total.</p>"
        f"{confusion_html(table)}{kinds_html(table)}{image_tag(image, 'Confusion table')}"
        f"<h3>Examples</h3><p>The first {per_kind} of each kind in the test set, gold beside predicted; the entity at issue is outlined.</p>"
        f"{examples_html(error_examples(examples, outcomes, per_kind))}"
    )
    return section, table


# Page


def esc(value) -> str:
    return html.escape(str(value))


def fmt(value: Optional[float]) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if abs(value) < 1e5 else f"{value:.3g}"


def html_table(header: Sequence[str], rows: Sequence[Tuple[Sequence, bool]], css_class: str = "") -> str:
    """Rows of (cells, highlighted); numbers right-aligned, a class "text" table left-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(f"<tr{' class=hl' if hl else ''}>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>" for cells, hl in rows)
    return f"<table{f' class={css_class}' if css_class else ''}><tr>{head}</tr>{body}</table>"


def image_tag(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img src="data:image/png;base64,{data}" alt="{esc(alt)}"></p>'


def image_paths(output: Path) -> Dict[str, Path]:
    return {name: output.with_name(f"{output.stem}_{name}.png") for name in IMAGES}


CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; vertical-align: top; }
th:first-child, td:first-child, table.text td, table.text th { text-align: left; }
tr.hl td { background: #fff6d5; font-weight: bold; }
table.confusion td, table.confusion th { text-align: center; min-width: 4.5em; } table.confusion td.total { font-weight: bold; background: #f4f4f4; }
table.confusion td.none { color: #aaa; } table.confusion th:first-child { text-align: left; }
.boundary { color: #7a3b00; font-size: 12px; font-weight: bold; }
table.examples td, table.examples th { text-align: left; width: 45%; } table.examples td { line-height: 2; }
table.examples .doc { width: 10%; color: #888; font-size: 12px; }
mark.ent { padding: 2px 4px; border-radius: 4px; } mark.focus { outline: 2px solid #d62728; }
mark .label { font-size: 10px; font-weight: bold; text-transform: uppercase; opacity: 0.8; }
.absent, .muted, small { color: #888; }
.missing { background: #fdecea; border-left: 4px solid #d62728; padding: 0.6em 1em; }
img { max-width: 100%; }
"""


def render_page(sections: Sequence[Section], summary: str) -> str:
    missing = [m for s in sections for m in s.missing]
    notice = ""
    if missing:
        notice = '<div class="missing"><b>Missing or unreadable inputs:</b><ul>' + "".join(f"<li>{esc(m)}</li>" for m in missing) + "</ul></div>"
    parts = []
    for s in sections:
        gap = "".join(f'<p class="missing">{esc(m)}</p>' for m in s.missing)
        parts.append(f"<h2>{esc(s.title)}</h2>{gap}{s.body}")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>NER report</title><style>{CSS}</style></head>'
        f"<body><h1>NER report</h1>{summary}{notice}{''.join(parts)}</body></html>\n"
    )


def summary_html(evaluations: List[dict], test_scores: Optional[dict], crosscheck: Optional[dict]) -> str:
    items = []
    if test_scores is not None and test_scores.get("ents_f") is not None:
        items.append(f"Test: F <b>{100 * test_scores['ents_f']:.2f}</b>, P {100 * (test_scores.get('ents_p') or 0):.2f}, R {100 * (test_scores.get('ents_r') or 0):.2f} (spaCy)")
    if crosscheck is not None:
        items.append(f"seqeval agrees: <b>{'yes' if crosscheck.get('agree') else 'NO'}</b>")
    if evaluations:
        best = best_evaluation(evaluations)
        items.append(f"model-best: step {best['step']} of {evaluations[-1]['step']}, dev F {fmt(best['scores'].get('ents_f'))}")
    return f"<p>{' · '.join(items)}</p>" if items else ""


def build_report(training_dir: Path, corpus_dir: Path, metrics_dir: Path, output: Path, per_kind: int = 3) -> List[str]:
    """Write the page and its PNGs; return what was missing (empty when the page is whole)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    images = image_paths(output)
    for image in images.values():  # no stale picture beside a page that says its input is missing
        image.unlink(missing_ok=True)
    log_path = training_dir / "train_log.jsonl"
    gold_path, predicted_path = corpus_dir / "test.spacy", metrics_dir / "test_predictions.spacy"
    test_path, crosscheck_path = metrics_dir / "test.json", metrics_dir / "crosscheck.json"
    evaluations, log_problems = read_training_log(log_path)
    test_scores, test_problem = read_json(test_path, "evaluate")
    crosscheck, crosscheck_problem = read_json(crosscheck_path, "crosscheck")
    examples, problems = load_examples(gold_path, predicted_path)
    training = training_section(log_path, evaluations, log_problems, images["training"])
    errors, table = errors_section(examples, problems, gold_path, predicted_path, images["errors"], per_kind)
    score_problems = [p for p in (test_problem, crosscheck_problem) if p]
    per_type = per_type_section(test_path, test_scores, crosscheck_path, crosscheck, score_problems, images["per_type"], table)
    sections = [training, per_type, errors]
    output.write_text(render_page(sections, summary_html(evaluations, test_scores, crosscheck)), encoding="utf8")
    return [m for s in sections for m in s.missing]


def main(
    training_dir: Path = typer.Option(Path("training"), "--training-dir", help="The train step's folder, with train_log.jsonl"),
    corpus_dir: Path = typer.Option(Path("corpus"), "--corpus-dir", help="The corpus step's folder, with test.spacy"),
    metrics_dir: Path = typer.Option(Path("metrics"), "--metrics-dir", help="Folder with test.json, crosscheck.json, test_predictions.spacy"),
    output: Path = typer.Option(Path("metrics/report.html"), "--output", "-o", help="The page; its PNGs are written beside it"),
    examples: int = typer.Option(3, "--examples", min=0, help="Example sentences per error kind"),
) -> None:
    missing = build_report(training_dir, corpus_dir, metrics_dir, output, examples)
    if missing:
        msg.warn(f"{len(missing)} input(s) missing or unreadable; the page says so too")
        print("".join(f"- {problem}\n" for problem in missing))
    pictures = ", ".join(str(p) for p in image_paths(output).values() if p.exists())
    msg.good(f"Wrote {output}{' (with what is missing, above)' if missing else ''}", f"Pictures: {pictures or 'none'}")


if __name__ == "__main__":
    typer.run(main)
