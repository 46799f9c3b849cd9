"""The report: the confusion table adds up on hand-made Docs, the page builds from a hand-made run
folder with its pictures inside, and missing or bad inputs are named on the page, not raised."""

import json
from collections import Counter
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.scorer import Scorer
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

from conftest import ONTONOTES_TYPES, run_cli
from scripts.error_analysis import MISSED, SPURIOUS, confusion_table, error_examples, match_entities, match_examples
from scripts.package import model_readme
from scripts.report.build import build_report
from scripts.report.confusion import label_colours
from scripts.report.training import best_evaluation, loss_per_step, read_training_log
from scripts.scoring import crosscheck

VOCAB = spacy.blank("en").vocab
WORDS = "Anna Brandt of Northwind Bank flew to New York City for the European Cup final .".split()
ANNA, NORTHWIND, NEW_YORK_CITY, EUROPEAN_CUP = (0, 2, "PER"), (3, 5, "ORG"), (7, 10, "LOC"), (12, 14, "MISC")
GOLD = [ANNA, NORTHWIND, NEW_YORK_CITY, EUROPEAN_CUP]


def doc(entities, words=WORDS) -> Doc:
    made = Doc(VOCAB, words=words, sent_starts=[i == 0 for i in range(len(words))])
    made.ents = [Span(made, start, end, label) for start, end, label in entities]
    return made


def example(gold, predicted) -> Example:
    return Example(doc(predicted), doc(gold))


CASES = {
    "perfect": (GOLD, GOLD, {"correct": 4}),
    "missed": (GOLD, [ANNA, NORTHWIND], {"correct": 2, "missed": 2}),
    "spurious": ([ANNA], [ANNA, (6, 7, "LOC"), EUROPEAN_CUP], {"correct": 1, "spurious": 2}),
    "type confusion": (GOLD, [(0, 2, "ORG"), NORTHWIND, (7, 10, "ORG"), EUROPEAN_CUP], {"correct": 2, "type": 2}),
    "boundary": (GOLD, [(1, 2, "PER"), (3, 6, "ORG"), (7, 9, "LOC"), EUROPEAN_CUP], {"correct": 1, "boundary": 3}),
    "boundary and type": (
        GOLD,
        [ANNA, NORTHWIND, (7, 9, "ORG"), (11, 14, "MISC")],
        {"correct": 2, "boundary+type": 1, "boundary": 1},
    ),
    "one gold cut in two": ([NEW_YORK_CITY], [(7, 9, "LOC"), (9, 10, "LOC")], {"boundary": 1, "spurious": 1}),
    "two gold as one": ([ANNA, NORTHWIND], [(0, 5, "ORG")], {"boundary": 1, "missed": 1}),
    "same label wins the overlap": ([(7, 10, "ORG")], [(7, 9, "LOC"), (9, 10, "ORG")], {"boundary": 1, "spurious": 1}),
    "nothing": ([], [], {}),
}


def assert_adds_up(examples, table):
    """Rows add up to the gold entities of their label, columns to the predicted; the diagonal's
    same-span counts are spaCy's true positives, so they give its P and R per type."""
    gold = Counter(e.label_ for eg in examples for e in eg.reference.ents)
    predicted = Counter(e.label_ for eg in examples for e in eg.predicted.ents)
    assert {label: table.row_total(label) for label in table.labels} == {label: gold[label] for label in table.labels}
    assert {label: table.column_total(label) for label in table.labels} == {
        label: predicted[label] for label in table.labels
    }
    assert sum(table.row_total(r) for r in table.rows) == sum(table.column_total(c) for c in table.columns)
    assert table.row_total(SPURIOUS) == table.kinds[SPURIOUS] and table.column_total(MISSED) == table.kinds[MISSED]
    assert sum(table.kinds.values()) == sum(gold.values()) + sum(predicted.values()) - sum(
        table.kinds[k] for k in ("correct", "type", "boundary", "boundary+type")
    )
    scores = Scorer.score_spans(examples, "ents")["ents_per_type"] or {}
    for label, per_type in scores.items():
        correct = table.same_span[label, label]
        assert per_type["p"] == pytest.approx(correct / predicted[label] if predicted[label] else 0.0)
        assert per_type["r"] == pytest.approx(correct / gold[label] if gold[label] else 0.0)


