"""A fresh venv holding only what a wheel declares it requires, made offline from this environment.

Installing a wheel's requirements from the registry would download gigabytes (torch); a venv that sees
this whole environment (a .pth file) would hide a requirement the wheel forgot. So each distribution the
requirements need, transitively and with their markers evaluated, is linked from this environment's
site-packages into the new venv, file tree by file tree; nothing else is there.
"""

import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path
from typing import Iterable, List

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def wheel_requirements(wheel: Path) -> List[str]:
    """The Requires-Dist lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
        return Parser().parsestr(archive.read(name).decode("utf8")).get_all("Requires-Dist") or []


def closure(requirements: Iterable[str]) -> dict:
    """The installed distributions `requirements` need, by canonical name, following each one's own
    requirements (with the extras asked for); a requirement this environment lacks raises."""
    found, todo = {}, [(Requirement(line), ()) for line in requirements]
    while todo:
        requirement, extras = todo.pop()
        if requirement.marker is not None and not any(
            requirement.marker.evaluate({"extra": extra}) for extra in (extras or ("",))
        ):
            continue
        name = canonicalize_name(requirement.name)
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError as missing:
            raise LookupError(
                f"{requirement}: not installed in {sys.prefix}, so no venv can be made from it"
            ) from missing
        new_extras = tuple(sorted(requirement.extras))
        if name in found and set(new_extras) <= found[name][1]:
            continue
        seen_extras = found.get(name, (None, set()))[1] | set(new_extras)
        found[name] = (distribution, seen_extras)
        todo += [(Requirement(line), tuple(sorted(seen_extras))) for line in distribution.requires or []]
    return {name: distribution for name, (distribution, _) in found.items()}


def venv_with(path: Path, requirements: Iterable[str]) -> Path:
    """A venv at `path` (without pip: this environment's pip installs into it) holding the distributions
    `requirements` need, linked from here; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    link_distributions(python_site(python), closure(requirements).values())
    return python


def python_site(python: Path) -> Path:
    """The site-packages folder of a venv's python."""
    script = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout.strip())


def link_distributions(site: Path, distributions: Iterable[metadata.Distribution]) -> None:
    """Each distribution's top-level files and folders (its RECORD's first path parts) linked into `site`."""
    for distribution in distributions:
        root = Path(distribution.locate_file(""))
        tops = {Path(str(file)).parts[0] for file in distribution.files or [] if not str(file).startswith("..")}
        if not tops:
            raise LookupError(f"{distribution.metadata['Name']}: no RECORD of its files in {root}")
        for top in tops:
            target = site / top
            if not target.exists():
                target.symlink_to(root / top)
