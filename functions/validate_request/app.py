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
from request_model import MAX_ENTRY_JSON_CHARS, Entry, Envelope

MAX_PROBLEMS_LISTED = 20

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
        size = len(json.dumps(raw, separators=(",", ":")))
        if size > MAX_ENTRY_JSON_CHARS:
            limit = MAX_ENTRY_JSON_CHARS
            problems.append(f"{where}: {size} characters of JSON, at most {limit}: pass an S3 key instead")
        if entry.name in first_index_of:
            first = first_index_of[entry.name]
            problems.append(f"{where}.name: duplicate name {entry.name!r} (also input.entries[{first}])")
        first_index_of.setdefault(entry.name, index)
    return problems


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
