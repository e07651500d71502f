"""Command-line tools the checks run, each from its own virtual environment (see Makefile)."""

import glob
import os
import shutil
from pathlib import Path

from tests.support.paths import ROOT


def tool(name: str, venv: str) -> str:
    """TOOL from ROOT/VENV/bin, or $NAME (upper-case) if set; fails loudly when absent."""
    override = os.environ.get(name.upper().replace("-", "_"))
    candidate = override or str(ROOT / venv / "bin" / name)
    if not Path(candidate).exists():
        raise FileNotFoundError(f"{candidate} not found: run `make setup` first")
    return candidate


def python_for_runtime(version: str) -> str | None:
    """A python<version> interpreter for `sam build`: on PATH, or one of pyenv's."""
    found = shutil.which(f"python{version}")
    if found and os.access(found, os.X_OK) and "shims" not in found:
        return str(Path(found).parent)
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    matches = sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))
    return str(Path(matches[-1]).parent) if matches else None


def runtime_python_dir() -> str | None:
    """The folder of an interpreter matching the functions' runtime in template.yaml."""
    from tests.support.template import sam_template

    return python_for_runtime(sam_template()["Globals"]["Function"]["Runtime"].removeprefix("python"))
