"""One process hosting the whole emulated AWS: a moto server on 127.0.0.1 whose Step Functions
engine executes state machines, whose Lambda runs handlers in warm worker processes, and whose
Batch runs jobs as host processes."""

import logging
import os
import socket
import tempfile
import warnings
from pathlib import Path
from types import TracebackType

from moto.core.config import default_user_config
from moto.moto_api._internal.models import moto_api_backend
from moto.server import ThreadedMotoServer

from local_emulator import cfn_resources, engine_fixes, service_events
from local_emulator.batch_runtime import BatchRuntime
from local_emulator.lambda_runtime import LambdaRuntime

DEFAULT_PORT = 4599
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Emulator:
    """`with Emulator(port) as emulator:` runs the server until the block ends."""

    def __init__(self, port: int = DEFAULT_PORT, state_dir: Path | None = None) -> None:
        self.port = port
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self._state = None if state_dir else tempfile.TemporaryDirectory(prefix="local-emulator-")
        self.state_dir = Path(state_dir or self._state.name)
        self.lambdas = LambdaRuntime(self.state_dir, self.endpoint_url, REGION)
        self.batch = BatchRuntime(self.state_dir, self.endpoint_url, REGION, service_events.emit_batch_job_state_change)
        self.server: ThreadedMotoServer | None = None

    def start(self) -> "Emulator":
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} on 127.0.0.1 is in use: choose another with --port")
        self._saved = {"MOTO_PORT": os.environ.get("MOTO_PORT"), "config": dict(default_user_config)}
        os.environ["MOTO_PORT"] = str(self.port)  # the engine's integrations call back here
        os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        default_user_config["iam"] = {"load_aws_managed_policies": True}
        import moto.settings

        moto.settings.moto_server_host = lambda: "http://127.0.0.1"  # custom resources' ResponseURL
        engine_fixes.apply_all()
        cfn_resources.install()
        self.lambdas.install()
        self.batch.install()
        service_events.install()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # deploy() names the resource types moto's CloudFormation does not create, once.
        logging.getLogger("moto").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        # The engine logs every failed state with its whole parse tree; the histories say it better.
        logging.getLogger("moto.stepfunctions.parser.asl.component").setLevel(logging.CRITICAL)
        # moto's backends are process-wide: an emulator started after another in the same process
        # (pytest runs several test modules per worker) must not find the earlier one's stacks.
        moto_api_backend.reset()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        return self

    def stop(self) -> None:
        self.batch.stop()
        self.lambdas.stop()
        if self.server is not None:
            self.server.stop()
            moto_api_backend.reset()
            default_user_config.clear()
            default_user_config.update(self._saved["config"])
            if self._saved["MOTO_PORT"] is None:
                os.environ.pop("MOTO_PORT", None)
            else:
                os.environ["MOTO_PORT"] = self._saved["MOTO_PORT"]
        if self._state is not None:
            self._state.cleanup()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
