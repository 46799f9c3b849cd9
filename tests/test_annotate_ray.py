"""annotate --engine ray: on a local Ray with 2 CPUs, the same bytes as the local engine, bad lines included,
and the --code file run in each actor."""

import json

import pytest

pytest.importorskip("ray")

from test_annotate import marking_code  # noqa: E402

import scripts.custom_functions  # noqa: E402,F401 -- functions the model's config may name
from scripts.annotate.run import annotate  # noqa: E402
from scripts.answering.annotator import Annotator  # noqa: E402


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one local Ray at a time on 2 cores
def test_ray_writes_what_local_writes(tiny_pipeline, tmp_path):
    model = str(tiny_pipeline)
    lines = [
        json.dumps({"id": i, "text": f"Anna Brandt of Northwind Bank said in Lisbon on day {i}. Oslo won."})
        for i in range(40)
    ]
    lines[5], lines[17] = "not json", '{"text": 1}'
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf8")
    annotate(
        "unused",
        str(tmp_path / "in.jsonl"),
        tmp_path / "local.jsonl",
        annotator=Annotator(model, source=str(tmp_path / "in.jsonl")),
        batch_size=8,
    )
    code, marker = marking_code(tmp_path)
    summary = annotate(
        model, str(tmp_path / "in.jsonl"), tmp_path / "ray.jsonl", engine="ray", n_process=2, batch_size=8, code=code
    )
    assert summary.lines == 40 and summary.errors == 2
    assert len(set(marker.read_text().split())) == 2  # each actor ran it
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    import ray

    assert not ray.is_initialized()  # the local Ray it started has stopped
