"""The benchmark runs end to end on a tiny shape and writes its JSON report; no timing is asserted."""

import math
import os

import pytest
import srsly

from scripts.benchmark.__main__ import run_benchmark
from scripts.benchmark.ceiling import Shape, flops_per_sequence, gemm_rates
from scripts.benchmark.report import TARGETS
from scripts.ner_model.hardware import auto_precision, auto_training_precision, cpu_flags, cpu_kind, native_bf16
from scripts.ner_model.runtimes import has_openvino


def test_flops_formula():
    shape = Shape(dim=4, n_layers=2, n_heads=1, hidden_dim=8, vocab_size=10)
    # per layer 8*L*d*d + 4*L*d*h + 4*L*L*d with L=3; classifier 2*L*d*9
    assert flops_per_sequence(3, shape) == 2 * (8 * 3 * 16 + 4 * 3 * 4 * 8 + 4 * 9 * 4) + 2 * 3 * 4 * 9


def test_gemm_probe_skips_emulated_bf16():
    rates, skipped = gemm_rates(Shape(), batch_size=32, gpu=False, seconds=0.25)
    floats = set(rates) - {"int8"}
    if native_bf16():
        assert floats == {"fp32", "bf16"} and "bf16" not in skipped
    else:
        assert floats == {"fp32"} and "no native bf16" in skipped["bf16"]
    assert "int8" in rates or "int8" in skipped  # measured, or skipped with the reason
    assert all(rate > 0 for rate in rates.values())


@pytest.mark.slow
def test_benchmark_tiny(tmp_path, tiny_transformer, monkeypatch):
    output = tmp_path / "metrics" / "benchmark.json"
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    run_benchmark(
        output,
        n_sentences=24,
        n_train_sentences=16,
        batch_size=8,
        threads=1,
        seed=0,
        model_dir=tiny_transformer,
        gemm_seconds=0.2,
    )
    assert (
        os.environ["OMP_NUM_THREADS"] == "2" and "MKL_NUM_THREADS" not in os.environ
    )  # the children's setting stays theirs
    report = srsly.read_json(output)
    assert set(report) == {"settings", "ceiling", "results", "not_measured", "targets"}
    settings = report["settings"]
    assert settings["n_sentences"] == 24 and settings["threads"] == 1
    assert settings["shape"] == {
        "dim": 32,
        "n_layers": 1,
        "n_heads": 2,
        "hidden_dim": 64,
        "vocab_size": Shape.of_model(tiny_transformer).vocab_size,
    }
    assert settings["cpu"]["kind"] == cpu_kind(cpu_flags()) and settings["cpu"]["model_name"]
    assert "fp32" in report["ceiling"]["gemm_flops_per_s"]
    assert set(report["ceiling"]["gemm_flops_per_s"]) | set(report["ceiling"]["gemm_skipped"]) == {
        "fp32",
        "bf16",
        "int8",
    }
    for key in ("inference_words_per_s", "training_words_per_s", "forward_flops_per_word", "training_flops_per_word"):
        assert report["ceiling"][key] > 0
    pairs = {(row["system"], row["task"]) for row in report["results"]}
    inference = {"spacy", "spacy-fp32", "spacy-int8", "spacy-same-batches", "hf", "hf-sorted", "hf-pipeline"}
    training = {"spacy", "spacy-fp32", "hf"}
    not_measured = set()
    if native_bf16():
        inference, training = inference | {"hf-bf16", "spacy-bf16"}, training | {"hf-bf16", "spacy-bf16"}
    else:
        not_measured |= {"inference:hf-bf16", "inference:spacy-bf16", "training:hf-bf16", "training:spacy-bf16"}
    if has_openvino():
        inference.add("spacy-int8-static")
    else:
        not_measured.add("inference:spacy-int8-static")
    assert set(report["not_measured"]) == not_measured
    assert pairs == {(system, "inference") for system in inference} | {(system, "training") for system in training}
    for row in report["results"]:
        assert row["rounds_words_per_s"] == [row["words_per_s"]]  # one round
        for key in ("words_per_s", "ratio_to_hf", "fraction_of_ceiling", "peak_mib"):
            assert math.isfinite(row[key]) and row[key] > 0, (row, key)
        assert row["torch_threads"] == 1
        if row["system"] == "hf":
            assert row["ratio_to_hf"] == 1.0
        if row["system"] == "hf-sorted":
            assert row["ratio_to_hf_sorted"] == 1.0
        if row["task"] == "inference" and row["system"] in (
            "spacy-fp32",
            "spacy-same-batches",
            "spacy-int8",
            "spacy-int8-static",
            "spacy-bf16",
        ):
            assert row["precision"] == {
                "spacy-int8": "int8",
                "spacy-int8-static": "int8-static",
                "spacy-bf16": "bf16",
            }.get(row["system"], "fp32")
        if row["task"] == "inference" and row["system"] == "spacy":
            assert row["precision"] == auto_precision()  # the shipped default, "auto"
    assert {
        "inference_vs_hf",
        "inference_vs_hf_sorted",
        "same_batches_vs_hf",
        "training_fp32_vs_hf",
        "inference_of_ceiling",
    } <= set(report["targets"])
    assert ("training_bf16_vs_fp32" in report["targets"]) == native_bf16()
    assert_targets_follow_the_rates(report)


