"""Which environment variables a block of code read: what a warm process, made once, may share only
with processes whose environment gives the same answers (the warm AWS CLI, the Lambda fork server)."""

import contextlib
import os
import sys
import urllib.request
from collections.abc import Iterator

# urllib's proxy lookup (botocore's clients call it when they are made) iterates the whole
# environment, but only its `*_proxy` variables and REQUEST_METHOD change the answer.
PROXY_LOOKUPS = frozenset({urllib.request.getproxies_environment.__code__})
PROXIES = "*_proxy"  # what is recorded for a proxy lookup: see proxy_variables()


def proxy_variables(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name.lower().endswith("_proxy") or name == "REQUEST_METHOD"}


@contextlib.contextmanager
def environment_reads() -> Iterator[set[str]]:
    """The names of the environment variables read in the block (get() and `in` read through
    __getitem__), with PROXIES for every read made by a proxy lookup."""
    read: set[str] = set()
    original = os._Environ.__getitem__

    def recording(environ: os._Environ[str], name: str) -> str:
        frame = sys._getframe(1)
        for _ in range(3):  # environ.items() -> ItemsView.__iter__ -> here
            if frame is None or frame.f_code in PROXY_LOOKUPS:
                break
            frame = frame.f_back
        read.add(PROXIES if frame is not None and frame.f_code in PROXY_LOOKUPS else name)
        return original(environ, name)

    os._Environ.__getitem__ = recording  # type: ignore[method-assign]
    try:
        yield read
    finally:
        os._Environ.__getitem__ = original  # type: ignore[method-assign]


def same_answers(read: set[str], recorded: dict[str, str], env: dict[str, str]) -> bool:
    """Whether ENV gives the block that read READ under RECORDED (the environment it ran in) the same answers."""
    if PROXIES in read and proxy_variables(env) != proxy_variables(recorded):
        return False
    return all(env.get(name) == recorded.get(name) for name in read - {PROXIES})
