"""python -m local_emulator {run,serve,invoke}: the application on this machine, offline, without Docker.

Standard output carries each command's result (run: its progress and table of entries; serve: the
stack's outputs; invoke: the function's result alone, for `| jq`); the deploy's lines and a
function's log go to standard error."""

import argparse
import base64
import hashlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local_emulator.deploy import (
    ARTIFACT_BUCKET,
    DeployError,
    Stack,
    deploy,
    parse_overrides,
    read_template,
    zip_folder,
)
from local_emulator.patches import iam_enforcement
from local_emulator.patches.stepfunctions import DEFAULT_TASK_TOKEN_LENGTH, MAX_TASK_TOKEN_LENGTH
from local_emulator.run_record import write_record
from local_emulator.runner import OrchestratorRun, print_table
from local_emulator.server import DEFAULT_PORT, ENVIRONMENT, REGION, Emulator, free_port

ROOT = Path(__file__).resolve().parents[1]
# What `serve` deployed, in its emulator's artifact bucket: `invoke` uses that stack when it is made
# of the same template, code and parameters, instead of deploying one of its own.
SERVED_STACK_KEY = "served-stack.json"
# A look for a `serve` must not wait: nothing there is the usual case.
LOOK_FOR_SERVE = Config(connect_timeout=1, read_timeout=5, retries={"total_max_attempts": 1})
# An invocation is never sent twice (a retry would run the handler again), and may last the 900 s
# Lambda allows.
INVOKE_ONCE = Config(read_timeout=960, retries={"total_max_attempts": 1})


def port(text: str) -> int:
    """A TCP port the emulator can listen on and tell its clients: 0 (any free port) is not one."""
    number = int(text)
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port from 1 to 65535")
    return number


