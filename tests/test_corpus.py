"""The corpus step on CoNLL samples written here: lossless round trips, IOB1 = IOB2, figures, errors."""

import math
from pathlib import Path
from typing import List, Tuple

import pytest
import spacy
import srsly
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value
from spacy.tokens import DocBin

from conftest import PROJECT_DIR, run_cli
from scripts.conll import HF_LABELS, ConllError, doc_to_sentences, read_conll_file, read_tags
from scripts.corpus import ALONE, FROM_MARKERS, FROM_STARTS, GROUPED, convert, figure_mismatches, write_splits
from scripts.dataset import hf_splits

CONLL_TYPES = ("LOC", "MISC", "ORG", "PER")  # as --labels lists them for the real files
LONG_SENTENCE_TOKENS = 600  # each `partNNN` is several word pieces: far over 512

# Documents of sentences of (word, IOB2 tag). Covered: entities at Doc, sentence and document
# edges, adjacent entities of one type, a one-token document, a sentence over 512 word pieces.
SAMPLE: List[List[List[Tuple[str, str]]]] = [
    [
        [
            ("Ana", "B-PER"),
            ("Lind", "I-PER"),
            ("flew", "O"),
            ("to", "O"),
            ("Rome", "B-LOC"),
            ("Milan", "B-LOC"),
            (".", "O"),
        ],
        [
            ("She", "O"),
            ("met", "O"),
            ("Harbor", "B-ORG"),
            ("Bank", "I-ORG"),
            ("Summit", "B-ORG"),
            ("in", "O"),
            ("Bonn", "B-LOC"),
        ],
        [("Euro", "B-MISC"), ("Cup", "I-MISC"), ("European", "B-MISC"), ("officials", "O")],
        [("Done", "O")],
    ],
    [[("Reuters", "B-ORG")]],
    [
        [(f"part{i}", "O") for i in range(LONG_SENTENCE_TOKENS - 2)] + [("Nils", "B-PER"), ("Dorn", "I-PER")],
        [("Oslo", "B-LOC")],
    ],
]
DOCSTART_VARIANTS = ["-DOCSTART- -X- -X- O", "-DOCSTART- -X- O O", "-DOCSTART-\t-X-\t-X-\tO"]


def to_iob1(tags: List[str]) -> List[str]:
    """Original CoNLL-2003 tagging: `B-` only where an entity follows one of the same type."""
    iob1 = []
    for i, tag in enumerate(tags):
        if tag.startswith("B-") and not (i > 0 and tags[i - 1] != "O" and tags[i - 1][2:] == tag[2:]):
            tag = "I-" + tag[2:]
        iob1.append(tag)
    return iob1


def write_sample(path: Path, iob1: bool = False, sample=SAMPLE) -> Path:
    lines = []
    for number, document in enumerate(sample):
        lines += [DOCSTART_VARIANTS[number % len(DOCSTART_VARIANTS)], ""]
        for sentence in document:
            tags = [tag for _, tag in sentence]
            for (word, _), tag in zip(sentence, to_iob1(tags) if iob1 else tags):
                lines.append(f"{word} NNP I-NP {tag}")
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def write_sample_dir(path: Path, iob1: bool = False) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    names = ("eng.train", "eng.testa", "eng.testb") if iob1 else ("train.txt", "valid.txt", "test.txt")
    for name in names:
        write_sample(path / name, iob1)
    return path


VOCAB = spacy.blank("en").vocab  # once: making one costs a third of a second


def read_docbin(path: Path):
    return list(DocBin().from_disk(path).get_docs(VOCAB))


def exported_sentences(path: Path) -> List[List[Tuple[str, str]]]:
    return [sentence for doc in read_docbin(path) for sentence in doc_to_sentences(doc)]


def expected_figures(sample, n_sents: int) -> dict:
    """The figures counted straight from the sample, independently of the converter."""
    sentences = [s for d in sample for s in d]
    entities = {}
    for sentence in sentences:
        for _, tag in sentence:
            if tag.startswith("B-"):
                entities[tag[2:]] = entities.get(tag[2:], 0) + 1
    return {
        "source_documents": len(sample),
        "docs": sum(math.ceil(len(d) / n_sents) for d in sample),
        "sentences": len(sentences),
        "tokens": sum(len(s) for s in sentences),
        "entities": dict(sorted(entities.items())),
        "entities_total": sum(entities.values()),
    }


