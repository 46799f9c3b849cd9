"""Ratios, targets and the table, from the measured rates.

Every inference rate is compared with two baselines: `hf` (the notebook's path done well, batches of
`batch_size` in input order) and `hf-sorted` (the same model fed the length-sorted batches the shipped
pipeline makes), so a lead that comes only from sorting before padding shows as such.
"""

from typing import Dict, List

from wasabi import msg

BASELINE = "hf"
SORTED_BASELINE = "hf-sorted"
# issue 14: (numerator system, denominator system or "ceiling", task, target ratio); a target whose
# systems were not measured on this machine (the bf16 ones without native bf16) is not checked.
TARGETS = {
    "inference_vs_hf": ("spacy", BASELINE, "inference", 2.0),
    "inference_vs_hf_sorted": ("spacy", SORTED_BASELINE, "inference", 1.6),
    "inference_vs_hf_bf16": ("spacy", "hf-bf16", "inference", 1.1),
    "same_batches_vs_hf": ("spacy-same-batches", BASELINE, "inference", 0.95),
    "inference_of_ceiling": ("spacy", "ceiling", "inference", 0.4),
    "training_fp32_vs_hf": ("spacy-fp32", BASELINE, "training", 1.0),
    "training_bf16_vs_hf_bf16": ("spacy-bf16", "hf-bf16", "training", 1.0),
    "training_bf16_vs_fp32": ("spacy-bf16", "spacy-fp32", "training", 1.4),
}


def median_of_rounds(results: List[dict]) -> List[dict]:
    """One result per task and system: its median round's (the upper one of an even count), with every
    round's words/s in measuring order. Rounds alternate the systems, so load that comes and goes on a
    shared machine falls on all of them alike, and one unlucky measurement does not decide a ratio."""
    grouped: Dict[tuple, List[dict]] = {}
    for result in results:
        grouped.setdefault((result["task"], result["system"]), []).append(result)
    combined = []
    for runs in grouped.values():
        ranked = sorted(runs, key=lambda r: r["words"] / r["seconds"])
        combined.append({**ranked[len(ranked) // 2], "rounds_words_per_s": [r["words"] / r["seconds"] for r in runs]})
    return combined


def summarise(results: List[dict], ceiling: Dict[str, float]) -> List[dict]:
    def rate_of(task, system):
        found = [r for r in results if r["task"] == task and r["system"] == system]
        return found[0]["words"] / found[0]["seconds"] if found else None

    rows = []
    for result in results:
        rate = result["words"] / result["seconds"]
        sorted_rate = rate_of(result["task"], SORTED_BASELINE)
        rows.append(
            {
                **result,
                "words_per_s": rate,
                "ratio_to_hf": rate / rate_of(result["task"], BASELINE),
                "ratio_to_hf_sorted": rate / sorted_rate if sorted_rate else None,
                "fraction_of_ceiling": rate / ceiling[f"{result['task']}_words_per_s"],
            }
        )
    return rows


def check_targets(rows: List[dict]) -> Dict[str, dict]:
    def rate(task, system):
        return next(r["words_per_s"] for r in rows if r["task"] == task and r["system"] == system)

    measured = {(r["task"], r["system"]) for r in rows}
    targets = {}
    for name, (system, baseline, task, target) in TARGETS.items():
        if not {(task, system), (task, baseline)} <= measured | {(task, "ceiling")}:
            continue
        if baseline == "ceiling":
            ratio = next(r["fraction_of_ceiling"] for r in rows if r["task"] == task and r["system"] == system)
        else:
            ratio = rate(task, system) / rate(task, baseline)
        targets[name] = {"ratio": ratio, "target": target, "met": ratio >= target}
    return targets


def print_table(rows: List[dict], ceiling: dict, targets: dict) -> None:
    header = ("system", "task", "words/s", "x hf", "x hf-sorted", "of ceiling", "peak MiB")
    data = [
        (
            r["system"],
            r["task"],
            f"{r['words_per_s']:.0f}",
            f"{r['ratio_to_hf']:.2f}",
            f"{r['ratio_to_hf_sorted']:.2f}" if r["ratio_to_hf_sorted"] else "",
            f"{r['fraction_of_ceiling']:.1%}",
            f"{r['peak_mib']:.0f}",
        )
        for r in rows
    ]
    data += [
        ("ceiling", task, f"{ceiling[f'{task}_words_per_s']:.0f}", "", "", "100.0%", "")
        for task in ("inference", "training")
    ]
    msg.table(data, header=header, divider=True, aligns=("l", "l", "r", "r", "r", "r", "r"))
    for name, target in targets.items():
        (msg.good if target["met"] else msg.warn)(f"{name}: {target['ratio']:.2f} (target >= {target['target']})")
