"""project.yml: weasel can only skip a step whose deps name every project file it runs or imports,
and every step's outputs stay apart from the demo's."""

import ast
import shlex
from pathlib import Path
from typing import Set

import pytest
import srsly
from weasel.util import load_project_config

from conftest import PROJECT_DIR

PROJECT = load_project_config(PROJECT_DIR)
COMMANDS = {command["name"]: command for command in PROJECT["commands"]}


def module_file(module: str) -> Path:
    path = PROJECT_DIR / Path(*module.split("."))
    return path / "__main__.py" if path.is_dir() else path.with_suffix(".py")


def project_imports(path: Path, seen: Set[Path]) -> Set[Path]:
    """`path` and the project modules it imports, transitively."""
    if path in seen or not path.exists():
        return seen
    seen.add(path)
    package = ".".join(path.relative_to(PROJECT_DIR).parent.parts)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom):
            # a relative import (scripts/ner_model's modules import each other so) is read from its package
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        for name in names:
            if name == "scripts" or name.startswith("scripts."):
                project_imports(module_file(name), seen) if module_file(name).exists() else None
    if path.name == "__main__.py":
        project_imports(path.parent / "__init__.py", seen)
    return seen


def files_a_command_needs(command: dict) -> Set[str]:
    """Modules run with `python -m scripts.X` and all they import, `--code` files,
    and project files named in the script."""
    needed: Set[Path] = set()
    for line in command.get("script", []):
        args = shlex.split(line)
        for i, arg in enumerate(args):
            if arg == "-m" and args[i + 1].startswith("scripts."):
                needed |= project_imports(module_file(args[i + 1]), set())
            elif (PROJECT_DIR / arg).is_file() and arg != "README.md" and arg not in command.get("outputs", []):
                needed.add(PROJECT_DIR / arg)
    # Package __init__ files change no step's result (checked below), so they are no deps.
    return {str(p.relative_to(PROJECT_DIR)) for p in needed if p.name != "__init__.py"}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_deps_name_every_file_the_command_runs_or_imports(name):
    command = COMMANDS[name]
    deps = command.get("deps", [])
    # a folder in deps (weasel hashes every file in it) covers the files under it
    missing = {
        file
        for file in files_a_command_needs(command)
        if not any(file == dep or file.startswith(f"{dep}/") for dep in deps)
    }
    assert not missing, f"{name}: add to deps: {sorted(missing)}"


@pytest.mark.parametrize("init", sorted(PROJECT_DIR.glob("scripts/*/**/__init__.py")), ids=str)
def test_subpackage_inits_hold_only_a_docstring(init):
    body = ast.parse(init.read_text(encoding="utf8")).body
    assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)


def test_the_package_init_holds_a_docstring_and_the_collector_switch_only():
    """scripts/__init__.py turns the collector off while a step imports (test_processes.py runs it)."""
    body = ast.parse((PROJECT_DIR / "scripts" / "__init__.py").read_text(encoding="utf8")).body
    assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    assert [type(node) for node in body[1:]] == [ast.Import, ast.If]
    assert {alias.name for node in ast.walk(body[-1]) if isinstance(node, ast.Import) for alias in node.names} == {"gc"}


def test_no_module_shadows_an_installed_package():
    """The project's code lives in one package, `scripts`, imported from here and not from site-packages."""
    import scripts

    assert Path(scripts.__file__).resolve().parent == PROJECT_DIR / "scripts"


def test_outputs_of_a_step_are_deps_of_the_steps_that_read_them():
    outputs = {out: c["name"] for c in PROJECT["commands"] for out in c.get("outputs", [])}
    for command in PROJECT["commands"]:
        read = {
            arg
            for line in command.get("script", [])
            for arg in shlex.split(line)
            if arg in outputs and outputs[arg] != command["name"]
        }
        assert read <= set(command.get("deps", [])), (
            f"{command['name']}: add to deps: {sorted(read - set(command.get('deps', [])))}"
        )


def test_real_run_and_demo_write_apart():
    demo = load_project_config(PROJECT_DIR, overrides=dict(_demo_overrides()))
    real = {
        out for c in PROJECT["commands"] for out in c.get("outputs", []) if c["name"] in PROJECT["workflows"]["all"]
    }
    demo_outputs = {
        out for c in demo["commands"] for out in c.get("outputs", []) if c["name"] in PROJECT["workflows"]["all"]
    }
    assert all(out.split("/")[0] in ("corpus", "training", "metrics", "packages") for out in real)
    assert all(out.startswith("demo/") for out in demo_outputs), demo_outputs
    assert "en_ner_distilbert_conll03_demo-0.0.0" in " ".join(demo_outputs)


def _demo_overrides():
    args = shlex.split(PROJECT["vars"]["demo_vars"])
    for key, value in zip(args[::2], args[1::2]):
        yield key.lstrip("-"), srsly.json_loads(value) if value.lstrip("-").isdigit() else value


def main_blocks(path: Path) -> list:
    """The bodies of `path`'s `if __name__ == "__main__":` blocks, as source."""
    tree = ast.parse(path.read_text(encoding="utf8"))
    return [
        [ast.unparse(statement) for statement in node.body]
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) in ('__name__ == "__main__"', "__name__ == '__main__'")
    ]


@pytest.mark.parametrize(
    "path", sorted(PROJECT_DIR.glob("scripts/**/*.py")), ids=lambda p: str(p.relative_to(PROJECT_DIR))
)
def test_every_step_runs_through_cli_run(path):
    """`python -m scripts.STEP` imports with the collector off (scripts/__init__.py); only cli.run turns it
    back on, so a step that did not end in it would run its whole course without one."""
    for body in main_blocks(path):
        assert len(body) == 1 and body[0].startswith("cli.run("), (
            f"{path.name}: the __main__ block should be cli.run(app or main): {body}"
        )