@pytest.mark.parametrize("n_sents", [1, 2, 10])
@pytest.mark.parametrize("iob1", [False, True])
def test_round_trip_gives_the_iob2_input(tmp_path, n_sents, iob1):
    stats = convert(tmp_path / "corpus", n_sents, conll_dir=write_sample_dir(tmp_path / "conll", iob1))
    for split in ("train", "dev", "test"):
        assert exported_sentences(tmp_path / "corpus" / f"{split}.spacy") == [s for d in SAMPLE for s in d]
        docs = read_docbin(tmp_path / "corpus" / f"{split}.spacy")
        assert all(len(list(doc.sents)) <= n_sents for doc in docs)
        assert all(doc.has_unknown_spaces for doc in docs)  # what keeps spaCy's Corpus on gold tokens
        figures = stats["splits"][split]
        assert {k: figures[k] for k in expected_figures(SAMPLE, n_sents)} == expected_figures(SAMPLE, n_sents)


def test_iob1_and_iob2_files_give_identical_docbins(tmp_path):
    convert(tmp_path / "iob1", 10, conll_dir=write_sample_dir(tmp_path / "conll1", iob1=True))
    convert(tmp_path / "iob2", 10, conll_dir=write_sample_dir(tmp_path / "conll2"))
    for split in ("train", "dev", "test"):
        assert (tmp_path / "iob1" / f"{split}.spacy").read_bytes() == (
            tmp_path / "iob2" / f"{split}.spacy"
        ).read_bytes()
    repaired = srsly.read_json(tmp_path / "iob1" / "stats.json")["splits"]["train"]["tags_repaired"]
    assert repaired == sum(
        tag.startswith("I-") and (i == 0 or to_iob1(t)[i - 1] == "O" or to_iob1(t)[i - 1][2:] != tag[2:])
        for d in SAMPLE
        for s in d
        for t in [[tag for _, tag in s]]
        for i, tag in enumerate(to_iob1(t))
    )
    assert srsly.read_json(tmp_path / "iob2" / "stats.json")["splits"]["train"]["tags_repaired"] == 0


def test_docbins_are_what_spacy_blank_english_writes(tmp_path, monkeypatch):
    """The corpus makes English's vocab without a Language (making one loads every package's entry points)."""
    import scripts.corpus

    conll = write_sample_dir(tmp_path / "conll")
    convert(tmp_path / "ours", 10, conll_dir=conll)
    monkeypatch.setattr(scripts.corpus, "create_vocab", lambda *args: spacy.blank("en").vocab)
    convert(tmp_path / "blank", 10, conll_dir=conll)
    for split in ("train", "dev", "test"):
        assert (tmp_path / "ours" / f"{split}.spacy").read_bytes() == (
            tmp_path / "blank" / f"{split}.spacy"
        ).read_bytes()


def test_i_tag_is_read_as_conlleval_reads_it():
    tags, repaired = read_tags(["O", "I-PER", "I-PER", "I-LOC", "B-LOC", "I-LOC", "O"], ["here"] * 7)
    assert tags == ["O", "B-PER", "I-PER", "B-LOC", "B-LOC", "I-LOC", "O"]
    assert repaired == 2


def test_sentence_is_longer_than_512_word_pieces(tiny_transformer):
    from transformers import AutoTokenizer

    words = [word for word, _ in SAMPLE[2][0]]
    pieces = AutoTokenizer.from_pretrained(str(tiny_transformer))(words, is_split_into_words=True)["input_ids"]
    assert len(pieces) > 512