def assert_targets_follow_the_rates(report: dict) -> None:
    """Each target whose two systems were measured is reported, its ratio from the rows' rates (a system's
    fraction of the ceiling where that is the baseline), met exactly when the ratio reaches the target."""
    rows = {(row["task"], row["system"]): row for row in report["results"]}
    checked = {
        name
        for name, (system, baseline, task, _) in TARGETS.items()
        if (task, system) in rows and (baseline == "ceiling" or (task, baseline) in rows)
    }
    assert set(report["targets"]) == checked
    for name, reported in report["targets"].items():
        system, baseline, task, target = TARGETS[name]
        row = rows[(task, system)]
        if baseline == "ceiling":
            ratio = row["fraction_of_ceiling"]
        else:
            ratio = row["words_per_s"] / rows[(task, baseline)]["words_per_s"]
        # approximately: the JSON rounds floats
        assert (reported["target"], reported["ratio"]) == pytest.approx((target, ratio)), name
        assert reported["met"] is (ratio >= target), name


def test_median_of_rounds_takes_each_systems_median_round():
    from scripts.benchmark.report import median_of_rounds

    runs = [
        {"task": "inference", "system": system, "words": 100, "seconds": seconds, "round": i}
        for i, (system, seconds) in enumerate(
            [("hf", 1.0), ("spacy", 4.0), ("hf", 2.0), ("spacy", 1.0), ("hf", 4.0), ("spacy", 2.0)]
        )
    ]
    combined = {r["system"]: r for r in median_of_rounds(runs)}
    assert combined["hf"]["seconds"] == 2.0 and combined["hf"]["rounds_words_per_s"] == [100.0, 50.0, 25.0]
    assert combined["spacy"]["seconds"] == 2.0 and combined["spacy"]["rounds_words_per_s"] == [25.0, 100.0, 50.0]


def test_training_profile_splits_each_step_into_its_parts(tiny_transformer):
    from scripts.benchmark.inputs import make_inputs
    from scripts.benchmark.profile import PHASES, profile_training
    from scripts.benchmark.systems import TRAINING_WARM_UP, Settings

    _, sentences = make_inputs(1, 4 * (TRAINING_WARM_UP + 1), seed=0)
    settings = Settings(str(tiny_transformer), "configs/distilbert_ner.cfg", [], sentences, 4, 1, 0, False, {})
    per_batch = profile_training(settings, n_batches=1)
    assert set(per_batch) == {"spacy", "hf"}
    for system, phases in per_batch.items():
        assert all(phases[phase] > 0 for phase in ("forward", "backward", "optimizer")), (system, phases)
        assert phases["total"] >= sum(phases[p] for p in PHASES)
    assert per_batch["hf"]["clip"] > 0 and per_batch["spacy"]["clip"] == 0  # spaCy's optimizer clips inside


