"""The training curve: dev P/R/F at each evaluation in spaCy's JSON-lines log, the losses,
and the step model-best keeps."""

import json
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")  # headless: no display on a training machine

import matplotlib.pyplot as plt  # noqa: E402

from scripts.report.page import Section, esc, fmt, html_table, image_tag, missing_note  # noqa: E402


def read_training_log(path: Path) -> Tuple[List[dict], List[str]]:
    """The evaluations in spaCy's JSON-lines log (ConsoleLogger.v3 writes one line per evaluation),
    and the problems found: no log, no evaluation yet, lines that are not evaluations (a line cut
    off by a run still writing is left out, the rest shown)."""
    if not path.is_file():
        return [], [missing_note(path, "train")]
    evaluations, bad = [], 0
    for line in path.read_text(encoding="utf8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if not (
            isinstance(entry, dict) and isinstance(entry.get("step"), int) and isinstance(entry.get("scores"), dict)
        ):
            bad += 1
            continue
        scores = {k: float(v) for k, v in entry["scores"].items() if isinstance(v, (int, float))}
        score = entry.get("score")
        evaluations.append(
            {
                "step": entry["step"],
                "epoch": entry.get("epoch"),
                "scores": scores,
                "score": float(score) if isinstance(score, (int, float)) else scores.get("ents_f", 0.0) / 100,
                "losses": {k: float(v) for k, v in (entry.get("losses") or {}).items() if isinstance(v, (int, float))},
            }
        )
    problems = [f"{bad} line(s) of {path} are no evaluation and were left out"] if bad else []
    if not evaluations:
        problems.append(
            f"{path} has no evaluation yet: "
            "spaCy writes a line at each evaluation (every training.eval_frequency steps)"
        )
    return evaluations, problems


def best_evaluation(evaluations: Sequence[dict]) -> dict:
    """The evaluation model-best holds: spaCy saves it whenever the score equals the best so far
    (`score == max(results)[0]` in spacy/training/loop.py), so among equal scores the latest step."""
    return max(evaluations, key=lambda e: (e["score"], e["step"]))


def loss_per_step(evaluations: Sequence[dict]) -> List[Dict[str, float]]:
    """Each logged loss divided by the steps it sums: spaCy adds the losses of every update since the
    previous evaluation and resets them after logging; the first evaluation, at step 0, follows one."""
    per_step, previous = [], -1
    for e in evaluations:
        n_steps = e["step"] - previous
        per_step.append({k: v / n_steps for k, v in e["losses"].items()} if n_steps > 0 else {})
        previous = e["step"]
    return per_step


def plot_training(evaluations: Sequence[dict], best: dict, path: Path) -> None:
    steps = [e["step"] for e in evaluations]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for key, name in (("ents_f", "F"), ("ents_p", "P"), ("ents_r", "R")):
        if any(key in e["scores"] for e in evaluations):
            top.plot(
                steps,
                [e["scores"].get(key, float("nan")) for e in evaluations],
                marker="o",
                ms=3,
                label=f"dev {name}",
                lw=2 if name == "F" else 1,
            )
    if not top.lines:  # another pipeline's log: spaCy's weighted score
        top.plot(steps, [e["score"] * 100 for e in evaluations], marker="o", ms=3, label="dev score")
    best_f = best["scores"].get("ents_f", best["score"] * 100)
    for ax in (top, bottom):
        ax.axvline(best["step"], color="grey", ls="--", lw=1)
        ax.grid(alpha=0.3)
    top.plot(
        [best["step"]],
        [best_f],
        marker="*",
        ms=14,
        color="black",
        ls="",
        label=f"model-best: step {best['step']}, F {best_f:.2f}",
    )
    top.set_ylabel("dev score (%)")
    top.set_title("Training: dev scores at each evaluation")
    top.legend(loc="lower right")
    losses = loss_per_step(evaluations)
    for name in sorted({k for e in losses for k in e}):
        points = [(s, e[name]) for s, e in zip(steps, losses) if name in e]
        bottom.plot([s for s, _ in points], [v for _, v in points], marker="o", ms=3, label=f"{name} loss")
    if all(v > 0 for e in losses for v in e.values()) and any(losses):
        bottom.set_yscale("log")
    bottom.set_ylabel("train loss per step")
    bottom.set_xlabel("step")
    if bottom.lines:
        bottom.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def training_section(log_path: Path, evaluations: List[dict], problems: List[str], image: Path) -> Section:
    section = Section("Training curve", missing=list(problems))
    if not evaluations:
        return section
    best = best_evaluation(evaluations)
    plot_training(evaluations, best, image)
    losses = loss_per_step(evaluations)
    names = sorted({k for e in losses for k in e})
    header = ["step", "epoch", "dev P", "dev R", "dev F", "score"] + [f"{n} loss/step" for n in names]
    rows = []
    for e, loss in zip(evaluations, losses):
        cells = [e["step"], e["epoch"] if e["epoch"] is not None else ""] + [
            fmt(e["scores"].get(k)) for k in ("ents_p", "ents_r", "ents_f")
        ]
        cells += [f"{e['score']:.4f}"] + [fmt(loss.get(n)) for n in names]
        rows.append((cells, e is best))
    f = best["scores"].get("ents_f")
    section.body = (
        f"<p>Dev P, R and F at each of the {len(evaluations)} evaluations in <code>{esc(log_path)}</code>, "
        "and the training losses "
        "(per step: spaCy logs their sum since the previous evaluation). "
        f"The star marks step {best['step']}, the best score"
        f"{f' (dev F {f:.2f})' if f is not None else ''}, which <code>model-best</code> keeps "
        "(of equal scores, spaCy keeps the latest).</p>"
        f"{image_tag(image, 'Training curve')}"
        f"<details><summary>Every evaluation</summary>{html_table(header, rows)}</details>"
    )
    return section