def test_hf_source_gives_the_figures_of_the_file_source(tmp_path):
    """The same sentences as a datasets.Dataset (with `-DOCSTART-` rows, as some copies have) and as files."""
    rows = {"tokens": [], "ner_tags": []}
    for document in SAMPLE:
        rows["tokens"].append(["-DOCSTART-"])
        rows["ner_tags"].append([0])
        for sentence in document:
            rows["tokens"].append([word for word, _ in sentence])
            rows["ner_tags"].append([HF_LABELS.index(tag) for _, tag in sentence])
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=list(HF_LABELS)))})
    dataset = DatasetDict(
        {name: Dataset.from_dict(rows, features=features) for name in ("train", "validation", "test")}
    )
    from_hf = write_splits(hf_splits(dataset, "sample"), tmp_path / "hf", 2, "sample")
    from_files = convert(tmp_path / "files", 2, conll_dir=write_sample_dir(tmp_path / "conll"))
    assert from_hf["splits"] == from_files["splits"]
    for split in ("train", "dev", "test"):
        assert (tmp_path / "hf" / f"{split}.spacy").read_bytes() == (tmp_path / "files" / f"{split}.spacy").read_bytes()


def unmarked_dataset(sample=SAMPLE) -> DatasetDict:
    """The sample's sentences in order, without -DOCSTART- rows or label names (as lhoestq/conll2003 has them)."""
    sentences = [s for d in sample for s in d]
    rows = {
        "tokens": [[w for w, _ in s] for s in sentences],
        "ner_tags": [[HF_LABELS.index(t) for _, t in s] for s in sentences],
    }
    return DatasetDict({name: Dataset.from_dict(rows) for name in ("train", "validation", "test")})


def sample_document_starts(sample=SAMPLE) -> dict:
    """The sample's own document starts, in the form of scripts/data/conll2003_document_starts.json."""
    starts = [sum(len(d) for d in sample[:i]) for i in range(len(sample))]
    split = {"sentences": sum(len(d) for d in sample), "documents": len(sample), "document_starts": starts}
    return {"splits": {name: split for name in ("train", "validation", "test")}}


def test_hf_source_without_document_rows_is_grouped_in_order_when_asked_and_says_so(tmp_path, capsys):
    sentences = [s for d in SAMPLE for s in d]
    stats = write_splits(
        hf_splits(unmarked_dataset(), "sample"), tmp_path / "hf", 3, "sample", unmarked_documents="grouped"
    )
    test = stats["splits"]["test"]
    figures = expected_figures(SAMPLE, 3)
    assert {k: test[k] for k in ("sentences", "tokens", "entities", "entities_total")} == {
        k: figures[k] for k in ("sentences", "tokens", "entities", "entities_total")
    }
    assert test["source_documents"] == 0 and test["docs"] == math.ceil(len(sentences) / 3)
    assert test["document_boundaries"] == GROUPED
    assert exported_sentences(tmp_path / "hf" / "test.spacy") == sentences
    from scripts.corpus import print_stats

    print_stats(stats)
    assert "may cross documents" in " ".join(capsys.readouterr().out.split())


def test_hf_source_cut_at_known_document_starts_gives_the_file_source(tmp_path):
    """lhoestq/conll2003 has no -DOCSTART- rows: cut at the starts it gives the DocBins of the original files."""
    from_hf = write_splits(
        hf_splits(unmarked_dataset(), "sample"), tmp_path / "hf", 2, "sample", sample_document_starts()
    )
    from_files = convert(tmp_path / "files", 2, conll_dir=write_sample_dir(tmp_path / "conll", iob1=True))
    for split in ("train", "dev", "test"):
        assert (tmp_path / "hf" / f"{split}.spacy").read_bytes() == (tmp_path / "files" / f"{split}.spacy").read_bytes()
        hf, files = from_hf["splits"][split], from_files["splits"][split]
        assert (hf["source_documents"], hf["docs"], hf["document_boundaries"]) == (
            len(SAMPLE),
            files["docs"],
            FROM_STARTS,
        )
        assert (files["source_documents"], files["document_boundaries"]) == (len(SAMPLE), FROM_MARKERS)


def test_document_starts_of_other_sizes_are_not_used(tmp_path):
    starts = sample_document_starts()
    starts["splits"]["test"] = {**starts["splits"]["test"], "sentences": 99}
    stats = write_splits(hf_splits(unmarked_dataset(), "sample"), tmp_path / "hf", 2, "sample", starts)["splits"]
    assert stats["train"]["document_boundaries"] == FROM_STARTS and stats["test"]["document_boundaries"] == ALONE


