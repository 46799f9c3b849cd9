"""Data that is not CoNLL-2003: other, more and longer entity types, two tab-separated columns, BIO, BILOU and
IOBES, no documents, hub-style datasets saved to disk; seqeval still agrees with spaCy on every figure."""

import random
import re
import shlex
import zipfile
from pathlib import Path
from typing import List

import numpy
import pytest
import spacy
import srsly
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value
from seqeval.metrics.sequence_labeling import get_entities
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

from conftest import ONTONOTES_TYPES, copy_project, run_cli
from scripts.conll import ConllError, Sentence, doc_to_sentences, read_conll_file, read_tags
from scripts.corpus import ALONE, FROM_TAGS, GROUPED, convert
from scripts.dataset import HF_SPLITS, class_label_types, find_columns
from scripts.demo_data import FILES, make_demo_data
from scripts.ner_model.precision import INFERENCE_PRECISION_KEY
from scripts.package import MODEL_CODE, package_meta
from scripts.scoring import crosscheck
from scripts.synthetic_news import generate_documents

WNUT_TYPES = ("corporation", "creative-work", "group", "location", "person", "product")
VOCAB = spacy.blank("en").vocab  # once: making one costs a third of a second
SPLIT_SEEDS = {"train": 0, "dev": 1, "test": 2}  # make_demo_data's seed + offset per split


def generated_sentences(labels, split: str, n_docs: int) -> List[Sentence]:
    """The sentences make_demo_data writes for `split` (seed 0), read back independently of the files."""
    return [
        s
        for d in generate_documents(n_docs, SPLIT_SEEDS[split], split=split, max_sentences=20, labels=labels)
        for s in d
    ]


def exported(path: Path):
    return [s for doc in DocBin().from_disk(path).get_docs(VOCAB) for s in doc_to_sentences(doc)]


@pytest.fixture(scope="module")
def wnut_dir(tmp_path_factory) -> Path:
    """WNUT-17's layout: token<TAB>tag, BIO, six lower-case types, no -DOCSTART-, a blank line between sentences."""
    path = tmp_path_factory.mktemp("wnut")
    make_demo_data(path, n_train_docs=12, n_eval_docs=4, seed=0, labels=WNUT_TYPES, layout="tsv")
    return path


def test_wnut_layout_converts_with_its_own_types_one_sentence_per_doc(wnut_dir, tmp_path, capsys):
    first = (wnut_dir / "train.txt").read_text(encoding="utf8").splitlines()[0]
    assert re.fullmatch(r"[^\t ]+\t(O|[BI]-[a-z-]+)", first)
    stats = convert(tmp_path, 10, conll_dir=wnut_dir)
    assert stats["labels"] == list(WNUT_TYPES) and stats["labels_from"] == FROM_TAGS
    assert stats["unmarked_documents"] == "sentences"
    for split, n_docs in {"train": 12, "dev": 4, "test": 4}.items():
        sentences = generated_sentences(WNUT_TYPES, split, n_docs)
        figures = stats["splits"][split]
        assert (figures["document_boundaries"], figures["source_documents"]) == (ALONE, 0)
        assert figures["docs"] == figures["sentences"] == len(sentences)
        assert (figures["tag_scheme"], figures["tags_repaired"]) == ("IOB2 (BIO)", 0)
        assert exported(tmp_path / f"{split}.spacy") == [list(zip(s.words, s.tags)) for s in sentences]
    from scripts.corpus import print_stats

    print_stats(stats)
    out = " ".join(capsys.readouterr().out.split())
    assert "6 entity types, from the tags of the data: corporation, creative-work" in out
    assert "each of its" in out and "is a Doc of its own" in out


