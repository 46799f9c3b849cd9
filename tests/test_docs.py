"""The README says what the code does: its set-up commands, the project's commands, the results section."""

import re
from pathlib import Path

import pytest

from conftest import PROJECT_DIR
from scripts.package import licence_files, package_meta
from scripts.readme_results import END, START, copy_pictures, replace_section, results_markdown

README = (PROJECT_DIR / "README.md").read_text(encoding="utf8")
DOCS_START, DOCS_END = "<!-- WEASEL: AUTO-GENERATED DOCS START", "<!-- WEASEL: AUTO-GENERATED DOCS END"
TEST_SCORES = {
    "ents_p": 0.5,
    "ents_r": 0.25,
    "ents_f": 1 / 3,
    "ents_per_type": {"PER": {"p": 0.5, "r": 0.25, "f": 1 / 3}},
}
STATS = {
    "source": "lhoestq/conll2003",
    "n_sents": 10,
    "splits": {"test": {"sentences": 2, "tokens": 9, "entities_total": 4}},
}


def readme_head() -> list:
    """The lines of README's first bash block: the two commands a newcomer runs, each after its comment."""
    return README.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()


def test_readme_opens_with_the_demo_and_the_test_commands():
    head = readme_head()
    assert head[0].startswith("# 1. ") and head[1].endswith("python -m spacy project run demo")
    assert head[2].startswith("# 2. ") and head[3].endswith("python -m pytest tests")


