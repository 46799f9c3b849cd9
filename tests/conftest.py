"""Every test runs offline: the hub is unreachable here, so nothing may try it."""
import os
import sys
from pathlib import Path

import pytest

for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[variable] = "1"

PROJECT_DIR = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = PROJECT_DIR / "scripts"
sys.path.insert(0, str(SCRIPTS_DIR))


@pytest.fixture(scope="session")
def demo_conll_dir(tmp_path_factory) -> Path:
    """The demo's CoNLL sample, smaller: made by the project's own generator."""
    from make_demo_data import make_demo_data

    path = tmp_path_factory.mktemp("demo_conll")
    make_demo_data(path, n_train_docs=12, n_eval_docs=4, seed=0)
    return path


@pytest.fixture(scope="session")
def tiny_transformer(tmp_path_factory, demo_conll_dir) -> Path:
    from make_transformer import conll_words, make_transformer

    words = list(conll_words([demo_conll_dir / "train.txt"]))
    return make_transformer(tmp_path_factory.mktemp("tiny_distilbert"), words, dim=32, n_layers=1, n_heads=2, hidden_dim=64)