def test_conll2003_document_starts_fit_its_figures():
    starts = srsly.read_json(PROJECT_DIR / "scripts" / "data" / "conll2003_document_starts.json")["splits"]
    figures = srsly.read_json(PROJECT_DIR / "scripts" / "data" / "conll2003_figures.json")["splits"]
    for split, hf_split in {"train": "train", "dev": "validation", "test": "test"}.items():
        document_starts = starts[hf_split]["document_starts"]
        assert (
            len(document_starts) == figures[split]["documents"]
            and starts[hf_split]["sentences"] == figures[split]["sentences"]
        )
        assert document_starts[0] == 0 and document_starts == sorted(set(document_starts))
        sizes = [b - a for a, b in zip(document_starts, document_starts[1:] + [starts[hf_split]["sentences"]])]
        histogram = {str(n): sizes.count(n) for n in sorted(set(sizes))}
        assert histogram == {k: v for k, v in figures[split]["sentences_per_document_histogram"].items() if v}


@pytest.mark.parametrize(
    "text,where,expected",
    [
        ("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n", None, None),
        ("EU NNP B-NP B-ORG\nrejects O\n", ":2:", "2 columns: expected 4, as on line 1"),
        ("EU\n", ":1:", "1 column"),
        (
            "EU NNP B-NP B-FOO\n",
            ":1:",
            "unknown tag 'B-FOO': expected O, or B-, I-, E-, L-, S-, U- followed by one of LOC, MISC, ORG, PER",
        ),
        ("EU NNP B-NP X-ORG\n", ":1:", "unknown tag 'X-ORG'"),
        ("\n\n  \n", ": empty file", "expected CoNLL lines"),
        (
            "EU NNP B-NP B-ORG\n-DOCSTART- -X- -X- O\n",
            ":2:",
            "-DOCSTART- inside the sentence that starts on line 1: expected a blank line",
        ),
        (
            "EU NNP B-NP B-ORG\nNew\u00a0York NNP B-NP B-LOC\n",
            ":2:",
            "5 columns: expected 4, as on line 1 (columns are split at any whitespace, "
            "and this line holds U+00A0 NO-BREAK SPACE)",
        ),
    ],
)
def test_bad_lines_name_file_line_and_expectation(tmp_path, text, where, expected):
    path = tmp_path / "eng.train"
    path.write_text(text, encoding="utf8")
    if expected is None:
        assert read_conll_file(path, CONLL_TYPES).documents[0][0].tags == ["B-ORG", "O"]
        return
    with pytest.raises(ConllError) as err:
        read_conll_file(path, CONLL_TYPES)
    assert str(path) + where in str(err.value) and expected in str(err.value)


def test_byte_order_mark_is_not_part_of_the_first_token(tmp_path):
    plain, with_bom = write_sample(tmp_path / "plain.txt"), tmp_path / "bom.txt"
    with_bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert read_conll_file(with_bom) == read_conll_file(plain)
    assert read_conll_file(with_bom).markers == len(SAMPLE)


def test_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes(b"EU NNP B-NP B-ORG\n\nM\xfcnchen NNP B-NP B-LOC\n")
    with pytest.raises(ConllError, match=r"train\.txt:3: bytes that are not UTF-8"):
        read_conll_file(path)


def test_missing_and_ambiguous_splits(tmp_path):
    conll_dir = write_sample_dir(tmp_path / "conll")
    (conll_dir / "test.txt").unlink()
    with pytest.raises(ConllError, match=r"missing test split: expected a file named eng.testb or test.txt"):
        convert(tmp_path / "out", 10, conll_dir=conll_dir)
    write_sample(conll_dir / "test.txt")
    write_sample(conll_dir / "eng.train")
    with pytest.raises(ConllError, match=r"both eng.train and train.txt"):
        convert(tmp_path / "out", 10, conll_dir=conll_dir)
    stats = convert(tmp_path / "out", 10, conll_dir=conll_dir, file_names={"train": "train.txt"})
    assert stats["splits"]["train"]["sentences"] == expected_figures(SAMPLE, 10)["sentences"]


