"""P, R and F per entity type on test, spaCy's beside seqeval's, as a picture and a table.

The picture has a row per type (bars across, names on the left), so it stays readable for any
label set: CoNLL-2003's 4 types, OntoNotes' 18, or long names such as WNUT's `creative-work`."""

from pathlib import Path
from typing import Dict, List, Optional

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from scripts.error_analysis import Confusion  # noqa: E402
from scripts.report.page import Section, esc, fmt, html_table, image_tag  # noqa: E402

SCORER_COLOURS = ("#4c72b0", "#dd8452")
ALL = "all (micro)"


def per_type_sides(test_scores: Optional[dict], crosscheck: Optional[dict]) -> Dict[str, dict]:
    """{"spaCy": ..., "seqeval": ...}, each {"per_type": {type: {p, r, f}}, "all": {p, r, f}},
    for the inputs there are."""
    sides = {}
    if test_scores is not None and isinstance(test_scores.get("ents_per_type"), dict):
        sides["spaCy"] = {
            "per_type": test_scores["ents_per_type"],
            "all": {k: test_scores.get(f"ents_{k}") or 0.0 for k in "prf"},
        }
    if crosscheck is not None and isinstance(crosscheck.get("seqeval"), dict):
        seqeval = crosscheck["seqeval"]
        sides["seqeval"] = {"per_type": seqeval.get("per_type") or {}, "all": {k: seqeval.get(k, 0.0) for k in "prf"}}
    return sides


def plot_per_type(sides: Dict[str, dict], path: Path) -> None:
    """Three panels (P, R, F), a row of bars per type and one for all types, one bar per scorer."""
    types = sorted({t for side in sides.values() for t in side["per_type"]}) + [ALL]
    height = 0.8 / len(sides)
    fig, axes = plt.subplots(1, 3, figsize=(12, 1.6 + 0.22 * len(types) * len(sides)), sharey=True)
    for ax, key, name in zip(axes, "prf", ("Precision", "Recall", "F")):
        for i, (side_name, side) in enumerate(sides.items()):
            values = [100 * ((side["all"] if t == ALL else side["per_type"].get(t, {})).get(key) or 0.0) for t in types]
            ys = [y - 0.4 + height * (i + 0.5) for y in range(len(types))]
            bars = ax.barh(
                ys,
                values,
                height,
                label=side_name,
                color=SCORER_COLOURS[i % 2],
                hatch="//" if i else None,
                edgecolor="white",
            )
            ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
        ax.set_title(f"{name} on test (%)")
        ax.set_xlim(0, 115)
        ax.set_xticks(range(0, 101, 20))
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(types)), types)
    axes[0].get_yticklabels()[-1].set_fontweight("bold")
    axes[0].invert_yaxis()  # types top down in alphabetical order, all at the bottom
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def per_type_section(
    test_path: Path,
    test_scores: Optional[dict],
    crosscheck_path: Path,
    crosscheck: Optional[dict],
    problems: List[str],
    image: Path,
    table: Optional[Confusion],
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
    for t in types + [ALL]:
        gold = predicted = ""
        if table is not None:
            gold = sum(table.row_total(x) for x in table.labels) if t == ALL else table.row_total(t)
            predicted = sum(table.column_total(x) for x in table.labels) if t == ALL else table.column_total(t)
        elif "seqeval" in sides and t in sides["seqeval"]["per_type"]:
            gold = sides["seqeval"]["per_type"][t].get("support", "")
        cells = [t, gold, predicted]
        for side in sides.values():
            scores = side["all"] if t == ALL else side["per_type"].get(t, {})
            cells += [fmt(100 * scores[k]) if scores.get(k) is not None else "–" for k in "prf"]
        rows.append((cells, t == ALL))
    agree = ""
    if crosscheck is not None:
        agree = (
            "<p>seqeval, reading the same predictions per sentence as conlleval does, "
            "agrees with spaCy on every figure: "
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
