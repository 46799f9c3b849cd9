"""`build_report`: read what a run wrote, draw each section, write the page and its PNGs."""

from pathlib import Path
from typing import List, Optional, Tuple

from scripts.report.confusion import errors_section
from scripts.report.page import fmt, image_paths, missing_note, read_json, render_page
from scripts.report.per_type import per_type_section
from scripts.report.training import best_evaluation, read_training_log, training_section
from scripts.scoring import read_predictions


def load_examples(gold_path: Path, predicted_path: Path) -> Tuple[list, List[str]]:
    """The gold and predicted Docs paired, or what stops that."""
    problems = [
        missing_note(path, step)
        for path, step in ((gold_path, "corpus"), (predicted_path, "evaluate"))
        if not path.is_file()
    ]
    if problems:
        return [], problems
    try:
        return read_predictions(gold_path, predicted_path), []
    except Exception as err:  # a DocBin cut short or from elsewhere: say so, whatever the reader raised
        return [], [f"{predicted_path} cannot be paired with {gold_path}: {type(err).__name__}: {err}"]


def summary_html(evaluations: List[dict], test_scores: Optional[dict], crosscheck: Optional[dict]) -> str:
    items = []
    if test_scores is not None and test_scores.get("ents_f") is not None:
        items.append(
            f"Test: F <b>{100 * test_scores['ents_f']:.2f}</b>, "
            f"P {100 * (test_scores.get('ents_p') or 0):.2f}, R {100 * (test_scores.get('ents_r') or 0):.2f} (spaCy)"
        )
    if crosscheck is not None:
        items.append(f"seqeval agrees: <b>{'yes' if crosscheck.get('agree') else 'NO'}</b>")
    if evaluations:
        best = best_evaluation(evaluations)
        items.append(
            f"model-best: step {best['step']} of {evaluations[-1]['step']}, dev F {fmt(best['scores'].get('ents_f'))}"
        )
    return f"<p>{' · '.join(items)}</p>" if items else ""


def build_report(training_dir: Path, corpus_dir: Path, metrics_dir: Path, output: Path, per_kind: int = 3) -> List[str]:
    """Write the page and its PNGs; return what was missing (empty when the page is whole)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    images = image_paths(output)
    for image in images.values():  # no stale picture beside a page that says its input is missing
        image.unlink(missing_ok=True)
    log_path = training_dir / "train_log.jsonl"
    gold_path, predicted_path = corpus_dir / "test.spacy", metrics_dir / "test_predictions.spacy"
    test_path, crosscheck_path = metrics_dir / "test.json", metrics_dir / "crosscheck.json"
    evaluations, log_problems = read_training_log(log_path)
    test_scores, test_problem = read_json(test_path, "evaluate")
    crosscheck, crosscheck_problem = read_json(crosscheck_path, "crosscheck")
    examples, problems = load_examples(gold_path, predicted_path)
    training = training_section(log_path, evaluations, log_problems, images["training"])
    errors, table = errors_section(examples, problems, gold_path, predicted_path, images["errors"], per_kind)
    score_problems = [p for p in (test_problem, crosscheck_problem) if p]
    per_type = per_type_section(
        test_path, test_scores, crosscheck_path, crosscheck, score_problems, images["per_type"], table
    )
    sections = [training, per_type, errors]
    output.write_text(render_page(sections, summary_html(evaluations, test_scores, crosscheck)), encoding="utf8")
    return [m for s in sections for m in s.missing]
