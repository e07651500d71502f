"""Validates the orchestrator's request before any child starts.

Every problem is named (entries[3].name: Field required; entries[5]: duplicate name ...), so
that the execution fails at once with a cause that says exactly what to fix.
"""

import json
import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import ValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext
from request_model import MAX_ENTRY_OVERRIDE_CHARS, Entry, Envelope

MAX_PROBLEMS_LISTED = 20
# The run's account (the parent's Map result and Report output) must fit in a state: 262,144 bytes,
# less what else the state holds. Every entry is counted as failed with the longest error name
# Step Functions allows (256 characters, up to 4 bytes each), so no mix of failures can exceed it.
ACCOUNT_LIMIT_BYTES = 262144 - 2048
MAX_ERROR_BYTES = 256 * 4

logger = Logger()
tracer = Tracer()


def describe(error: ValidationError, prefix: str) -> list[str]:
    return [f"{prefix}{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]


def problems_of(event: Any, max_entries: int) -> list[str]:
    try:
        envelope = Envelope.model_validate(event)
    except ValidationError as error:
        return describe(error, "")
    entries = envelope.input.entries
    problems = []
    if len(entries) > max_entries:
        problems.append(f"input.entries: {len(entries)} entries, at most {max_entries} in one run (MaxEntries)")
    first_index_of: dict[str, int] = {}
    for index, raw in enumerate(entries):
        where = f"input.entries[{index}]"
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be a JSON object, not {type(raw).__name__}")
            continue
        try:
            entry = Entry.model_validate(raw)
        except ValidationError as error:
            problems.extend(describe(error, f"{where}."))
            continue
        size = override_characters(raw)
        if size > MAX_ENTRY_OVERRIDE_CHARS:
            limit = MAX_ENTRY_OVERRIDE_CHARS
            problems.append(
                f"{where}: {size} characters in Batch's container overrides (its JSON, escaped), at most {limit}: "
                "pass an S3 key instead"
            )
        if entry.name in first_index_of:
            first = first_index_of[entry.name]
            problems.append(f"{where}.name: duplicate name {entry.name!r} (also input.entries[{first}])")
        first_index_of.setdefault(entry.name, index)
    if not problems:
        size = worst_account_bytes(entries)
        if size > ACCOUNT_LIMIT_BYTES:
            problems.append(
                f"input.entries: the run's account of {len(entries)} entries could reach {size} bytes (every entry "
                f"failed, with the longest error name), more than the {ACCOUNT_LIMIT_BYTES} a state may hold: send "
                "fewer entries, or shorter names"
            )
    return problems


def override_characters(entry: dict[str, Any]) -> int:
    """The characters an entry takes in Batch's container overrides: its JSON, escaped as a string."""
    return len(json.dumps(json.dumps(entry, separators=(",", ":")), ensure_ascii=False)) - 2


def worst_account_bytes(entries: list[dict[str, Any]]) -> int:
    """The bytes of the parent's account of ENTRIES if every one of them failed (see the Entry failed
    state): each entry's fields, its name as JSON, the child's ARN and the longest error name."""
    arn = len(os.environ["CHILD_EXECUTION_ARN_PREFIX"]) + len(":9999-") + 36
    fields = '{"index":9999,"name":,"status":"FAILED","childExecutionArn":"","error":"","jobId":"","attempts":10},'
    per_entry = len(fields) + arn + 36 + MAX_ERROR_BYTES
    names = sum(len(json.dumps(entry["name"], ensure_ascii=False).encode()) for entry in entries)
    return len(entries) * per_entry + names


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    problems = problems_of(event, int(os.environ["MAX_ENTRIES"]))
    if not problems:
        total = len(event["input"]["entries"])
        tolerated = total * int(os.environ["TOLERATED_FAILURE_PERCENTAGE"]) // 100
        logger.info("request accepted", extra={"entries": total, "tolerated_failures": tolerated})
        return {"valid": True, "total": total, "toleratedFailures": tolerated}
    listed = "; ".join(problems[:MAX_PROBLEMS_LISTED])
    more = len(problems) - MAX_PROBLEMS_LISTED
    cause = f"{len(problems)} problem(s): {listed}" + (f"; and {more} more" if more > 0 else "")
    logger.warning("request rejected", extra={"problems": len(problems)})
    return {"valid": False, "error": "InvalidRequest", "cause": cause}
