"""Ratios, targets and the table, from the measured rates."""
from typing import Dict, List

from wasabi import msg

BASELINE = "hf"


def summarise(results: List[dict], ceiling: Dict[str, float]) -> List[dict]:
    rows = []
    for result in results:
        rate = result["words"] / result["seconds"]
        baseline = next(r for r in results if r["task"] == result["task"] and r["system"] == BASELINE)
        rows.append(
            {
                **result,
                "words_per_s": rate,
                "ratio_to_hf": rate / (baseline["words"] / baseline["seconds"]),
                "fraction_of_ceiling": rate / ceiling[f"{result['task']}_words_per_s"],
            }
        )
    return rows


def check_targets(rows: List[dict]) -> Dict[str, dict]:
    def rate(task, system):
        return next(r["words_per_s"] for r in rows if r["task"] == task and r["system"] == system)

    targets = {
        "inference_vs_hf": (rate("inference", "spacy") / rate("inference", "hf"), 0.9),
        "inference_vs_hf_pipeline": (rate("inference", "spacy") / rate("inference", "hf-pipeline"), 1.5),
        "training_vs_hf": (rate("training", "spacy") / rate("training", "hf"), 0.8),
    }
    return {name: {"ratio": ratio, "target": target, "met": ratio >= target} for name, (ratio, target) in targets.items()}


def print_table(rows: List[dict], ceiling: dict, targets: dict) -> None:
    header = ("system", "task", "words/s", "x plain HF", "of ceiling", "peak MiB")
    data = [
        (r["system"], r["task"], f"{r['words_per_s']:.0f}", f"{r['ratio_to_hf']:.2f}", f"{r['fraction_of_ceiling']:.1%}", f"{r['peak_mib']:.0f}")
        for r in rows
    ]
    data += [
        ("ceiling", task, f"{ceiling[f'{task}_words_per_s']:.0f}", "", "100.0%", "")
        for task in ("inference", "training")
    ]
    msg.table(data, header=header, divider=True, aligns=("l", "l", "r", "r", "r", "r"))
    for name, target in targets.items():
        (msg.good if target["met"] else msg.warn)(f"{name}: {target['ratio']:.2f} (target >= {target['target']})")