def test_hf_rows_with_bad_tags_are_refused():
    dataset = DatasetDict(
        {
            name: Dataset.from_dict({"tokens": [["EU", "rejects"]], "ner_tags": [[3, 9]]})
            for name in ("train", "validation", "test")
        }
    )
    with pytest.raises(ConllError, match=r"split train, row 0: tag id 9: expected an id from 0 to 8"):
        hf_splits(dataset, "sample")
    with pytest.raises(ConllError, match=r"missing test split"):
        hf_splits(DatasetDict({"train": dataset["train"], "validation": dataset["train"]}), "sample")


def test_cli_exits_non_zero_with_the_message(tmp_path):
    """`python -m scripts.corpus` through its typer CLI, in this process: exit 1 and the file, line and what was
    expected, not a traceback."""
    conll_dir = write_sample_dir(tmp_path / "conll")
    (conll_dir / "valid.txt").write_text("EU NNP B-NP B-ORG\nrejects O\n", encoding="utf8")
    exit_code, output, error = run_cli("scripts.corpus", str(tmp_path / "out"), "--conll-dir", str(conll_dir))
    assert exit_code == 1 and error is None  # a message, not a traceback
    unwrapped = "".join(output.split())  # wasabi wraps long lines
    assert "".join(f"{conll_dir / 'valid.txt'}:2: 2 columns: expected 4, as on line 1".split()) in unwrapped


def test_published_conll2003_figures_add_up():
    """The figures the real files must give, as the project keeps them: totals match their parts."""
    figures = srsly.read_json(PROJECT_DIR / "scripts" / "data" / "conll2003_figures.json")["splits"]
    published = {
        "train": (946, 14041, 203621, 23499),
        "dev": (216, 3250, 51362, 5942),
        "test": (231, 3453, 46435, 5648),
    }
    for split, (documents, sentences, tokens, entities) in published.items():
        f = figures[split]
        assert (f["documents"], f["sentences"], f["tokens"], f["entities_total"]) == (
            documents,
            sentences,
            tokens,
            entities,
        )
        assert sum(f["entities"].values()) == entities
        assert sum(f["sentence_length_histogram"].values()) == sentences
        assert sum(int(k) * v for k, v in f["sentence_length_histogram"].items()) == tokens
        assert sum(f["sentences_per_document_histogram"].values()) == documents


def test_figures_are_checked_against_the_expected_ones(tmp_path):
    stats = convert(tmp_path / "corpus", 10, conll_dir=write_sample_dir(tmp_path / "conll"))
    figures = expected_figures(SAMPLE, 10)
    expected = {
        "splits": {
            split: srsly.json_loads(srsly.json_dumps({**figures, "documents": len(SAMPLE)}))
            for split in ("train", "dev", "test")
        }
    }
    assert figure_mismatches(stats, expected) == []
    expected["splits"]["dev"]["entities"]["LOC"] += 1
    expected["splits"]["test"]["documents"] = 231
    assert figure_mismatches(stats, expected) == [
        f"dev entities LOC: {figures['entities']['LOC']}, expected {figures['entities']['LOC'] + 1}",
        f"test documents: {len(SAMPLE)}, expected 231",
    ]


def test_unreachable_dataset_is_a_clear_error(tmp_path):
    """Tests run offline, so the hub dataset cannot load: the step says so at once,
    instead of retrying or a traceback."""
    with pytest.raises(
        ConllError,
        match=r"dataset lhoestq/conll2003: could not be loaded \(the hub: HF_HUB_OFFLINE is set\)"
        r".*conll_dir.*project run demo",
    ):
        convert(tmp_path, 10, dataset="lhoestq/conll2003")


def test_hub_is_asked_once_briefly(monkeypatch):
    from scripts.hub import hub_problem

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    assert "http://127.0.0.1:9 cannot be reached" in hub_problem(timeout=2)


def test_generated_sentences_have_one_tag_per_word():
    from scripts.synthetic_news import generate_documents

    sentences = [s for d in generate_documents(60, seed=1) for s in d]
    assert all(len(s.words) == len(s.tags) for s in sentences)
    assert all(read_tags(s.tags, ["generated"] * len(s.tags)) == (s.tags, 0) for s in sentences)
