"""The functions a model's config names, imported in every process that loads the model.

The project's own file, scripts/custom_functions.py, is imported as the module `scripts.custom_functions`,
so the model's classes have one identity in a process whoever imports them. Any other --code file is
imported by path, as spaCy's --code does, once a process. Ray's workers import the project like any other
process: a local Ray gets the project's root on its workers' PYTHONPATH.
"""

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Dict, Optional, Union

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT_MODULE = "scripts.custom_functions"
PROJECT_CODE = PROJECT_DIR / "scripts" / "custom_functions.py"

_IMPORTED: Dict[Path, ModuleType] = {}  # --code files imported by path in this process


def is_project_code(code: Optional[Union[str, Path]]) -> bool:
    return bool(code) and Path(code).resolve() == PROJECT_CODE


def load_code(code: Optional[Union[str, Path]]) -> None:
    """Register the functions of the Python file `code` (None or '': none) with spaCy, once a process."""
    if not code:
        return
    path = Path(code).resolve()
    if is_project_code(path):
        importlib.import_module(PROJECT_MODULE)
    elif path not in _IMPORTED:
        # spaCy comes with the pipeline; the serve driver imports this module and loads no pipeline.
        from spacy.util import import_file

        _IMPORTED[path] = import_file(path.stem, path)


def local_ray_runtime_env() -> dict:
    """The runtime_env of a local Ray: its workers import the project (the model's functions, the engines'
    classes) from this checkout, whatever their working directory."""
    paths = [str(PROJECT_DIR)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}
