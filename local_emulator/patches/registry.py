"""The registry of every change the emulator makes to a third-party library (moto, nearly always).

Each change is a `Patch`: the defect (or the missing piece) it addresses, the AWS behaviour it
reproduces and where that behaviour is documented or was recorded, the moto version it was seen in,
and an upstream link where one exists. `install(emulator)` applies them all; `uninstall()` puts
back every attribute exactly as it was, so that a process that stopped its emulator holds stock
moto again. tests/emulator/test_patches.py runs one probe per patch against stock moto (it must
fail there: the patch is needed) and against the emulator (it must pass: the patch works).

Attributes are replaced with `unittest.mock.patch.object`, which records an attribute's own
value (or its absence, for an inherited one) and restores exactly that: no hand-written undo.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from unittest import mock

if TYPE_CHECKING:
    from local_emulator.server import Emulator


@dataclass(frozen=True)
class Patch:
    name: str
    service: str
    defect: str  # what stock moto does (or lacks)
    aws: str  # what AWS does, which the patch reproduces
    reference: str  # where AWS's behaviour is documented or was recorded
    seen_in: str  # the moto version the defect was seen in
    upstream: str | None  # an upstream issue or pull request, where one exists
    apply: Callable[["Patcher", "Emulator"], None]


class Patcher:
    """Replaces attributes and remembers how to put each back."""

    def __init__(self) -> None:
        self._patches: list[Any] = []

    def replace(self, owner: Any, name: str, value: Any) -> Any:
        """Set OWNER.NAME to VALUE until `undo()`; returns the value it had (inherited or own; None
        when it had none, in which case undo removes it again)."""
        original = getattr(owner, name, None)
        patch = mock.patch.object(owner, name, value, create=True)
        patch.start()
        self._patches.append(patch)
        return original

    def replace_item(self, dictionary: dict[Any, Any], key: Any, value: Any) -> None:
        """Set DICTIONARY[KEY] to VALUE until `undo()`."""
        patch = mock.patch.dict(dictionary, {key: value})
        patch.start()
        self._patches.append(patch)

    def call_on_undo(self, action: Callable[[], None]) -> None:
        """Run ACTION when the patches are undone (for caches built while they were in place)."""
        self._patches.append(_UndoAction(action))

    def undo(self) -> None:
        while self._patches:
            self._patches.pop().stop()


@dataclass(frozen=True)
class _UndoAction:
    stop: Callable[[], None]


PATCHES: list[Patch] = []
_installed: Patcher | None = None


def patch(
    *, service: str, defect: str, aws: str, reference: str, seen_in: str, upstream: str | None = None
) -> Callable[[Callable[[Patcher, "Emulator"], None]], Callable[[Patcher, "Emulator"], None]]:
    """Register the decorated function as a patch named after it."""

    def register(apply: Callable[[Patcher, "Emulator"], None]) -> Callable[[Patcher, "Emulator"], None]:
        PATCHES.append(Patch(apply.__name__, service, defect, aws, reference, seen_in, upstream, apply))
        return apply

    return register


def install(emulator: "Emulator | None", services: set[str] | None = None) -> None:
    """Apply the registered patches (of SERVICES, or all), bound to EMULATOR (its Lambda and Batch
    runtimes; None for in-process tests that need no runtime)."""
    global _installed
    if _installed is not None:
        raise RuntimeError("moto is already patched by a running emulator: one emulator per process at a time")
    patcher = Patcher()
    try:
        for registered in PATCHES:
            if services is None or registered.service in services:
                registered.apply(patcher, emulator)
    except BaseException:
        patcher.undo()
        raise
    _installed = patcher


def uninstall() -> None:
    """Put back every attribute the patches replaced."""
    global _installed
    if _installed is not None:
        _installed.undo()
        _installed = None


@contextmanager
def applied(services: set[str]) -> Iterator[None]:
    """The patches of SERVICES, for in-process tests (moto's mock_aws) that run no emulator."""
    install(None, services)
    try:
        yield
    finally:
        uninstall()
