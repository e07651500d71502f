"""One process hosting the whole emulated AWS: a moto server on 127.0.0.1 whose Step Functions
engine executes state machines, whose Lambda runs handlers in warm worker processes, and whose
Batch runs jobs as host processes."""

import copy
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

from local_emulator import patches, service_events
from local_emulator.aws_cli_server import WarmAwsCli
from local_emulator.batch_runtime import BatchRuntime
from local_emulator.lambda_runtime import LambdaRuntime
from local_emulator.patches import iam_enforcement
from local_emulator.patches.stepfunctions import DEFAULT_TASK_TOKEN_LENGTH, MAX_TASK_TOKEN_LENGTH

DEFAULT_PORT = 4599
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
# What the emulator's process needs while it runs (boto3 clients of the engine's integrations).
ENVIRONMENT = {
    "MOTO_PORT": "",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    # moto's setting: no public AMIs. The application names none (Batch on Fargate), and loading
    # them took a third of a second per region each time moto's backends were made.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
QUIETED_LOGGERS = {
    "werkzeug": logging.ERROR,
    "moto": logging.ERROR,
    # The engine logs every failed state with its whole parse tree; the histories say it better.
    "moto.stepfunctions.parser.asl.component": logging.CRITICAL,
}


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        state_dir: Path | None = None,
        task_token_length: int = DEFAULT_TASK_TOKEN_LENGTH,
        enforce_iam: bool | None = None,
    ) -> None:
        if not 1 <= task_token_length <= MAX_TASK_TOKEN_LENGTH:
            raise RuntimeError(f"the task token length must be between 1 and {MAX_TASK_TOKEN_LENGTH} (the API's bound)")
        self.port = port
        self.task_token_length = task_token_length
        # Requests are authorized as AWS does (patches/iam_enforcement.py) unless asked not to, or the
        # environment says not to (LOCAL_EMULATOR_ENFORCE_IAM=0: the local run is then less strict than AWS).
        self.enforce_iam = iam_enforcement.requested(enforce_iam)
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self._state = None if state_dir else tempfile.TemporaryDirectory(prefix="local-emulator-")
        self.state_dir = Path(state_dir or self._state.name)
        self.lambdas = LambdaRuntime(self.state_dir, self.endpoint_url, REGION)
        self.aws_cli = WarmAwsCli()  # the AWS CLI of jobs, first on their PATH
        self.batch = BatchRuntime(self.state_dir, self.endpoint_url, REGION, service_events.emit_batch_job_state_change)
        self.server: ThreadedMotoServer | None = None
        # The environment, moto's config, log levels and warning filters as they were before start.
        self._saved: tuple[dict, dict, dict, list] | None = None

    def start(self) -> "Emulator":
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} on 127.0.0.1 is in use: choose another with --port")
        self._saved = (
            {name: os.environ.get(name) for name in ENVIRONMENT},
            copy.deepcopy(default_user_config),
            {name: logging.getLogger(name).level for name in QUIETED_LOGGERS},
            list(warnings.filters),
        )
        try:
            os.environ.update({**ENVIRONMENT, "MOTO_PORT": str(self.port)})  # the engine's integrations call back here
            default_user_config["stepfunctions"] = {"execute_state_machine": True}
            default_user_config["iam"] = {"load_aws_managed_policies": True}
            patches.install(self)
            for name, level in QUIETED_LOGGERS.items():
                logging.getLogger(name).setLevel(level)
            # deploy() names the resource types moto's CloudFormation does not create, once.
            warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
            # moto's backends are process-wide: an emulator started after another in the same process
            # (pytest runs several test modules per worker) must not find the earlier one's stacks.
            moto_api_backend.reset()
            self.batch.path_first = str(self.aws_cli.start().bin)
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self.server.start()
        except BaseException:
            self.stop()  # a start that failed half-way leaves moto and the process as they were
            raise
        return self

    def stop(self) -> None:
        self.batch.stop()
        self.lambdas.stop()
        self.aws_cli.stop()
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._saved is not None:
            environ, config, levels, filters = self._saved
            self._saved = None
            patches.uninstall()
            default_user_config.clear()
            default_user_config.update(config)
            # After the config is restored: reset re-creates the backends, and the IAM ones would
            # otherwise load every AWS managed policy again (about 1 s of CPU) for nobody.
            moto_api_backend.reset()
            for name, value in environ.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
            warnings.filters[:] = filters
        if self._state is not None:
            self._state.cleanup()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
