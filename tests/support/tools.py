"""Command-line tools the checks run, each from its own virtual environment (see Makefile)."""

import os
from pathlib import Path

from tests.support.paths import ROOT


def tool(name: str, venv: str) -> str:
    """TOOL from ROOT/VENV/bin, or $NAME (upper-case) if set; fails loudly when absent."""
    override = os.environ.get(name.upper().replace("-", "_"))
    candidate = override or str(ROOT / venv / "bin" / name)
    if not Path(candidate).exists():
        raise FileNotFoundError(f"{candidate} not found: run `make setup` first")
    return candidate