def test_unmarked_source_grouped_in_order_when_asked(wnut_dir, tmp_path):
    stats = convert(tmp_path, 4, conll_dir=wnut_dir, unmarked_documents="grouped")
    test = stats["splits"]["test"]
    assert test["document_boundaries"] == GROUPED and test["docs"] == -(-test["sentences"] // 4)
    with pytest.raises(ConllError, match=r"--unmarked-documents: 'docs': expected one of sentences, grouped"):
        convert(tmp_path, 4, conll_dir=wnut_dir, unmarked_documents="docs")


@pytest.mark.parametrize("scheme", ["bilou", "iobes"])
def test_ontonotes_types_in_bilou_and_iobes_give_the_docbins_of_bio(tmp_path, scheme):
    bio, other = tmp_path / "bio", tmp_path / scheme
    make_demo_data(bio, n_train_docs=20, n_eval_docs=6, seed=0, labels=ONTONOTES_TYPES, layout="tsv")
    make_demo_data(other, n_train_docs=20, n_eval_docs=6, seed=0, labels=ONTONOTES_TYPES, layout="tsv", scheme="bilou")
    if scheme == "iobes":
        for name in FILES.values():
            text = (other / name).read_text(encoding="utf8")
            (other / name).write_text(
                re.sub(r"\t([LU])-", lambda m: "\t" + {"L": "E", "U": "S"}[m.group(1)] + "-", text), encoding="utf8"
            )
    text = (other / "train.txt").read_text(encoding="utf8")
    assert ("\tU-" in text and "\tL-" in text) if scheme == "bilou" else ("\tS-" in text and "\tE-" in text)
    from_bio = convert(tmp_path / "from_bio", 10, conll_dir=bio)
    from_other = convert(tmp_path / "from_other", 10, conll_dir=other)
    assert from_bio["labels"] == sorted(ONTONOTES_TYPES)
    for split in ("train", "dev", "test"):
        assert (tmp_path / "from_bio" / f"{split}.spacy").read_bytes() == (
            tmp_path / "from_other" / f"{split}.spacy"
        ).read_bytes()
        assert from_other["splits"][split]["tag_scheme"] == scheme.upper()
        assert from_other["splits"][split]["tags_repaired"] == 0


def test_tags_are_read_as_seqeval_and_conlleval_read_them():
    """Random tag sequences in every scheme, well formed or not: the IOB2 tags hold the chunks
    seqeval finds in the raw ones."""
    rng = random.Random(0)
    for _ in range(300):
        raw = [
            rng.choice(["O", "O"] + [f"{p}-{t}" for p in "BIELSU" for t in ("creative-work", "WORK_OF_ART")])
            for _ in range(rng.randint(1, 12))
        ]
        tags, repaired = read_tags(raw, ["here"] * len(raw))
        conlleval_view = [re.sub(r"^L-", "E-", re.sub(r"^U-", "S-", tag)) for tag in raw]  # conlleval knows E and S
        assert get_entities(tags) == get_entities(conlleval_view), raw
        assert repaired == sum(tag.startswith("B-") for tag in tags) - sum(tag[0] in "BSU" for tag in raw)


@pytest.mark.parametrize(
    "raw,labels,expected",
    [
        (["B-new_type.v2", "I-new_type.v2"], None, ["B-new_type.v2", "I-new_type.v2"]),
        (["U-creative-work", "B-person", "L-person"], WNUT_TYPES, ["B-creative-work", "B-person", "I-person"]),
        (["S-X", "E-X", "I-X", "L-X"], None, ["B-X", "B-X", "B-X", "I-X"]),  # after E- or S-, I- opens
    ],
)
def test_any_type_name_and_scheme(raw, labels, expected):
    assert read_tags(raw, ["here"] * len(raw), labels)[0] == expected


def test_explicit_labels_refuse_other_types_at_file_and_line(wnut_dir, tmp_path):
    lines = (wnut_dir / "train.txt").read_text(encoding="utf8").splitlines()
    line = next(i for i, text in enumerate(lines, start=1) if text.endswith("-product"))
    with pytest.raises(ConllError) as err:
        convert(tmp_path, 10, conll_dir=wnut_dir, labels=WNUT_TYPES[:-1])
    assert f"{wnut_dir / 'train.txt'}:{line}: unknown tag '{lines[line - 1].split()[-1]}'" in str(err.value)
    assert "followed by one of corporation, creative-work, group, location, person" in str(err.value)
    stats = convert(tmp_path, 10, conll_dir=wnut_dir, labels=WNUT_TYPES + ("event",))
    assert stats["labels"] == list(WNUT_TYPES) + ["event"] and stats["labels_from"] == "--labels"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Paris\tB-location\nis\tO\textra\n", ":2: 3 columns: expected 2, as on line 1"),
        ("Paris\tB-location\n\nRome\tB-\n", ":3: unknown tag 'B-'"),
        ("Paris\tB-loc@tion\n", ":1: unknown tag 'B-loc@tion'"),
        ("Paris\tlocation\n", ":1: unknown tag 'location'"),
    ],
)
def test_bad_two_column_lines(tmp_path, text, expected):
    path = tmp_path / "train.txt"
    path.write_text(text, encoding="utf8")
    with pytest.raises(ConllError, match=re.escape(str(path) + expected)):
        read_conll_file(path)