def test_agreement_trains_keeps_the_pipeline_goes_on_with_more_sentences_and_compares(tmp_path, tiny_transformer):
    """The accuracy bar's tool on the tiny transformer: an epoch, the pipeline kept with its history, one
    more epoch on a larger set (a superset) from the kept pipeline, then each precision against fp32."""
    import torch

    from conftest import PROJECT_DIR
    from scripts.benchmark.agreement import main
    from scripts.benchmark.inputs import DEFAULT_CONFIG

    threads = torch.get_num_threads()
    settings = dict(
        model_dir=tiny_transformer,
        trained=tmp_path / "trained",
        config=PROJECT_DIR / DEFAULT_CONFIG,
        n_dev=8,
        n_test=16,
        n_calibration=8,
        target_f1=1.1,
        max_seconds=0,
        threads=1,
        seed=0,
    )  # 1.1 is never reached: one epoch a call
    compared = ["fp32", "int8", *(["int8-static"] if has_openvino() else [])]
    try:
        main(output=tmp_path / "first.json", precisions="fp32", n_train=16, learn_rate=1e-3, **settings)
        main(output=tmp_path / "second.json", precisions=",".join(compared), n_train=32, learn_rate=5e-4, **settings)
    finally:
        torch.set_num_threads(threads)
    report = srsly.read_json(tmp_path / "second.json")
    assert [(h["epoch"], h["n_train"], h["learn_rate"]) for h in report["training"]] == [(1, 16, 1e-3), (2, 32, 5e-4)]
    expected_precision = auto_training_precision()
    assert {(h["training_precision"], h["cpu_kind"]) for h in report["training"]} == {
        (expected_precision, report["cpu"]["kind"])
    }
    assert set(report["results"]) == set(compared) and report["results"]["fp32"]["agreement_with_fp32"] == 1.0
    assert all(0 <= report["results"][p]["agreement_with_fp32"] <= 1 for p in compared) and report["n_test_tokens"] > 0
    assert report["results"].get("int8-static", {"n_calibration_sentences": 8})["n_calibration_sentences"] == 8
    assert report["cpu"]["flags"] and report["threads"] == 1


def test_forward_profile_times_each_inference_copy_against_the_ceiling(tiny_transformer):
    from scripts.benchmark.forward import profile_forward
    from scripts.benchmark.inputs import make_inputs
    from scripts.benchmark.systems import Settings

    texts, _ = make_inputs(40, 0, seed=0)
    settings = Settings(str(tiny_transformer), "configs/distilbert_ner.cfg", texts, [], 32, 1, 0, False, {})
    static = ["int8-static"] if has_openvino() else []
    report = profile_forward(settings, ["fp32", "int8", "bf16", *static], gemm_seconds=0.2)
    measured = {"fp32", "int8", "bf16", *static} if native_bf16() else {"fp32", "int8", *static}
    assert set(report["results"]) == measured and ("forward:bf16" in report["skipped"]) != native_bf16()
    assert report["settings"]["n_words"] == sum(map(len, texts)) and report["settings"]["n_batches"] >= 1
    for precision, result in report["results"].items():
        assert result["words_per_s"] > 0 and 0 < result["fraction_of_ceiling"] < 1, precision
        if precision != "int8-static":  # OpenVINO's kernels are not profiled
            assert result["operators"] and abs(sum(result["operators"].values()) - 1) < 0.5, (
                precision
            )  # the top ones' shares
    assert any("MatMulInteger" in name for name in report["results"]["int8"]["operators"])  # ONNX Runtime's own profile


