"""moto's HTTP server: what every request costs it before it reaches a service."""

from typing import Any

from local_emulator.patches.registry import Patcher, patch


@patch(
    service="server",
    defect="every request lists moto's package folder and checks each of its 170 entries with os.path.isdir, "
    "to learn whether the request's host names a moto module: 1.2 ms of CPU a request, tens of thousands of "
    "requests a test run",
    aws="none: a speed-up, behaviour unchanged (the installed package's folders do not change while it runs)",
    reference="moto/backends.py (list_of_moto_modules), moto/moto_server/werkzeug_app.py (get_backend_for_host)",
    seen_in="5.2.5",
)
def moto_modules_are_listed_once(patcher: Patcher, emulator: Any) -> None:
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    patcher.replace(backends, "list_of_moto_modules", lambda: modules)
