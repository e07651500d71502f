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
    """The captured records as the handler's Powertools Logger writes them to CloudWatch."""
    formatter = logger.registered_formatter
    return "\n".join(formatter.format(record) for record in caplog.records if record.name == logger.name)
