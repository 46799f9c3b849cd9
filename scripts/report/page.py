"""The page's pieces: reading inputs (a missing or bad one becomes a notice, not a traceback), HTML
tables and pictures, and the page itself from the template page.html beside this file."""

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Dict, List, Optional, Sequence, Tuple

import srsly

IMAGES = ("training", "per_type", "errors")  # report_training.png etc. beside report.html
TEMPLATE = Path(__file__).with_name("page.html")


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


def esc(value) -> str:
    return html.escape(str(value))


def fmt(value: Optional[float]) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if abs(value) < 1e5 else f"{value:.3g}"


def html_table(header: Sequence[str], rows: Sequence[Tuple[Sequence, bool]], css_class: str = "") -> str:
    """Rows of (cells, highlighted); numbers right-aligned, a class "text" table left-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        f"<tr{' class=hl' if hl else ''}>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
        for cells, hl in rows
    )
    return f"<table{f' class={css_class}' if css_class else ''}><tr>{head}</tr>{body}</table>"


def image_tag(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img src="data:image/png;base64,{data}" alt="{esc(alt)}"></p>'


def image_paths(output: Path) -> Dict[str, Path]:
    return {name: output.with_name(f"{output.stem}_{name}.png") for name in IMAGES}


def render_page(sections: Sequence[Section], summary: str) -> str:
    missing = [m for s in sections for m in s.missing]
    notice = ""
    if missing:
        notice = (
            '<div class="missing"><b>Missing or unreadable inputs:</b><ul>'
            + "".join(f"<li>{esc(m)}</li>" for m in missing)
            + "</ul></div>"
        )
    parts = []
    for s in sections:
        gap = "".join(f'<p class="missing">{esc(m)}</p>' for m in s.missing)
        parts.append(f"<h2>{esc(s.title)}</h2>{gap}{s.body}")
    template = Template(TEMPLATE.read_text(encoding="utf8"))
    return template.substitute(summary=summary, notice=notice, sections="\n".join(parts))
