"""The steps as processes: each imports only what it uses, and ends without walking its heap.

A process that imports spaCy with spacy-transformers, torch and transformers spends about 11 s on 2
cores doing so, and 2-3 s more at exit (docs/tests.md, "Where the time goes").
"""

import ast
import subprocess
import sys

import pytest

from conftest import PROJECT_DIR

pytestmark = pytest.mark.slow  # processes: they guard how fast the steps start and end, not what they write


def imported(code: str, modules, *args) -> list:
    """Which of `modules` a fresh process has imported after running `code`."""
    check = f"import sys\n{code}\nprint([m for m in {list(modules)!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", check, *args], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_writing_conll_text_imports_no_spacy_and_the_corpus_no_transformers(tmp_path):
    """The demo's data is CoNLL text: no spaCy (nor torch, which thinc imports). The corpus step makes
    English's vocab without a Language, which would load every package's entry points."""
    write = (
        "from pathlib import Path\nfrom scripts.demo_data import make_demo_data\n"
        "make_demo_data(Path(sys.argv[1]), n_train_docs=2, n_eval_docs=1, seed=0)"
    )
    assert imported(write, ["spacy", "torch"], str(tmp_path / "conll")) == []
    convert = (
        "from pathlib import Path\nfrom scripts.corpus import convert\n"
        "convert(Path(sys.argv[1]), 10, conll_dir=Path(sys.argv[2]))"
    )
    assert (
        imported(convert, ["spacy_transformers", "transformers"], str(tmp_path / "corpus"), str(tmp_path / "conll"))
        == []
    )
    assert (tmp_path / "corpus" / "train.spacy").exists()


def test_a_ray_server_driver_imports_no_model_code():
    """Ray Serve's replicas load the model; the driver only starts them."""
    assert imported("import scripts.serve.__main__, scripts.serve.ray_engine", ["spacy", "torch"]) == []


def test_a_step_imports_without_the_collector_and_runs_with_the_stack_frozen():
    """`python -m scripts.STEP` imports the package while sys.argv[0] is "-m": the collector is off for the
    step's imports; cli.run freezes what was imported and turns the collector back on, and registers
    gc.freeze first, so that it runs last among the exit handlers, before the interpreter's final collections."""
    code = (
        "import sys\n"
        "sys.argv[0] = '-m'  # as while `python -m scripts.STEP` finds the step\n"
        "import atexit, gc, typer\n"
        "from scripts import cli\n"
        "print('collecting while importing:', gc.isenabled())\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > frozen[0]))\n"
        "frozen = [0]\n"
        "def main(name: str = 'x'):\n"
        "    print('collecting in the run:', gc.isenabled(), 'imports frozen:', gc.get_freeze_count() > 0)\n"
        "    frozen[0] = gc.get_freeze_count()\n"
        "    made = [[] for _ in range(1000)]\n"
        "    atexit.register(lambda: print('frozen when a later handler runs:', "
        "gc.get_freeze_count() > frozen[0], len(made)))\n"
        "cli.run(main)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[:4] == [
        "collecting while importing: False",
        "collecting in the run: True imports frozen: True",
        "frozen when a later handler runs: False 1000",
        "frozen at exit: True",
    ]
