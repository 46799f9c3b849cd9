"""scripts/annotate: a file in, a file out; bad lines, --strict, --resume after a real kill, stdin,
--code in every engine."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import scripts.custom_functions  # noqa: F401 -- functions the model's config may name
from conftest import PROJECT_DIR, run_cli
from scripts.annotate.lines import AnnotateError, BadLineError, chunked, parse_line
from scripts.annotate.resume import resume_point
from scripts.annotate.run import annotate
from scripts.annotate.texts import stream_texts, write_input
from scripts.answering.annotator import Annotator
from scripts.answering.records import Item
from scripts.ner_model.precision import precision_overrides, predicting_precision

TEXTS = [
    "Anna Brandt of Northwind Bank said in Lisbon that the Olympic team won. Shares in Redstone Motors fell.",
    "coach Felix Moreau told reporters the European Cup match against Summit Rovers was lost .",
    "",
    "Ünïcödé 東京 😀 Москва \u200b\x07 Oslo",
]


def read_jsonl(path: Path) -> list:
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def marking_code(folder: Path) -> tuple:
    """A --code file that brings the project's functions (which the model's config names) and writes the id
    of each process that runs it into a marker file: (the code file, the marker file)."""
    marker = folder / "ran_in.txt"
    code = folder / "my_functions.py"
    code.write_text(
        "import os\n\nimport scripts.custom_functions  # noqa: F401\n\n"
        f"with open({str(marker)!r}, 'a') as stream:\n    stream.write(f'{{os.getpid()}}\\n')\n",
        encoding="utf8",
    )
    return code, marker


@pytest.fixture(scope="module")
def model(tiny_pipeline) -> str:
    return str(tiny_pipeline)


@pytest.fixture(scope="module")
def annotator(model) -> Annotator:
    return Annotator(model, source="in", sentences=True)


# Reading lines: no model needed


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b'{"text": "ok", "id": 7}', None),
        (b"not json", "in.jsonl:3: expected a JSON object, got invalid JSON (Expecting value"),
        (b"[1, 2]", "in.jsonl:3: expected a JSON object, got a list"),
        (b'{"id": 7}', 'in.jsonl:3: expected a "text" field, got fields: "id"'),
        (b'{"text": null}', 'in.jsonl:3: expected "text" to be a string, got null'),
        (b'{"text": ["a"]}', 'in.jsonl:3: expected "text" to be a string, got a list'),
        (b'{"text": "caf\xff"}', "in.jsonl:3: expected UTF-8 text, got byte 0xff at byte 14"),
        (b'{"text": "a \\ud800 b"}', 'in.jsonl:3: expected "text" without lone surrogates, got \\ud800 at character 3'),
        (b"", "in.jsonl:3: expected a JSON object, got invalid JSON"),
    ],
)
def test_bad_jsonl_lines_say_where_and_what_was_expected(raw, expected):
    item = parse_line(raw, 3, "in.jsonl", "jsonl")
    assert item.number == 3
    if expected is None:
        assert item.error is None and item.record == {"text": "ok", "id": 7}
    else:
        assert item.error.startswith(expected)


def test_txt_lines():
    assert parse_line(b"Oslo won\r", 1, "in.txt", "txt").record == {"text": "Oslo won"}
    assert parse_line(b"\xef\xbb\xbfOslo", 1, "in.txt", "txt").record == {"text": "Oslo"}  # a byte order mark
    assert parse_line(b"", 2, "in.txt", "txt").record == {"text": ""}
    assert parse_line(b"\xc3", 2, "in.txt", "txt").error.startswith("in.txt:2: expected UTF-8 text, got byte 0xc3")


def test_resume_point_keeps_whole_chunks_and_drops_a_torn_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join(b'{"n":%d}\n' % i for i in range(7)) + b'{"n":7,"en')
    assert resume_point(out, 3) == 6
    assert out.read_bytes() == b"".join(b'{"n":%d}\n' % i for i in range(6))
    assert resume_point(out, 4) == 4 and len(out.read_bytes().splitlines()) == 4
    assert resume_point(out, 3, input_lines=4) == 4  # a finished output is kept whole
    assert resume_point(tmp_path / "none.jsonl", 4) == 0


def test_input_format_must_be_known(tmp_path):
    (tmp_path / "in.csv").write_text("a\n")
    with pytest.raises(AnnotateError, match="expected a .txt"):
        annotate("unused", str(tmp_path / "in.csv"), tmp_path / "out.jsonl")
    with pytest.raises(AnnotateError, match="--input-format"):
        annotate("unused", "-", tmp_path / "out.jsonl")


# With a trained model


def test_jsonl_in_jsonl_out(annotator, tmp_path):
    lines = [
        json.dumps({"id": i, "text": text, "meta": {"k": [1, None]}, "ents": "replaced"})
        for i, text in enumerate(TEXTS)
    ]
    lines[2:2] = ["not json", '{"id": "no text"}', '{"text": 3}', '{"text": "\\udc00"}']
    raw = ("\n".join(lines) + "\n").encode("utf8") + b'{"text": "bad \xff byte"}'  # and a last line without a newline
    (tmp_path / "in.jsonl").write_bytes(raw)
    summary = annotate("unused", str(tmp_path / "in.jsonl"), tmp_path / "out.jsonl", annotator=annotator, batch_size=3)
    out = read_jsonl(tmp_path / "out.jsonl")
    assert len(out) == len(lines) + 1 == summary.lines
    assert summary.errors == 5 == sum("error" in line for line in out)
    errors = [line["error"] for line in out if "error" in line]
    assert [error.split(": expected")[0] for error in errors] == [
        f"{tmp_path / 'in.jsonl'}:{n}" for n in (3, 4, 5, 6, 9)
    ]
    assert out[3] == {"id": "no text", "error": errors[1]}  # what could be read is kept
    good = [line for line in out if "error" not in line]
    assert [line["id"] for line in good] == [0, 1, 2, 3]
    for line in good:
        assert line["meta"] == {"k": [1, None]} and set(line) == {"id", "text", "meta", "ents", "sents"}
        for ent in line["ents"]:
            assert line["text"][ent["start"] : ent["end"]] == ent["text"] and ent["label"] in (
                "PER",
                "ORG",
                "LOC",
                "MISC",
            )
        assert all(any(s["start"] <= e["start"] and e["end"] <= s["end"] for s in line["sents"]) for e in line["ents"])
    assert {"start": 0, "end": 11, "label": "PER", "text": "Anna Brandt"} in good[0]["ents"]
    assert [s["end"] for s in good[0]["sents"]] == [71, 103]
    assert good[2] == {"id": 2, "text": "", "meta": {"k": [1, None]}, "ents": [], "sents": []}


def test_txt_in_and_too_long_a_text(annotator, tmp_path):
    (tmp_path / "in.txt").write_text("Oslo won .\n" + "x" * 60 + "\nFelix Moreau\r\n", encoding="utf8")
    annotator.nlp.max_length, saved = 50, annotator.nlp.max_length
    try:
        summary = annotate("unused", str(tmp_path / "in.txt"), tmp_path / "out.jsonl", annotator=annotator)
    finally:
        annotator.nlp.max_length = saved
    out = read_jsonl(tmp_path / "out.jsonl")
    assert [line["text"] for line in out] == ["Oslo won .", "x" * 60, "Felix Moreau"]
    assert out[1]["error"] == "in:2: expected a text of at most 50 characters (the model's nlp.max_length), got 60"
    assert summary.errors == 1 and "ents" in out[0] and "ents" in out[2]


def test_strict_stops_at_the_first_bad_line_after_writing_those_before(annotator, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "Oslo"}\n{"text": "Lisbon"}\n{"txt": 1}\n{"text": "Riga"}\n')
    with pytest.raises(BadLineError, match=r'in.jsonl:3: expected a "text" field, got fields: "txt"'):
        annotate("unused", str(tmp_path / "in.jsonl"), tmp_path / "out.jsonl", annotator=annotator, strict=True)
    assert [line["text"] for line in read_jsonl(tmp_path / "out.jsonl")] == ["Oslo", "Lisbon"]


def test_cli_reads_stdin_and_counts_errors_then_strict_exits_1(model, tmp_path):
    stdin = b'{"text": "Anna Brandt went to Oslo."}\nnot json\n{"text": "Lisbon"}\n'
    exit_code, output, error = run_cli(
        "scripts.annotate", model, "-", str(tmp_path / "out.jsonl"), "--input-format", "jsonl", stdin=stdin
    )
    assert exit_code == 0 and error is None, output[-2000:]
    assert "Annotated 3 lines" in output and "1 of 3 lines could not be annotated" in output
    assert "<stdin>:2: expected a JSON object, got invalid JSON" in output
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 3
    exit_code, output, error = run_cli(
        "scripts.annotate",
        model,
        "-",
        str(tmp_path / "strict.jsonl"),
        "--input-format",
        "jsonl",
        "--strict",
        stdin=stdin,
    )
    assert exit_code == 1 and error is None  # a message, not a traceback
    assert "<stdin>:2: expected a JSON object, got invalid JSON" in output


@pytest.mark.slow  # a process that imports torch and loads the model
def test_resume_after_a_kill_gives_the_same_bytes(model, annotator, tmp_path):
    """A real run killed part way (SIGKILL once lines are out), then --resume (in this process): the file an
    uninterrupted run writes."""
    source = write_input(tmp_path / "in.txt", 2_000)
    with source.open("ab") as stream:
        stream.write(b"bad \xff line\n")
    args = [model, str(source), str(tmp_path / "killed.jsonl"), "--batch-size", "256", "--sentences"]
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.annotate", *args],
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        out = tmp_path / "killed.jsonl"
        if out.exists() and out.stat().st_size > 100_000:  # a few chunks written, most not
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed: give it more lines"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = (tmp_path / "killed.jsonl").read_bytes()
    assert 0 < partial.count(b"\n") < 2_001
    exit_code, output, error = run_cli("scripts.annotate", *args, "--resume")
    assert exit_code == 0 and error is None, output[-2000:]
    assert "kept from before" in output

    annotator.close()  # the in-process run starts where the subprocesses did: no zone open
    annotate("unused", str(source), tmp_path / "whole.jsonl", annotator=annotator, batch_size=256)
    assert (tmp_path / "killed.jsonl").read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    assert (tmp_path / "whole.jsonl").read_bytes().count(b"\n") == 2_001


@pytest.mark.slow  # processes that import torch and load the model
def test_two_processes_write_what_one_does_and_run_the_code_file(model, annotator, tmp_path):
    (tmp_path / "in.txt").write_text("\n".join(TEXTS * 20) + "\n", encoding="utf8")
    code, marker = marking_code(tmp_path)
    annotator.close()
    annotate("unused", str(tmp_path / "in.txt"), tmp_path / "one.jsonl", annotator=annotator, batch_size=16)
    annotate(
        model, str(tmp_path / "in.txt"), tmp_path / "two.jsonl", n_process=2, batch_size=16, sentences=True, code=code
    )
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert (
        len(set(marker.read_text().split())) == 2 and str(os.getpid()) not in marker.read_text().split()
    )  # each worker ran it


def test_code_file_runs_although_the_projects_functions_are_loaded(model, tmp_path):
    """--code FILE with the local engine in a process that has imported scripts.custom_functions (as the
    CLI does): the file still runs, once, before the model loads."""
    code, marker = marking_code(tmp_path)
    (tmp_path / "in.txt").write_text("Anna Brandt went to Oslo .\n", encoding="utf8")
    annotate(model, str(tmp_path / "in.txt"), tmp_path / "out.jsonl", code=code)
    annotate(model, str(tmp_path / "in.txt"), tmp_path / "again.jsonl", code=code)
    assert marker.read_text().split() == [str(os.getpid())]


def test_memory_zones_and_reloads_change_no_output_and_free_the_strings(model, tmp_path):
    items = [Item(i + 1, {"text": text}) for i, text in enumerate(stream_texts(600))]
    plain = Annotator(model, zone_texts=0, reload_strings=0)
    zoned = Annotator(model, zone_texts=300, warmup_texts=300, reload_strings=0)
    reloaded = Annotator(model, zone_texts=150, warmup_texts=150, reload_strings=240)
    base = len(zoned.nlp.vocab.strings)
    for i, chunk in enumerate(chunked(items, 150)):
        assert plain(chunk) == zoned(chunk) == reloaded(chunk)
        if i == 1:  # the warm-up's 300 texts, annotated outside any zone
            after_warmup = len(zoned.nlp.vocab.strings)
    zoned.close()
    assert after_warmup > base
    assert (
        len(plain.nlp.vocab.strings) > after_warmup + 300
    )  # the 300 texts after the warm-up keep bringing new strings
    # Only the warm-up's strings stay: each zone's went when it was left.
    assert len(zoned.nlp.vocab.strings) == after_warmup
    assert reloaded.reloads >= 1 and plain.reloads == zoned.reloads == 0


def test_precision_reaches_the_loaded_pipeline(model):
    """--precision becomes spacy.load's config overrides, for every engine's Annotator (and after reloads)."""
    annotator = Annotator(model, config=precision_overrides("bf16"))  # not what "auto" picks on any CPU kind measured
    assert predicting_precision(annotator.nlp) == "bf16" and annotator.config == precision_overrides("bf16")
