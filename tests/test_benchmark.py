"""The benchmark runs end to end on a tiny shape and writes its JSON report; no timing is asserted."""
import math
import os

import pytest
import srsly

from scripts import custom_functions
from scripts.benchmark.__main__ import run_benchmark
from scripts.benchmark.ceiling import Shape, flops_per_sequence, gemm_rates
from scripts.custom_functions import _has_openvino, native_bf16


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
    run_benchmark(output, n_sentences=24, n_train_sentences=16, batch_size=8, threads=1, seed=0, model_dir=tiny_transformer, gemm_seconds=0.2)
    assert os.environ["OMP_NUM_THREADS"] == "2" and "MKL_NUM_THREADS" not in os.environ  # the children's setting stays theirs
    report = srsly.read_json(output)
    assert set(report) == {"settings", "ceiling", "results", "not_measured", "targets"}
    settings = report["settings"]
    assert settings["n_sentences"] == 24 and settings["threads"] == 1
    assert settings["shape"] == {"dim": 32, "n_layers": 1, "n_heads": 2, "hidden_dim": 64, "vocab_size": Shape.of_model(tiny_transformer).vocab_size}
    assert settings["cpu"]["kind"] == custom_functions.cpu_kind(custom_functions.cpu_flags()) and settings["cpu"]["model_name"]
    assert "fp32" in report["ceiling"]["gemm_flops_per_s"]
    assert set(report["ceiling"]["gemm_flops_per_s"]) | set(report["ceiling"]["gemm_skipped"]) == {"fp32", "bf16", "int8"}
    for key in ("inference_words_per_s", "training_words_per_s", "forward_flops_per_word", "training_flops_per_word"):
        assert report["ceiling"][key] > 0
    pairs = {(row["system"], row["task"]) for row in report["results"]}
    inference = {"spacy", "spacy-fp32", "spacy-int8", "spacy-same-batches", "hf", "hf-sorted", "hf-pipeline"}
    training = {"spacy", "spacy-fp32", "hf"}
    not_measured = set()
    if custom_functions.native_bf16():
        inference, training = inference | {"hf-bf16", "spacy-bf16"}, training | {"hf-bf16", "spacy-bf16"}
    else:
        not_measured |= {"inference:hf-bf16", "inference:spacy-bf16", "training:hf-bf16", "training:spacy-bf16"}
    if _has_openvino():
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
        if row["task"] == "inference" and row["system"] in ("spacy-fp32", "spacy-same-batches", "spacy-int8", "spacy-int8-static", "spacy-bf16"):
            assert row["precision"] == {"spacy-int8": "int8", "spacy-int8-static": "int8-static", "spacy-bf16": "bf16"}.get(row["system"], "fp32")
        if row["task"] == "inference" and row["system"] == "spacy":
            assert row["precision"] == custom_functions.auto_precision()  # the shipped default, "auto"
    assert {"inference_vs_hf", "inference_vs_hf_sorted", "same_batches_vs_hf", "training_fp32_vs_hf", "inference_of_ceiling"} <= set(report["targets"])
    assert ("training_bf16_vs_fp32" in report["targets"]) == custom_functions.native_bf16()
    assert all(isinstance(t["met"], bool) for t in report["targets"].values())


def test_median_of_rounds_takes_each_systems_median_round():
    from scripts.benchmark.report import median_of_rounds

    runs = [{"task": "inference", "system": system, "words": 100, "seconds": seconds, "round": i}
            for i, (system, seconds) in enumerate([("hf", 1.0), ("spacy", 4.0), ("hf", 2.0), ("spacy", 1.0), ("hf", 4.0), ("spacy", 2.0)])]
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
    settings = dict(model_dir=tiny_transformer, trained=tmp_path / "trained", config=PROJECT_DIR / DEFAULT_CONFIG, n_dev=8, n_test=16,
                    n_calibration=8, target_f1=1.1, max_seconds=0, threads=1, seed=0)  # 1.1 is never reached: one epoch a call
    compared = ["fp32", "int8", *(["int8-static"] if _has_openvino() else [])]
    try:
        main(output=tmp_path / "first.json", precisions="fp32", n_train=16, learn_rate=1e-3, **settings)
        main(output=tmp_path / "second.json", precisions=",".join(compared), n_train=32, learn_rate=5e-4, **settings)
    finally:
        torch.set_num_threads(threads)
    report = srsly.read_json(tmp_path / "second.json")
    assert [(h["epoch"], h["n_train"], h["learn_rate"]) for h in report["training"]] == [(1, 16, 1e-3), (2, 32, 5e-4)]
    expected_precision = custom_functions.auto_training_precision()
    assert {(h["training_precision"], h["cpu_kind"]) for h in report["training"]} == {(expected_precision, report["cpu"]["kind"])}
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
    static = ["int8-static"] if _has_openvino() else []
    report = profile_forward(settings, ["fp32", "int8", "bf16", *static], gemm_seconds=0.2)
    measured = {"fp32", "int8", "bf16", *static} if native_bf16() else {"fp32", "int8", *static}
    assert set(report["results"]) == measured and ("forward:bf16" in report["skipped"]) != native_bf16()
    assert report["settings"]["n_words"] == sum(map(len, texts)) and report["settings"]["n_batches"] >= 1
    for precision, result in report["results"].items():
        assert result["words_per_s"] > 0 and 0 < result["fraction_of_ceiling"] < 1, precision
        if precision != "int8-static":  # OpenVINO's kernels are not profiled
            assert result["operators"] and abs(sum(result["operators"].values()) - 1) < 0.5, precision  # the top ones' shares
    assert any("MatMulInteger" in name for name in report["results"]["int8"]["operators"])  # ONNX Runtime's own profile
