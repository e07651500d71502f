"""A warm Lambda execution environment: imports one handler once, then runs invocations.

Started by lambda_runtime.py with the function's environment, its code folder as the working
directory, requests on stdin and responses on the file descriptor given as argv[1]. Each
invocation's stdout and stderr (the function's log) are captured at the file-descriptor level,
so Powertools' JSON lines and tracebacks land in that invocation's log, as in CloudWatch.
"""

import importlib
import json
import os
import sys
import tempfile
import time
import traceback
import uuid
from typing import Any


class Context:
    """The Lambda context object handlers receive."""

    def __init__(self, request_id: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.invoked_function_arn = os.environ["LOCAL_EMULATOR_FUNCTION_ARN"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_payload(exc: BaseException, request_id: str, error_type: str | None = None, message: str = "") -> str:
    """As Lambda's Python runtime reports an error: the handler's frames only, not the runtime's."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename != __file__]
    return json.dumps(
        {
            "errorMessage": message or str(exc),
            "errorType": error_type or type(exc).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_list(frames),
        }
    )


def load_handler() -> Any:
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    sys.path.insert(0, os.getcwd())
    return getattr(importlib.import_module(module_name), function_name)


def invoke(handler: Any, init_error: BaseException | None, request: dict[str, Any]) -> tuple[str, bool]:
    request_id = request["requestId"]
    if init_error is not None:
        module = os.environ["_HANDLER"].rsplit(".", 1)[0]
        message = f"Unable to import module '{module}': {init_error}"
        return error_payload(init_error, request_id, "Runtime.ImportModuleError", message), True
    context = Context(request_id, time.monotonic() + request["timeoutSeconds"])
    try:
        result = handler(request["event"], context)
    except Exception as exc:  # reported to the caller as Lambda reports an unhandled error
        traceback.print_exc()
        return error_payload(exc, request_id), True
    try:
        return json.dumps(result), False
    except TypeError as exc:  # bytes, sets, objects: Lambda cannot return them either
        return error_payload(exc, request_id, "Runtime.MarshalError", f"Unable to marshal response: {exc}"), True


def main() -> None:
    responses = os.fdopen(int(sys.argv[1]), "w")
    log_fd_out, log_fd_err = os.dup(1), os.dup(2)
    handler, init_error = None, None
    for line in sys.stdin:
        request = json.loads(line)
        request.setdefault("requestId", str(uuid.uuid4()))
        with tempfile.TemporaryFile() as log:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                print(f"START RequestId: {request['requestId']} Version: $LATEST", flush=True)
                started = time.monotonic()
                if handler is None and init_error is None:
                    try:
                        handler = load_handler()
                    except Exception as exc:  # an import error fails every invocation, as in Lambda
                        traceback.print_exc()
                        init_error = exc
                payload, errored = invoke(handler, init_error, request)
                sys.stdout.flush()
                sys.stderr.flush()
                duration = (time.monotonic() - started) * 1000
                print(f"END RequestId: {request['requestId']}", flush=True)
                print(f"REPORT RequestId: {request['requestId']}\tDuration: {duration:.2f} ms", flush=True)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(log_fd_out, 1)
                os.dup2(log_fd_err, 2)
            log.seek(0)
            logs = log.read().decode("utf-8", errors="replace")
        responses.write(json.dumps({"payload": payload, "errored": errored, "logs": logs}) + "\n")
        responses.flush()


if __name__ == "__main__":
    main()