def command_line() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local_emulator", description=__doc__)
    parser.add_argument(
        "--template", type=Path, default=ROOT / "template.yaml", help="SAM template (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=port,
        help=f"port on 127.0.0.1: serve listens on it (default {DEFAULT_PORT}); run listens on it if given, "
        f"else on a free port; invoke uses the stack of a serve on it (default {DEFAULT_PORT}) when that "
        "stack is made of the same template, code and parameters, else deploys into an emulator of its own "
        "on a free port",
    )
    parser.add_argument(
        "--task-token-length",
        type=int,
        default=DEFAULT_TASK_TOKEN_LENGTH,
        help=f"characters of each task token, as AWS's run to hundreds (default: %(default)s; at most "
        f"{MAX_TASK_TOKEN_LENGTH}, the API's bound)",
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="template parameter override (repeatable)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="deploy, run the orchestrator with PAYLOAD, report every entry")
    run.add_argument(
        "payload", type=Path, help="orchestrator input, e.g. test-inputs/orchestrator-step-function-payload.json"
    )
    run.add_argument(
        "--record-dir", type=Path, default=ROOT / ".local-runs", help="where run records go (default: %(default)s)"
    )
    run.add_argument(
        "--timeout", type=float, default=3600, help="stop the run after this many seconds (default: %(default)s)"
    )
    run.add_argument(
        "--inputs", type=Path, help="a folder whose files are put under inputs/ of the runs bucket first (the demo's)"
    )

    commands.add_parser("serve", help="deploy and keep the stack running for the AWS CLI (Ctrl-C stops)")

    invoke = commands.add_parser(
        "invoke", help="invoke one function, as `sam local invoke` does: its result on stdout, its log on stderr"
    )
    invoke.add_argument("function", help="logical id (BatchSubmitFunction) or function name")
    invoke.add_argument("--event", type=Path, required=True, help="event JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = command_line().parse_args(argv)
    try:
        overrides = parse_overrides(args.param)
        # The input first: a file that is missing or not JSON is refused before a deploy of seconds.
        args.document = read_json(args.payload if args.command == "run" else getattr(args, "event", None))
        if args.command in ("serve", "invoke"):
            args.fingerprint = stack_fingerprint(args.template, overrides, args.task_token_length)
        if args.command == "invoke":
            served = served_stack(args)
            if served is not None:
                return command_invoke(args, *served, logs_of=tail_of_log)
        with Emulator(listening_port(args), task_token_length=args.task_token_length) as emulator:
            stack = deploy_into(emulator, args, overrides)
            return {"run": command_run, "serve": command_serve, "invoke": invoke_in}[args.command](
                args, emulator, stack
            )
    except (DeployError, RuntimeError, FileNotFoundError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def read_json(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RuntimeError(f"{path} is not JSON: {error}") from None


def listening_port(args: argparse.Namespace) -> int:
    """serve's port is known to its users (default 4599); run and invoke need none that is known, and a
    serve holding 4599 must not stop them."""
    if args.command == "serve":
        return args.port or DEFAULT_PORT
    if args.command == "run" and args.port:
        return args.port
    return free_port()


def deploy_into(emulator: Emulator, args: argparse.Namespace, overrides: dict[str, str]) -> Stack:
    say(f"Deploying {args.template.name} into the emulator at {emulator.endpoint_url} ...")
    started = time.monotonic()
    stack = deploy(emulator.endpoint_url, args.template, overrides)
    say(f"Stack {stack.name} created in {time.monotonic() - started:.1f} s")
    return stack


def say(line: str) -> None:
    """A line about the command's progress: standard error, so that standard output is its result."""
    print(line, file=sys.stderr, flush=True)


def local_client(service: str, endpoint_url: str, config: Config | None = None) -> Any:
    """A client of an emulator: its endpoint, region and credentials, whatever the environment says."""
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ENVIRONMENT["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ENVIRONMENT["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )


# -- what a stack is made of, and a serve's stack of the same -------------------------------------
def stack_fingerprint(template: Path, overrides: dict[str, str], task_token_length: int) -> str:
    """A digest of everything a deploy reads: the template, samconfig.toml, the overrides, every code
    folder and definition file the template names, and the emulator's settings."""
    samconfig = template.with_name("samconfig.toml")
    settings = {"overrides": overrides, "tokens": task_token_length, "iam": iam_enforcement.requested()}
    parts = [
        template.read_bytes(),
        samconfig.read_bytes() if samconfig.is_file() else b"",
        json.dumps(settings, sort_keys=True).encode(),
        *(zip_folder(path) if path.is_dir() else path.read_bytes() for path in packaged_paths(template)),
    ]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def packaged_paths(template: Path) -> list[Path]:
    """The code folders and definition files a deploy packages (deploy.package's)."""
    paths = set()
    for resource in read_template(template.read_text())["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "DefinitionUri"):
            if isinstance(properties.get(key), str):
                paths.add(template.parent / properties[key])
    return sorted(paths)


def served_stack(args: argparse.Namespace) -> tuple[str, str] | None:
    """(endpoint, stack name) of the stack a `serve` on --port (default 4599) deployed from the same
    template, code and parameters; None when no serve is there or its stack differs (said why)."""
    endpoint_url = f"http://127.0.0.1:{args.port or DEFAULT_PORT}"
    s3 = local_client("s3", endpoint_url, LOOK_FOR_SERVE)
    try:
        served = json.loads(s3.get_object(Bucket=ARTIFACT_BUCKET, Key=SERVED_STACK_KEY)["Body"].read())
    except (BotoCoreError, ClientError, ValueError):  # no serve there, or no emulator at all
        say(f"No serve at {endpoint_url} to use: deploying a stack of its own (a serve saves it)")
        return None
    if served.get("fingerprint") != args.fingerprint:
        say(f"The serve at {endpoint_url} runs another template, code or parameters: not used")
        return None
    say(f"Using the stack {served['stackName']} served at {endpoint_url} (same template, code and parameters)")
    return endpoint_url, served["stackName"]


def publish_served_stack(endpoint_url: str, stack: Stack, fingerprint: str) -> None:
    body = json.dumps({"stackName": stack.name, "fingerprint": fingerprint}).encode()
    local_client("s3", endpoint_url).put_object(Bucket=ARTIFACT_BUCKET, Key=SERVED_STACK_KEY, Body=body)


# -- the commands -----------------------------------------------------------------------------------
def command_run(args: argparse.Namespace, emulator: Emulator, stack: Stack) -> int:
    runner = OrchestratorRun(emulator.endpoint_url, stack)
    if args.inputs is not None:
        upload_inputs(runner, args.inputs)
    started = time.monotonic()
    execution_arn = runner.start(args.document)
    print(f"Started run {execution_arn.rsplit(':', 1)[-1]} with {args.payload}", flush=True)
    description = runner.wait(execution_arn, args.timeout)
    result = runner.result(description, time.monotonic() - started)
    print()
    print_table(result)
    cost = (result.report or {}).get("cost") or {}
    if isinstance(cost.get("total"), int | float):
        parts = sorted(cost.get("parts", {}).items(), key=lambda part: -part[1])
        shown = ", ".join(f"{name} ${value:.4f}" for name, value in parts)
        region = cost.get("prices", {}).get("region", "us-east-1")
        print(f"Cost on AWS at {region} list prices: ${cost['total']:.4f} ({shown})")
    folder = args.record_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{execution_arn.rsplit(':', 1)[-1]}"
    write_record(runner, result, folder, emulator.lambdas.journal)
    print(f"Record of the run (results, executions with their histories, job records and logs): {folder}")
    if (folder / "report.html").is_file():
        print(f"Report (timeline, throughput, failures, slowest entries, cost): {folder / 'report.html'}")
    return 0 if result.succeeded else 1


def upload_inputs(runner: OrchestratorRun, folder: Path) -> None:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        runner.s3.put_object(
            Bucket=runner.bucket, Key=f"inputs/{path.relative_to(folder).as_posix()}", Body=path.read_bytes()
        )
    print(f"Put {len(files)} files of {folder} under s3://{runner.bucket}/inputs/", flush=True)


def command_serve(args: argparse.Namespace, emulator: Emulator, stack: Stack) -> int:
    publish_served_stack(emulator.endpoint_url, stack, args.fingerprint)
    stack.print_outputs()
    print(
        f"""
The stack runs at {emulator.endpoint_url} until Ctrl-C. In another shell:

  export AWS_ENDPOINT_URL={emulator.endpoint_url} AWS_DEFAULT_REGION={REGION} \\
         AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  aws stepfunctions start-execution --state-machine-arn {stack.outputs["OrchestratorStateMachineArn"]} \\
      --input file://test-inputs/orchestrator-step-function-payload.json

`python -m local_emulator invoke` uses this stack while its template, code and parameters are these.
""",
        flush=True,
    )
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    print("stopping")
    return 0


def invoke_in(args: argparse.Namespace, emulator: Emulator, stack: Stack) -> int:
    """invoke in an emulator of its own: the whole log, from its journal."""
    return command_invoke(
        args, emulator.endpoint_url, stack.name, logs_of=lambda _: emulator.lambdas.journal.invocations[-1].logs
    )


def tail_of_log(response: dict[str, Any]) -> str:
    """The log's last 4 KB, as Lambda returns it (LogType Tail): all a served stack's caller gets."""
    return base64.b64decode(response.get("LogResult", "")).decode(errors="replace")


def command_invoke(
    args: argparse.Namespace, endpoint_url: str, stack_name: str, logs_of: Callable[[dict[str, Any]], str]
) -> int:
    names = function_names(endpoint_url, stack_name)
    function = names.get(args.function, args.function)
    if function not in names.values():
        print(f"error: no function {args.function!r}; the stack has {', '.join(sorted(names))}", file=sys.stderr)
        return 2
    response = local_client("lambda", endpoint_url, INVOKE_ONCE).invoke(
        FunctionName=function, Payload=args.event.read_bytes(), LogType="Tail"
    )
    sys.stderr.write(logs_of(response))
    sys.stderr.flush()
    print(response["Payload"].read().decode(), flush=True)
    return 1 if response.get("FunctionError") else 0


def function_names(endpoint_url: str, stack_name: str) -> dict[str, str]:
    """Each function of the stack: its name by its logical id."""
    resources = local_client("cloudformation", endpoint_url).describe_stack_resources(StackName=stack_name)
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in resources["StackResources"]
        if r.get("ResourceType") == "AWS::Lambda::Function"
    }