@pytest.mark.parametrize("name", CASES)
def test_confusion_counts_add_up(name):
    gold, predicted, kinds = CASES[name]
    examples = [example(gold, predicted)]
    table = confusion_table(match_examples(examples))
    assert table.kinds == Counter(kinds)
    assert_adds_up(examples, table)


def test_confusion_over_many_docs_adds_up_and_places_each_entity():
    examples = [example(gold, predicted) for gold, predicted, _ in CASES.values()]
    table = confusion_table(match_examples(examples))
    assert_adds_up(examples, table)
    assert table.cell("LOC", "ORG") == 2  # type confusion and boundary+type of New York City
    assert table.boundary["LOC", "ORG"] == 1 and table.same_span["LOC", "ORG"] == 1
    assert table.cell(SPURIOUS, "LOC") == 3 and table.cell("PER", MISSED) == 1


def test_every_entity_is_in_exactly_one_outcome():
    gold = [(0, 3, "ORG"), (4, 5, "PER"), (6, 9, "LOC")]
    predicted = [(0, 1, "ORG"), (1, 3, "LOC"), (4, 5, "PER"), (7, 8, "LOC"), (10, 11, "MISC")]
    outcomes = match_entities(gold, predicted)
    assert sorted(o.gold for o in outcomes if o.gold) == sorted(gold)
    assert sorted(o.predicted for o in outcomes if o.predicted) == sorted(predicted)
    assert [o.kind for o in outcomes] == ["boundary", "spurious", "correct", "boundary", "spurious"]


def test_error_examples_show_the_sentence_with_both_sides():
    examples = [example(GOLD, [(0, 2, "ORG"), (7, 9, "LOC")])]
    chosen = error_examples(examples, match_examples(examples), per_kind=1)
    confusion = chosen["type"][0]
    assert (
        confusion.words == WORDS and confusion.focus("gold") == ANNA and confusion.focus("predicted") == (0, 2, "ORG")
    )
    assert chosen["boundary"][0].focus("predicted") == (7, 9, "LOC")
    assert [e.focus("gold") for e in chosen["missed"]] == [NORTHWIND]
    assert chosen["spurious"] == [] and chosen["boundary+type"] == []


def test_best_evaluation_is_the_one_model_best_keeps():
    log = [
        {"step": 0, "score": 0.1},
        {"step": 50, "score": 0.8},
        {"step": 100, "score": 0.7},
        {"step": 150, "score": 0.8},
    ]
    assert best_evaluation(log)["step"] == 150  # spaCy saves model-best again when a score equals the best
    losses = loss_per_step([{"step": 0, "losses": {"ner": 10.0}}, {"step": 50, "losses": {"ner": 100.0}}])
    assert losses == [{"ner": 10.0}, {"ner": 2.0}]


