"""botocore's data files, as moto reads them: once per process, not once per session it makes."""

import threading
from typing import Any

from local_emulator.patches.registry import Patcher, patch


@patch(
    service="server",
    defect="moto makes a new botocore session for several lookups (the EC2 regions, three times while its EC2 "
    "module is imported; each service's regions; each service's model), and each session's loader reads and "
    "parses the files again: the EC2 model (4 MB) six times per emulator, 1.3 s of CPU",
    aws="none: a speed-up, behaviour unchanged (a loader with the same class, search paths and extras reads the "
    "same files; botocore already hands one session's callers the same loaded objects)",
    reference="moto/ec2/models/availability_zones_and_regions.py (Session().get_available_regions), "
    "moto/core/base_backend.py (_generate_regions), moto/core/utils.py (_load_service_model)",
    seen_in="5.2.5",
)
def service_data_is_read_once(patcher: Patcher, emulator: Any) -> None:
    from botocore.loaders import Loader

    loaded: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()

    def shared(name: str) -> Any:
        read = getattr(Loader, name)

        def load(self: Loader, *args: Any, **kwargs: Any) -> Any:
            key = (type(self), type(self.file_loader), tuple(self.search_paths), tuple(self.extras_types), name)
            key += (args, tuple(sorted(kwargs.items())))
            with lock:
                if key in loaded:
                    return loaded[key]
            data = read(self, *args, **kwargs)  # a file that is not found raises, and is looked for again
            with lock:
                return loaded.setdefault(key, data)

        return load

    for name in ("load_service_model", "load_data_with_path"):
        patcher.replace(Loader, name, shared(name))
