"""The code's shape, read from the source (no module is imported): no import cycle among the modules under
scripts/, counting imports inside functions, which run later but still tie the modules together; and no file
there so long that it holds more than one job."""

import ast
from pathlib import Path
from typing import Dict, List, Set

from conftest import PROJECT_DIR

MAX_LINES = 400


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path, modules: Set[str]) -> Set[str]:
    """The modules of `modules` that `path` imports anywhere in it (top level, functions, classes), absolute
    or relative; `from package import name` imports the module package.name where there is one, else the
    package (its __init__.py)."""
    name = module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = node.module
            if node.level:  # relative: the package, or one of its parents, then the module named
                source = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            named = (f"{source}.{alias.name}" for alias in node.names)
            found.update(module if module in modules else source for module in named)
    return (found & modules) - {name}


def import_graph(folder: Path, root: Path = PROJECT_DIR) -> Dict[str, Set[str]]:
    """Each module under `folder` (named from `root`) and the modules under `folder` it imports."""
    paths = [path for path in folder.rglob("*.py") if "__pycache__" not in path.parts]
    modules = {module_name(path, root) for path in paths}
    return {module_name(path, root): imported_modules(path, root, modules) for path in paths}


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """A shortest cycle through each group of modules that import each other, directly or not (the strongly
    connected components, by Tarjan's algorithm), as a path that ends where it starts."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    groups: List[Set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = {stack.pop()}
            while module not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return [shortest_cycle(graph, group) for group in groups]


def shortest_cycle(graph: Dict[str, Set[str]], group: Set[str]) -> List[str]:
    """The shortest path inside `group` from its first module by name back to itself (breadth first)."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph[module] & group):
                if target == start:
                    return paths[module] + [start]
                if target not in paths:
                    paths[target] = paths[module] + [target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{sorted(group)}: not a cycle")


def test_cycles_are_found_and_named():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_holds_relative_and_function_level_imports(tmp_path):
    files = {
        "pkg/__init__.py": "from .a import run\n",
        "pkg/a.py": "import os\nfrom . import b\n\ndef run():\n    pass\n",
        "pkg/b.py": "def later():\n    from pkg.sub import c\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "from ..a import run\nfrom ...outside import x\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path / "pkg", root=tmp_path)
    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": set(),
        "pkg.sub.c": {"pkg.a"},
    }
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]


def test_no_import_cycle_among_the_modules_under_scripts():
    found = cycles(import_graph(PROJECT_DIR / "scripts"))
    assert not found, "import cycles under scripts/: " + "; ".join(" -> ".join(cycle) for cycle in found)


def test_no_file_under_scripts_is_over_the_line_limit():
    """Every file read as code; scripts/data holds measured figures and examples, not code."""
    scripts = PROJECT_DIR / "scripts"
    lengths = {
        str(path.relative_to(PROJECT_DIR)): len(path.read_text(encoding="utf8").splitlines())
        for path in scripts.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.relative_to(scripts).parts[0] != "data"
    }
    too_long = {path: n for path, n in lengths.items() if n > MAX_LINES}
    assert lengths and not too_long, f"files under scripts/ over {MAX_LINES} lines: {too_long}"
