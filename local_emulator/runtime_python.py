"""The interpreter `sam build` needs: one matching the functions' runtime in template.yaml, on PATH or
one of pyenv's. `python -m local_emulator.runtime_python` prints its folder (the Makefile's build)."""

import glob
import os
import shutil
import sys
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


def python_for_runtime(version: str) -> str | None:
    """The folder of a python<version> interpreter: on PATH, or one of pyenv's."""
    found = shutil.which(f"python{version}")
    if found and os.access(found, os.X_OK) and "shims" not in found:
        return str(Path(found).parent)
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    matches = sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))
    return str(Path(matches[-1]).parent) if matches else None


def runtime() -> str:
    return yaml_parse(TEMPLATE.read_text())["Globals"]["Function"]["Runtime"]


def runtime_python_dir() -> str | None:
    return python_for_runtime(runtime().removeprefix("python"))


if __name__ == "__main__":
    found = runtime_python_dir()
    if found is None:
        sys.exit(f"sam build needs {runtime()} on PATH (or under pyenv); this machine has none")
    print(found)
