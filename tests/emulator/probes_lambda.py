"""Probes of the lambda patches registered since patch_probes.py was split (see its docstring)."""

import json
import os
import re
from collections.abc import Callable
from typing import Any

from tests.emulator.patch_probes import (
    Aws,
    create_function,
    create_stack,
    function_resource,
    probe,
    stack_outputs,
    unique,
)

TMP_WRITER = """
import os, tempfile

def handler(event, context):
    path = os.path.join(tempfile.gettempdir(), event["name"])
    written, error = 0, None
    try:
        with open(path, "ab") as out:
            for _ in range(event["mb"]):
                out.write(b"x" * 1048576)
                out.flush()
                written += 1
    except OSError as exc:
        error = str(exc)
    stat, size = os.statvfs("/tmp"), os.path.getsize(path)
    if event.get("remove"):
        os.remove(path)
    return {"tempdir": tempfile.gettempdir(), "size_mb": stat.f_blocks * stat.f_frsize // 1048576,
            "written_mb": written, "error": error, "bytes": size}
"""


@probe("lambda_tmp_is_the_functions_ephemeral_storage")
def tmp_is_the_functions_own_of_its_ephemeral_storage(aws: Aws) -> bool:
    client = aws.client("lambda")
    writer, other = create_function(aws, TMP_WRITER, Timeout=60), create_function(aws, TMP_WRITER, Timeout=60)
    name = unique("probe")

    def invoke(function: str, mb: int, remove: bool = False) -> dict[str, Any]:
        event = {"name": name, "mb": mb, "remove": remove}
        return json.loads(client.invoke(FunctionName=function, Payload=json.dumps(event))["Payload"].read())

    past = invoke(writer, 513)  # 1 MiB past the default 512
    warm = invoke(writer, 0, remove=True)  # the same execution environment: its /tmp kept
    elsewhere = invoke(other, 0)  # another function's: empty
    client.update_function_configuration(FunctionName=writer, EphemeralStorage={"Size": 1024})
    configured = client.get_function_configuration(FunctionName=writer)["EphemeralStorage"]["Size"]
    larger = invoke(writer, 0)
    stack = create_stack(
        aws,
        {"Fn": function_resource(TMP_WRITER, Handler="index.handler", Timeout=60, EphemeralStorage={"Size": 2048})},
        Outputs={"Name": {"Value": {"Ref": "Fn"}}},
    )
    templated = stack_outputs(stack)["Name"]
    from_template = client.get_function_configuration(FunctionName=templated)["EphemeralStorage"]["Size"]
    return (
        past["tempdir"] == "/tmp"
        and (past["size_mb"], past["written_mb"], past["error"]) == (512, 512, "[Errno 28] No space left on device")
        and not os.path.exists(os.path.join("/tmp", name))  # the host's /tmp is untouched
        and warm["bytes"] == 512 * 1048576
        and elsewhere["bytes"] == 0
        and configured == 1024
        and larger["size_mb"] == 1024
        and from_template == 2048
        and invoke(templated, 0)["size_mb"] == 2048
    )


MEMORY_HOLDER = """
import time

def handler(event, context):
    held = b"x" * (event["mb"] * 1048576)
    if event["mb"] > 100:
        time.sleep(25)  # held until the execution environment is killed
    return len(held)
"""
KILLED = re.compile(r"RequestId: [0-9a-f-]{36} Error: Runtime exited with error: signal: killed")


@probe("lambda_memory_size_is_enforced")
def handler_past_its_memory_is_killed_and_the_next_invocation_starts_anew(aws: Aws) -> bool:
    client = aws.client("lambda")
    name = create_function(aws, MEMORY_HOLDER, MemorySize=128, Timeout=30)
    killed = client.invoke(FunctionName=name, Payload=json.dumps({"mb": 256}))
    error = json.loads(killed["Payload"].read())
    after = client.invoke(FunctionName=name, Payload=json.dumps({"mb": 16}))
    return (
        killed.get("FunctionError") == "Unhandled"
        and set(error) == {"errorType", "errorMessage"}
        and error["errorType"] == "Runtime.OutOfMemory"
        and KILLED.fullmatch(error["errorMessage"]) is not None
        and "FunctionError" not in after
        and json.loads(after["Payload"].read()) == 16 * 1048576
    )


DESCRIPTOR_OPENER = """
import os, resource

def handler(event, context):
    opened = []
    try:
        while len(opened) < 2048:
            opened.append(os.open(os.devnull, os.O_RDONLY))
        error = None
    except OSError as exc:
        error = f"[Errno {exc.errno}] {exc.strerror}"
    for fd in opened:
        os.close(fd)
    return {"limit": list(resource.getrlimit(resource.RLIMIT_NOFILE)), "opened": len(opened), "error": error}
"""


@probe("lambda_file_descriptors_are_limited")
def handler_has_1024_file_descriptors(aws: Aws) -> bool:
    name = create_function(aws, DESCRIPTOR_OPENER, Timeout=10)
    seen = json.loads(aws.client("lambda").invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    return seen["limit"] == [1024, 1024] and seen["error"] == "[Errno 24] Too many open files" and seen["opened"] < 1024


@probe("lambda_environment_is_limited_to_4_kb")
def environment_over_4_kb_is_refused(aws: Aws) -> bool:
    client = aws.client("lambda")
    fits = create_function(aws, Environment={"Variables": {"FITS": "x" * 4000}})

    def refusal(call: Callable[..., Any], **arguments: Any) -> str:
        try:
            call(**arguments)
        except client.exceptions.ClientError as error:
            return f"{error.response['Error']['Code']}: {error.response['Error']['Message']}"
        return ""

    too_large = {"Variables": {"LARGE": "x" * 4100}}
    expected = (
        "InvalidParameterValueException: Lambda was unable to configure your environment variables because the "
        "environment variables you have provided exceeded the 4KB limit. String measured: "
        + json.dumps(too_large["Variables"], separators=(",", ":"))
    )
    created = refusal(create_function, aws=aws, Environment=too_large)
    updated = refusal(client.update_function_configuration, FunctionName=fits, Environment=too_large)
    return created == expected and updated == expected
