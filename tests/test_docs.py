"""The README says what the code does: its set-up commands, the project's commands, the results section."""
import re

import pytest

from conftest import PROJECT_DIR
from scripts.package import licence_files, package_meta
from scripts.readme_results import END, START, copy_pictures, replace_section, results_markdown

README = (PROJECT_DIR / "README.md").read_text(encoding="utf8")
DOCS_START, DOCS_END = "<!-- WEASEL: AUTO-GENERATED DOCS START", "<!-- WEASEL: AUTO-GENERATED DOCS END"
TEST_SCORES = {"ents_p": 0.5, "ents_r": 0.25, "ents_f": 1 / 3, "ents_per_type": {"PER": {"p": 0.5, "r": 0.25, "f": 1 / 3}}}
STATS = {"source": "lhoestq/conll2003", "n_sents": 10, "splits": {"test": {"sentences": 2, "tokens": 9, "entities_total": 4}}}


def test_readme_opens_with_the_demo_and_the_test_commands():
    head = README.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert head[0].startswith("# 1. ") and head[1].endswith("python -m spacy project run demo")
    assert head[2].startswith("# 2. ") and head[3].endswith("python -m pytest tests")
    assert "grep -A1 '^# 2\\. ' README.md" in (PROJECT_DIR / ".ci" / "run").read_text()


def test_readme_is_short_and_says_how_to_run_each_tier():
    assert len(README.encode("utf8")) <= 12_000, "README.md is over 12 KB: move detail to docs/"
    assert 'python -m pytest -m "not slow" tests' in README and "python -m pytest tests" in README
    assert "slow:" in (PROJECT_DIR / "pytest.ini").read_text()  # the marker the fast tier leaves out


@pytest.mark.parametrize("page", ["README.md", "docs/annotate.md", "docs/design.md", "docs/performance.md", "docs/precision.md"])
def test_links_lead_to_files_that_exist(page):
    text = (PROJECT_DIR / page).read_text(encoding="utf8")
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t and not t.startswith("#")]
    assert targets, page
    missing = [t for t in targets if not ((PROJECT_DIR / page).parent / t).exists()]
    assert not missing, f"{page} links to missing files: {missing}"


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
    meta = package_meta(TEST_SCORES, {"agree": True}, STATS, "distilbert-base-uncased", "1.2.3", "MIT", "data terms", "apache-2.0")
    assert meta["performance"] == TEST_SCORES and meta["version"] == "1.2.3"
    assert meta["sources"] == [
        {"name": "lhoestq/conll2003", "url": "https://huggingface.co/datasets/lhoestq/conll2003", "license": "data terms"},
        {"name": "distilbert-base-uncased", "url": "https://huggingface.co/distilbert-base-uncased", "license": "apache-2.0"},
    ]
    assert "Test F 0.3333" in meta["description"]
    noted = package_meta(TEST_SCORES, {"agree": True}, STATS, "distilbert-base-uncased", "0.0.0", "MIT", "invented", "random", note="DEMO ONLY.")
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