def write_run(root: Path) -> dict:
    """A minimal run: two evaluations in the log, the test Docs gold and predicted, both scorers' figures."""
    paths = {"training": root / "training", "corpus": root / "corpus", "metrics": root / "metrics"}
    for path in paths.values():
        path.mkdir(parents=True)
    log = [
        {
            "epoch": 0,
            "step": 0,
            "losses": {"transformer": 5.0, "ner": 20.0},
            "scores": {"ents_f": 10.0, "ents_p": 8.0, "ents_r": 14.0},
            "score": 0.1,
        },
        {
            "epoch": 3,
            "step": 20,
            "losses": {"transformer": 40.0, "ner": 60.0},
            "scores": {"ents_f": 60.0, "ents_p": 62.0, "ents_r": 58.0},
            "score": 0.6,
        },
    ]
    (paths["training"] / "train_log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in log))
    examples = [example(gold, predicted) for gold, predicted, _ in CASES.values()]
    DocBin(docs=[eg.reference for eg in examples]).to_disk(paths["corpus"] / "test.spacy")
    DocBin(docs=[eg.predicted for eg in examples]).to_disk(paths["metrics"] / "test_predictions.spacy")
    scores = Scorer.score_spans(examples, "ents")
    srsly.write_json(paths["metrics"] / "test.json", scores)
    srsly.write_json(paths["metrics"] / "crosscheck.json", crosscheck(examples, scores))
    return paths


def test_report_builds_from_a_run_folder_with_its_pictures_inside(tmp_path):
    paths = write_run(tmp_path)
    output = paths["metrics"] / "report.html"
    missing = build_report(paths["training"], paths["corpus"], paths["metrics"], output, per_kind=2)
    page = output.read_text(encoding="utf8")
    assert missing == [] and 'class="missing"' not in page
    assert page.count('src="data:image/png;base64,') == 3 and 'src="report_' not in page
    for name in ("training", "per_type", "errors"):
        assert (paths["metrics"] / f"report_{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "step 20" in page and "seqeval agrees: <b>yes</b>" in page
    assert "<td class=total>4</td>" in page  # LOC's gold total
    for kind in ("type", "boundary", "boundary+type", "missed", "spurious"):
        assert f"<h3>{kind} <small>" in page
    assert "Northwind Bank" in page
    assert page.count('<mark class="entity"') >= 10  # the examples, drawn by displaCy
    assert "“Anna Brandt” PER → “Brandt” PER" in page  # the boundary error's row says which entity it is about


def test_missing_inputs_are_named_on_the_page(tmp_path):
    output = tmp_path / "metrics" / "report.html"
    missing = build_report(tmp_path / "training", tmp_path / "corpus", tmp_path / "metrics", output)
    page = output.read_text(encoding="utf8")
    for name in ("train_log.jsonl", "test.spacy", "test_predictions.spacy", "test.json", "crosscheck.json"):
        assert any(name in m for m in missing) and name in page
    assert "data:image/png" not in page and not list(output.parent.glob("*.png"))


def test_bad_inputs_are_named_on_the_page_and_stale_pictures_go(tmp_path):
    paths = write_run(tmp_path)
    output = paths["metrics"] / "report.html"
    for name in ("training", "per_type", "errors"):  # pictures of an earlier run
        (paths["metrics"] / f"report_{name}.png").write_bytes(b"stale")
    (paths["training"] / "train_log.jsonl").write_text('{"epoch": 0, "step": 0, "losses"\n')  # cut off while training
    (paths["metrics"] / "test.json").write_text("{not json")
    DocBin(docs=[doc([])]).to_disk(paths["metrics"] / "test_predictions.spacy")
    missing = build_report(paths["training"], paths["corpus"], paths["metrics"], output)
    page = output.read_text(encoding="utf8")
    assert any("no evaluation yet" in m for m in missing) and "no evaluation yet" in page
    assert any("test.json is not valid JSON" in m for m in missing)
    assert any("cannot be paired" in m for m in missing)
    assert (
        not (paths["metrics"] / "report_training.png").exists()
        and not (paths["metrics"] / "report_errors.png").exists()
    )
    assert (
        (paths["metrics"] / "report_per_type.png").read_bytes().startswith(b"\x89PNG")
    )  # seqeval's figures are still there


def test_training_log_lines_that_are_no_evaluation_are_left_out(tmp_path):
    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 0, "scores": {"ents_f": 1.0}, "score": 0.01, "losses": {}}\n[1, 2]\n{"step": 5, "scor')
    evaluations, problems = read_training_log(log)
    assert [e["step"] for e in evaluations] == [0] and problems == [
        f"2 line(s) of {log} are no evaluation and were left out"
    ]


def test_cli_exits_0_and_warns_when_inputs_are_missing(tmp_path):
    args = [
        "--training-dir",
        str(tmp_path),
        "--corpus-dir",
        str(tmp_path),
        "--metrics-dir",
        str(tmp_path),
        "--output",
        str(tmp_path / "r.html"),
    ]
    exit_code, output, _ = run_cli("scripts.report", *args)
    assert exit_code == 0, output
    assert "train_log.jsonl is missing" in output and (tmp_path / "r.html").exists()


def test_model_readme_has_the_per_type_table_and_sources():
    meta = {
        "lang": "en",
        "name": "ner_test",
        "version": "1.0.0",
        "license": "MIT",
        "description": "English NER.",
        "spacy_version": ">=3.8",
        "pipeline": ["transformer", "ner"],
        "labels": {"ner": ["LOC", "PER"]},
        "performance": {
            "ents_p": 0.5,
            "ents_r": 0.25,
            "ents_f": 1 / 3,
            "ents_per_type": {"PER": {"p": 0.5, "r": 0.25, "f": 1 / 3}, "LOC": {"p": 1.0, "r": 1.0, "f": 1.0}},
        },
        "sources": [
            {
                "name": "lhoestq/conll2003",
                "url": "https://huggingface.co/datasets/lhoestq/conll2003",
                "license": "data terms",
            }
        ],
    }
    crosscheck_figures = {"agree": True, "seqeval": {"per_type": {"PER": {"support": 4}, "LOC": {"support": 2}}}}
    readme = model_readme(meta, crosscheck_figures)
    assert readme.startswith("# en_ner_test 1.0.0\n\nEnglish NER.")
    assert (
        "| LOC | 100.00 | 100.00 | 100.00 | 2 |\n| PER | 50.00 | 25.00 | 33.33 | 4 |\n"
        "| **all** | **50.00** | **25.00** | **33.33** | 6 |" in readme
    )
    assert "- [lhoestq/conll2003](https://huggingface.co/datasets/lhoestq/conll2003): data terms" in readme


def test_many_and_long_labels_get_colours_and_a_picture(tmp_path):
    """OntoNotes' 18 types and WNUT's `creative-work`: every label is marked in its own colour (displaCy's own
    where it has one), and the per-type picture grows with the labels instead of crowding them."""
    from PIL import Image

    labels = list(ONTONOTES_TYPES) + ["creative-work", "PER", "MISC"]
    colours = label_colours(labels)
    assert colours["ORG"] == "#7aecec" and colours["PERSON"] == "#aa9cfc"  # displaCy's
    assert (
        all(colours[label] for label in labels)
        and colours["creative-work"] == label_colours(["creative-work"])["creative-work"]
    )
    assert len(set(colours.values())) >= 15
    paths = write_run(tmp_path)
    words = [f"w{i}" for i in range(2 * len(labels))]
    gold = [(2 * i, 2 * i + 1, label) for i, label in enumerate(labels)]
    predicted = [
        (2 * i, 2 * i + 1, labels[(i + 1) % len(labels)]) for i in range(len(labels))
    ]  # every type confused with the next
    examples = [Example(doc(predicted, words), doc(gold, words))]
    DocBin(docs=[eg.reference for eg in examples]).to_disk(paths["corpus"] / "test.spacy")
    DocBin(docs=[eg.predicted for eg in examples]).to_disk(paths["metrics"] / "test_predictions.spacy")
    scores = Scorer.score_spans(examples, "ents")
    srsly.write_json(paths["metrics"] / "test.json", scores)
    srsly.write_json(paths["metrics"] / "crosscheck.json", crosscheck(examples, scores))
    output = paths["metrics"] / "report.html"
    assert build_report(paths["training"], paths["corpus"], paths["metrics"], output, per_kind=30) == []
    page = output.read_text(encoding="utf8")
    for label in labels:
        assert f"<td>{label}</td>" in page  # its row in the per-type table
    assert f"background: {colours['creative-work']}" in page
    width, height = Image.open(paths["metrics"] / "report_per_type.png").size
    assert height >= 0.22 * len(labels) * 2 * 100  # rows of bars, not columns crowding their names