def test_ci_runs_the_readme_test_command():
    """CI's last command is README's test command, character for character: CI tests what a newcomer runs."""
    ci = (PROJECT_DIR / ".ci" / "run").read_text(encoding="utf8").splitlines()
    commands = [line for line in ci if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == readme_head()[3]


def hand_written(readme: str) -> str:
    """README without what commands write there: the results, which `spacy project run results` fills, and
    weasel's list of project.yml's commands."""
    text = readme.split(DOCS_START)[0]
    return text.split(START)[0] + text.split(END)[1]


def test_readme_is_a_front_page_that_leaves_detail_to_docs():
    """Short enough to read at once (each section about a screen, the whole a few): a generous bound in lines,
    which an edit of a sentence cannot cross. Each feature's section points to its page in docs/."""
    text = hand_written(README)
    sections = {part.split("\n", 1)[0]: part.splitlines() for part in re.split(r"^## ", text, flags=re.M)[1:]}
    titles = [
        "What it does",
        "The real run",
        "How well it learns",
        "Using the model",
        "Annotating files: `annotate`",
        "Serving",
        "Results",
        "Tests",
    ]
    assert [title for title in sections if title in titles] == titles
    too_long = {title: len(lines) for title, lines in sections.items() if len(lines) > 50}
    assert not too_long, f"README sections over 50 lines (move detail to docs/): {too_long}"
    assert len(text.splitlines()) <= 250, "README is over 250 hand-written lines: move detail to docs/"
    pages = {
        "How well it learns": "docs/accuracy.md",
        "Using the model": "docs/precision.md",
        "Annotating files: `annotate`": "docs/annotate.md",
        "Serving": "docs/serving.md",
        "Tests": "docs/tests.md",
    }
    assert {title: page for title, page in pages.items() if f"]({page}" not in "\n".join(sections[title])} == {}
    assert 'python -m pytest -m "not slow" tests' in "\n".join(sections["Tests"])
    assert "slow:" in (PROJECT_DIR / "pytest.ini").read_text()  # the marker the fast tier leaves out


def heading_anchors(markdown: str) -> set:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    titles = re.findall(r"^#+ (.+)$", markdown, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-") for title in titles}


def missing_targets(folder, targets) -> list:
    """Of `targets` (paths relative to `folder`, each with an optional #anchor), those whose file is missing
    or whose anchor names no heading of that Markdown page."""
    missing = []
    for target in targets:
        path, _, anchor = target.partition("#")
        file = folder / path
        if not file.exists():
            missing.append(target)
        elif anchor and file.suffix == ".md" and anchor not in heading_anchors(file.read_text(encoding="utf8")):
            missing.append(target)
    return missing


PAGES = ["README.md", *sorted(str(page.relative_to(PROJECT_DIR)) for page in (PROJECT_DIR / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES)
def test_links_lead_to_files_and_headings_that_exist(page):
    text = (PROJECT_DIR / page).read_text(encoding="utf8")
    links = [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t]
    targets = [Path(page).name + t if t.startswith("#") else t for t in links]  # "#x": a heading of this page
    assert targets, page
    missing = missing_targets((PROJECT_DIR / page).parent, targets)
    assert not missing, f"{page} links to missing files or headings: {missing}"


def test_code_points_to_docs_that_exist():
    """Comments say why and leave figures to docs/, naming the page and section: each such pointer in the code,
    the config and project.yml leads to a file and heading that exist."""
    sources = [
        *(PROJECT_DIR / "scripts").rglob("*.py"),
        *(PROJECT_DIR / "configs").glob("*.cfg"),
        PROJECT_DIR / "project.yml",
        *PROJECT_DIR.glob("requirements*.txt"),
    ]
    missing = {}
    for source in sources:
        targets = re.findall(r"\bdocs/[\w/.-]+\.md(?:#[\w-]+)?", source.read_text(encoding="utf8"))
        if missing_targets(PROJECT_DIR, targets):
            missing[str(source.relative_to(PROJECT_DIR))] = missing_targets(PROJECT_DIR, targets)
    assert not missing, f"pointers to missing docs or headings: {missing}"


def test_readme_lists_the_commands_of_project_yml(tmp_path):
    from weasel.cli.document import project_document  # what `python -m spacy project document` runs

    output = tmp_path / "README.md"
    project_document(PROJECT_DIR, output)
    generated = output.read_text(encoding="utf8")
    section = lambda text: text[text.index(DOCS_START) : text.index(DOCS_END)]  # noqa: E731
    assert section(README) == section(generated), "run: python -m spacy project document --output README.md"


def test_results_section_is_replaced_between_its_markers():
    body = results_markdown(TEST_SCORES, {"agree": True, "tolerance": 1e-9}, STATS, "distilbert-base-uncased")
    updated = replace_section(f"intro\n{START}\nold\n{END}\nrest\n", body)
    assert updated == f"intro\n{START}\n{body}\n{END}\nrest\n"
    assert "| **all** | **0.500** | **0.250** | **0.333** |" in body and "| PER | 0.500 | 0.250 | 0.333 |" in body
    with pytest.raises(ValueError, match="no results section"):
        replace_section("no markers", body)


def test_package_meta_carries_sources_and_measured_scores():
    meta = package_meta(
        TEST_SCORES, {"agree": True}, STATS, "distilbert-base-uncased", "1.2.3", "MIT", "data terms", "apache-2.0"
    )
    assert meta["performance"] == TEST_SCORES and meta["version"] == "1.2.3"
    assert meta["sources"] == [
        {
            "name": "lhoestq/conll2003",
            "url": "https://huggingface.co/datasets/lhoestq/conll2003",
            "license": "data terms",
        },
        {
            "name": "distilbert-base-uncased",
            "url": "https://huggingface.co/distilbert-base-uncased",
            "license": "apache-2.0",
        },
    ]
    assert "Test F 0.3333" in meta["description"]
    noted = package_meta(
        TEST_SCORES,
        {"agree": True},
        STATS,
        "distilbert-base-uncased",
        "0.0.0",
        "MIT",
        "invented",
        "random",
        note="DEMO ONLY.",
    )
    assert noted["description"].startswith("DEMO ONLY. English NER")
    files = licence_files({**meta, "name": "ner_x"})
    assert files["LICENSE"].startswith("ner_x 1.2.3 is released under the MIT licence")
    assert "https://huggingface.co/distilbert-base-uncased\nLicence: apache-2.0" in files["LICENSES_SOURCES"]


def test_results_show_the_report_pictures_it_found(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "report_training.png").write_bytes(b"png")
    pictures = copy_pictures(tmp_path / "metrics" / "report.html", tmp_path / "docs")
    assert pictures == {"training": "docs/results_training.png"}  # no errors picture: left out
    assert (tmp_path / "docs" / "results_training.png").read_bytes() == b"png"
    body = results_markdown(TEST_SCORES, {"agree": True, "tolerance": 1e-9}, STATS, "distilbert-base-uncased", pictures)
    assert body.endswith("](docs/results_training.png)")