def test_batch_shapes_counts_the_forward_batches_and_what_padding_them_adds(tiny_transformer, tmp_path):
    from conftest import PROJECT_DIR
    from scripts.benchmark.batch_shapes import main, shape_counts
    from scripts.benchmark.inputs import DEFAULT_CONFIG

    counts = shape_counts([(2, 5), (2, 5), (3, 9)])  # padded: (4, 8) twice and (4, 16)
    assert counts == {"batches": 3, "distinct": 2, "distinct_padded_r4_p8": 2, "padded_share_of_work": 1 - 47 / 128}
    output = tmp_path / "shapes.json"
    main(model_dir=tiny_transformer, config=PROJECT_DIR / DEFAULT_CONFIG, n_sentences="40", output=output, seed=0)
    report = srsly.read_json(output)
    counts = report["results"]["40"]
    assert 1 <= counts["distinct_padded_r4_p8"] <= counts["distinct"] <= counts["batches"]
    assert 0 <= counts["padded_share_of_work"] < 1
    assert (report["max_batch_items"], report["nlp_batch_size"]) == (1024, 1024)  # the config's


def test_same_entities_finds_no_difference_on_the_tiny_pipeline(tiny_pipeline, tmp_path):
    """The tool behind docs/precision.md's same-entities runs; tests/test_same_entities.py is the bar itself."""
    from scripts.benchmark.same_entities import main

    output = tmp_path / "same.json"
    main(model=tiny_pipeline, precisions="fp32", output=output, n_texts=40, n_calls=80, n_calibration=8, seed=0)
    result = srsly.read_json(output)["results"]["fp32"]
    assert result["n_texts"] == 40 and result["n_entities_alone"] > 0
    compared = ("batch_256", "shuffled", "max_batch_items_64", "max_batch_items_8192", "threads_8_calls_80")
    assert {key: result[key] for key in compared} == dict.fromkeys(compared, 0)


def test_pipeline_share_times_the_forward_passes_inside_the_pipeline(tiny_pipeline, tmp_path):
    import torch

    from scripts.benchmark.inputs import pipeline_in
    from scripts.benchmark.pipeline_share import forward_seconds, main

    threads = torch.get_num_threads()
    try:
        main(model=tiny_pipeline, precisions="fp32", output=tmp_path / "share.json", n_sentences=40, threads=1, seed=0)
    finally:
        torch.set_num_threads(threads)
    result = srsly.read_json(tmp_path / "share.json")["results"]["fp32"]
    for timed in (result["whole_pipeline"], result["transformer_component_alone"]):
        assert 0 < timed["forward_s"] < timed["total_s"]
    assert 0 < result["forward_share_of_whole"] < 1
    nlp = pipeline_in(tiny_pipeline, "fp32")
    with forward_seconds(nlp):
        pass
    assert "predict" not in vars(nlp.get_pipe("transformer").model.layers[0].shims[0])  # the timer is gone


@pytest.mark.skipif(not has_openvino(), reason="int8-static runs in OpenVINO")
def test_openvino_shapes_times_each_shapes_first_call_and_the_call_again(tiny_pipeline, tmp_path):
    import torch

    from scripts.benchmark.openvino_shapes import SETTINGS, SHAPES, main

    threads = torch.get_num_threads()
    try:
        main(model=tiny_pipeline, output=tmp_path / "shapes.json", n_calibration=8, threads=1, seed=0)
    finally:
        torch.set_num_threads(threads)
    report = srsly.read_json(tmp_path / "shapes.json")
    assert [run["openvino_config"] for run in report["runs"]] == SETTINGS and report["static_copy_bytes"] > 0
    for run in report["runs"]:
        assert len(run["first_call_ms"]) == len(run["same_call_again_ms"]) == len(SHAPES)
        assert all(ms > 0 for ms in run["first_call_ms"] + run["same_call_again_ms"])
