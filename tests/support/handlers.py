"""Load a function's handler module as Lambda does: its code folder first on sys.path."""

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def load_handler(code_dir: Path, module: str = "app") -> ModuleType:
    """Import CODE_DIR/MODULE.py afresh, so that clients are created inside the active mock."""
    local_modules = {p.stem for p in code_dir.glob("*.py")}
    for name in local_modules:
        sys.modules.pop(name, None)
    sys.path.insert(0, str(code_dir))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(code_dir))
        for name in local_modules:
            sys.modules.pop(name, None)


def formatted(logger: Any, caplog: pytest.LogCaptureFixture) -> str:
    """The captured records of the handler's Powertools Logger and its child loggers (one per module of
    its code folder), as they write them to CloudWatch."""
    formatter = logger.registered_formatter
    ours = [r for r in caplog.records if r.name == logger.name or r.name.startswith(f"{logger.name}.")]
    return "\n".join(formatter.format(record) for record in ours)