def test_spaces_or_tabs_first_and_last_column(tmp_path):
    tabs, spaces = tmp_path / "tabs.txt", tmp_path / "spaces.txt"
    tabs.write_text(
        "New\tNNP\tB-GPE\nYork\tNNP\tI-GPE\n\t\nhi\tUH\tO\n", encoding="utf8"
    )  # WNUT-17's train file has "\t" lines between sentences
    spaces.write_text("New  B-GPE\nYork  I-GPE\n\nhi  O\n", encoding="utf8")
    assert read_conll_file(tabs) == read_conll_file(spaces)
    assert [s.words for d in read_conll_file(tabs).documents for s in d] == [["New", "York"], ["hi"]]


def wnut_rows(sentences: List[Sentence], names: List[str]) -> dict:
    return {
        "id": [str(i) for i in range(len(sentences))],
        "tokens": [s.words for s in sentences],
        "ner_tags": [[names.index(t) for t in s.tags] for s in sentences],
    }


def test_saved_dataset_with_class_labels_gives_the_files_docbins(wnut_dir, tmp_path):
    """A DatasetDict saved with save_to_disk, laid out as the hub's wnut_17 (id, tokens, ner_tags ClassLabel)."""
    names = ["O"] + [f"{p}-{t}" for t in WNUT_TYPES + ("event",) for p in "BI"]  # one type the data never uses
    features = Features(
        {"id": Value("string"), "tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=names))}
    )
    splits = {
        hf: Dataset.from_dict(wnut_rows(generated_sentences(WNUT_TYPES, split, n), names), features=features)
        for split, hf, n in (("train", "train", 12), ("dev", "validation", 4), ("test", "test", 4))
    }
    DatasetDict(splits).save_to_disk(str(tmp_path / "saved"))
    from_hub = convert(tmp_path / "hub", 10, dataset=str(tmp_path / "saved"))
    from_files = convert(tmp_path / "files", 10, conll_dir=wnut_dir)
    assert (
        from_hub["labels"] == sorted(WNUT_TYPES + ("event",)) and from_hub["labels_from"] == "the dataset's tag names"
    )
    assert from_hub["splits"] == from_files["splits"]
    for split in ("train", "dev", "test"):
        assert (tmp_path / "hub" / f"{split}.spacy").read_bytes() == (
            tmp_path / "files" / f"{split}.spacy"
        ).read_bytes()


def test_columns_found_by_name_or_kind_else_named():
    one_of_each = {
        "toks": Sequence(Value("string")),
        "bio": Sequence(ClassLabel(names=["O", "B-x"])),
        "n": Value("int32"),
    }
    assert find_columns(Features(one_of_each), "here") == ("toks", "bio")
    two_tag_lists = Features(
        {"words": Sequence(Value("string")), "bio": Sequence(Value("string")), "pos": Sequence(Value("string"))}
    )
    with pytest.raises(
        ConllError,
        match=r"here: cannot tell which column holds the tags \(lists that could: bio, pos\): "
        r"name it with --tags-column",
    ):
        find_columns(two_tag_lists, "here")
    assert find_columns(two_tag_lists, "here", tags_column="bio") == ("words", "bio")
    with pytest.raises(ConllError, match=r"here: no column 'ner' for the tags: expected one of words, bio, pos"):
        find_columns(two_tag_lists, "here", tags_column="ner")


def test_dataset_with_string_tags_in_other_columns(tmp_path):
    sentences = {
        split: generated_sentences(WNUT_TYPES, split, n) for split, n in (("train", 12), ("dev", 4), ("test", 4))
    }

    def rows(s):
        return {
            "words": [x.words for x in s],
            "bio": [x.tags for x in s],
            "pos": [["X"] * len(x.words) for x in s],
        }

    dataset = DatasetDict({hf: Dataset.from_dict(rows(sentences[split])) for split, hf in HF_SPLITS.items()})
    dataset.save_to_disk(str(tmp_path / "saved"))
    stats = convert(tmp_path / "hub", 10, dataset=str(tmp_path / "saved"), columns=("", "bio"))
    assert stats["labels"] == list(WNUT_TYPES) and stats["labels_from"] == FROM_TAGS  # string tags name no label list
    assert class_label_types(dataset, tags_column="bio") is None
    assert exported(tmp_path / "hub" / "test.spacy") == [list(zip(s.words, s.tags)) for s in sentences["test"]]


def perturbed(doc: Doc, labels, rng: random.Random) -> Doc:
    """`doc` with some entities dropped, relabelled or shortened, and some spurious ones, none across a sentence."""
    spans = []  # (start, end, label) in tokens
    for ent in doc.ents:
        choice = rng.random()
        if choice < 0.2:
            continue
        label = rng.choice(labels) if choice < 0.4 else ent.label_
        spans.append((ent.start, ent.end - (0.4 <= choice < 0.5 and len(ent) > 1), label))
    taken = {i for start, end, _ in spans for i in range(start, end)}
    spans += [(i, i + 1, rng.choice(labels)) for i in range(len(doc)) if i not in taken and rng.random() < 0.05]
    predicted = Doc(doc.vocab, words=[t.text for t in doc], sent_starts=[t.is_sent_start for t in doc])
    predicted.ents = [Span(predicted, start, end, label=label) for start, end, label in spans]
    return predicted


@pytest.mark.parametrize("labels", [WNUT_TYPES, ONTONOTES_TYPES], ids=["wnut", "ontonotes"])
def test_seqeval_agrees_with_spacy_on_every_figure(tmp_path, labels):
    data = tmp_path / "conll"
    make_demo_data(data, n_train_docs=2, n_eval_docs=30, seed=0, labels=labels, layout="tsv", scheme="bilou")
    convert(tmp_path / "corpus", 10, conll_dir=data)
    gold = list(DocBin().from_disk(tmp_path / "corpus" / "test.spacy").get_docs(VOCAB))
    rng = random.Random(1)
    result = crosscheck([Example(perturbed(doc, labels, rng), doc) for doc in gold])
    assert result["agree"] and result["mismatches"] == []
    assert set(result["spacy"]["per_type"]) == set(labels) == set(result["seqeval"]["per_type"])
    assert 0.3 < result["spacy"]["f"] < 0.95


def test_package_description_names_the_data_and_its_labels():
    scores = {
        "ents_p": 0.5,
        "ents_r": 0.5,
        "ents_f": 0.5,
        "ents_per_type": {t: {"p": 0.5, "r": 0.5, "f": 0.5} for t in WNUT_TYPES},
    }
    stats = {"source": "assets/wnut17", "labels": list(WNUT_TYPES)}
    meta = package_meta(
        scores, {"agree": True}, stats, "distilbert-base-uncased", "1.0.0", "MIT", "CC-BY 4.0", "apache-2.0"
    )
    assert (
        "fine-tuned with spaCy on wnut17 (corporation, creative-work, group, location, person, product)"
        in meta["description"]
    )
    assert "LOC" not in meta["description"]


def run_workflow_in_process(project: Path, workflow: str, overrides: dict, monkeypatch) -> None:
    """Each `python -m MODULE ARGS` line of project.yml's `workflow`, vars substituted by weasel, run in this
    process (conftest.run_cli). The real nested run is the demo's (test_demo.py)."""
    from weasel.util import load_project_config

    config = load_project_config(project, overrides={f"vars.{key}": value for key, value in overrides.items()})
    commands = {command["name"]: command for command in config["commands"]}
    monkeypatch.chdir(project)
    for name in config["workflows"][workflow]:
        for line in commands[name]["script"]:
            python, dash_m, module, *args = shlex.split(line)
            assert (python, dash_m) == ("python", "-m"), line
            exit_code, output, error = run_cli(module, *args)
            assert exit_code == 0 and error is None, f"{line}\n{output[-3000:]}\n{error!r}"


@pytest.mark.slow  # a training and a wheel
def test_all_on_wnut_style_files(tmp_path, tiny_transformer, monkeypatch):
    """The `all` workflow's commands on generated WNUT-17-style files, with the tiny transformer and a short
    training: its own types reach the corpus stats, the scores, seqeval's check and the wheel."""
    project = copy_project(tmp_path)
    data = tmp_path / "wnut"
    make_demo_data(data, n_train_docs=6, n_eval_docs=3, seed=0, labels=WNUT_TYPES, layout="tsv")
    overrides = {
        "conll_dir": str(data),
        "expected_figures": "",
        "transformer": str(tiny_transformer),
        "gpu_id": "-1",
        "package_name": "ner_distilbert_wnut_test",
        "version": "0.0.0",
        "train_overrides": "training.max_steps=6 training.eval_frequency=3 "
        "training.optimizer.learn_rate.warmup_fraction=0.3",
    }
    run_workflow_in_process(project, "all", overrides, monkeypatch)
    gold_types = set(srsly.read_json(project / "corpus" / "stats.json")["splits"]["test"]["entities"])
    assert gold_types == set(WNUT_TYPES)
    assert set(srsly.read_json(project / "metrics" / "test.json")["ents_per_type"]) >= gold_types
    crosscheck_result = srsly.read_json(project / "metrics" / "crosscheck.json")
    assert crosscheck_result["agree"] and set(crosscheck_result["seqeval"]["per_type"]) == gold_types
    assert_wheel_holds_the_trained_model(project, tmp_path / "wheel")


def assert_wheel_holds_the_trained_model(project: Path, unpacked: Path) -> None:
    """The wheel's meta names the data's types and the test scores; it carries the model's code; its model
    data loads and computes what training/model-best does (the same transformer output and entities, in fp32).
    Installing a wheel into a fresh venv is test_demo.py's and test_families.py's."""
    name = "en_ner_distilbert_wnut_test"
    with zipfile.ZipFile(project / "packages" / f"{name}-0.0.0" / "dist" / f"{name}-0.0.0-py3-none-any.whl") as wheel:
        wheel.extractall(unpacked)
    package = unpacked / name
    meta = srsly.read_json(package / "meta.json")
    assert set(meta["labels"]["ner"]) == set(WNUT_TYPES)
    assert meta["performance"]["ents_f"] == srsly.read_json(project / "metrics" / "test.json")["ents_f"]
    assert {path.name for path in MODEL_CODE} <= {path.name for path in package.glob("*.py")}
    fp32 = {INFERENCE_PRECISION_KEY: "fp32"}
    packaged = spacy.load(package / f"{name}-0.0.0", config=fp32)
    trained = spacy.load(project / "training" / "model-best", config=fp32)
    assert set(packaged.get_pipe("ner").labels) == set(WNUT_TYPES)
    texts = [" ".join(s.words) for s in generated_sentences(WNUT_TYPES, "test", 3)]
    for ours, theirs in zip(packaged.pipe(texts), trained.pipe(texts)):
        assert [(e.start, e.end, e.label_) for e in ours.ents] == [(e.start, e.end, e.label_) for e in theirs.ents]
        hidden = [doc._.trf_data.model_output.last_hidden_state for doc in (ours, theirs)]
        assert numpy.allclose(*hidden, rtol=1e-5, atol=1e-6)
