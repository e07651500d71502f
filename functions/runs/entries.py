"""The entries of a request, read from where the request says, checked one by one and written to the
run's entries file. Every problem is named with its place (entries[3].name, line 17), and a
request with any problem is refused whole: no job starts for part of a malformed request."""

import codecs
import csv
import io
import itertools
import json
from collections.abc import Iterator
from typing import Any

import ijson
from pydantic import ValidationError
from request_model import Entry, Source
from run_layout import entries_key, results_prefix, summary_key
from shared import validation_problems

MAX_ENTRY_BYTES = 32768  # one entry's JSON: it travels to its job with its batch (at most 192 KiB)
MAX_PROBLEMS_LISTED = 20


REQUEST_SHAPE = (
    'a request is a JSON object {"input": {...}} whose input gives its entries in one of entries (a list of '
    'objects, each with a name), source (an S3 object of entries: {"bucket": ..., "key": ...}) or rerunOf '
    "(an earlier run's name)"
)
JSON_KINDS = {
    "list": "a JSON array",
    "str": "a JSON string",
    "int": "a JSON number",
    "float": "a JSON number",
    "bool": "a JSON boolean",
    "NoneType": "null",
}


def request_shape_problems(request: Any) -> list[str]:
    """What makes REQUEST (the execution's input) no request at all, said with what a request is: the
    model's own words name its class ("Input should be a valid dictionary or instance of Envelope")."""
    if not isinstance(request, dict):
        return [f"the request is {JSON_KINDS.get(type(request).__name__, 'not an object')}: {REQUEST_SHAPE}"]
    if "input" not in request and request.keys() & {"entries", "source", "rerunOf"}:
        return [f"the request has no input (its entries, source or rerunOf are outside it): {REQUEST_SHAPE}"]
    if "input" in request and not isinstance(request["input"], dict):
        return [f"input is {JSON_KINDS.get(type(request['input']).__name__, 'not an object')}: {REQUEST_SHAPE}"]
    return []


class InvalidRequestError(Exception):
    """The request cannot run; `problems` says why, place by place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def from_inline(entries: list[Any]) -> Iterator[tuple[str, Any]]:
    for index, entry in enumerate(entries):
        yield f"input.entries[{index}]", entry


def from_source(s3: Any, source: Source) -> Iterator[tuple[str, Any]]:
    """(place, entry) of every entry in the object, read as it streams in (a million entries are
    never held in memory at once); a line that is not JSON yields its error."""
    place = f"s3://{source.bucket}/{source.key}"
    try:
        body = s3.get_object(Bucket=source.bucket, Key=source.key)["Body"]
    except s3.exceptions.NoSuchKey as exc:
        raise InvalidRequestError([f"{place}: no such object"]) from exc
    except s3.exceptions.ClientError as exc:
        code = exc.response["Error"]["Code"]
        raise InvalidRequestError(
            [f"{place}: cannot be read ({code}: {exc.response['Error'].get('Message', '')})"]
        ) from exc
    if source.input_format == "json":
        yield from json_array(WithoutBom(body), place)
        return
    text = io.TextIOWrapper(body, encoding="utf-8-sig", errors="strict")  # a leading BOM is no part of the data
    try:
        if source.input_format == "jsonl":
            yield from json_lines(text, place)
        else:
            yield from csv_rows(text, place)
    except UnicodeDecodeError as exc:
        raise InvalidRequestError([f"{place}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc


class WithoutBom:
    """A byte stream without its leading UTF-8 byte order mark, if it has one (no part of the data)."""

    def __init__(self, body: Any) -> None:
        self.body, self.started = body, False

    def read(self, size: int = -1) -> bytes:
        data = self.body.read(size)
        if data and not self.started:  # ijson reads 0 bytes first, to learn the stream's type
            self.started = True
            data = data.removeprefix(codecs.BOM_UTF8)
        return data


def json_array(body: WithoutBom, place: str) -> Iterator[tuple[str, Any]]:
    """The array's elements one at a time (ijson: an incremental parser, its C backend)."""
    events = ijson.parse(body, use_float=True)
    try:
        first = next(events, None)
        if first is None or first[1] != "start_array":
            kind = {"start_map": "dict", "string": "str", "number": "float", "boolean": "bool", "null": "NoneType"}
            found = kind.get(first[1], first[1]) if first else "nothing"
            raise InvalidRequestError([f"{place}: a JSON array of entries is expected, not {found}"])
        for index, entry in enumerate(ijson.items(itertools.chain([first], events), "item")):
            yield f"{place}[{index}]", entry
    except ijson.JSONError as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        reason = reason.strip().splitlines()[0].rstrip(".")  # yajl's next lines draw the text with an arrow
        if "UTF8" in reason:
            raise InvalidRequestError([f"{place}: not UTF-8 text ({reason})"]) from exc
        raise InvalidRequestError([f"{place}: not a JSON document ({reason})"]) from exc


def json_lines(text: io.TextIOWrapper, place: str) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            yield f"{place} line {number}", json.loads(line)
        except ValueError as exc:
            yield f"{place} line {number}", Unreadable(f"not JSON ({exc})")


def csv_rows(text: io.TextIOWrapper, place: str) -> Iterator[tuple[str, Any]]:
    """Each row as {column: field}, named by the line it starts on (a quoted field may span lines)."""
    rows = csv.reader(text)
    header = next(rows, None)
    if not header or "name" not in header:
        raise InvalidRequestError([f"{place}: the first row must name the columns, one of them 'name'"])
    if len(set(header)) != len(header):
        raise InvalidRequestError([f"{place}: the header row names a column twice"])
    last_line = rows.line_num
    for row in rows:
        line, last_line = last_line + 1, rows.line_num
        if not row:
            continue
        if len(row) != len(header):
            fields = f"{len(row)} field{'s' if len(row) != 1 else ''}"
            yield f"{place} line {line}", Unreadable(f"the row has {fields} where the header has {len(header)}")
            continue
        yield f"{place} line {line}", dict(zip(header, row, strict=True))


class Unreadable:
    """A line or row that could not be read as an entry, and why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def from_rerun(s3: Any, bucket: str, run_id: str) -> Iterator[tuple[str, Any]]:
    """The entries of run RUN_ID that did not succeed, in their order. The run must have ended: until
    then, entries of batches still running have no result, and would be left out."""
    try:
        s3.head_object(Bucket=bucket, Key=summary_key(run_id))
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
        raise InvalidRequestError(
            [
                f"rerunOf: run {run_id!r} has no summary ({summary_key(run_id)}): it is still running, its "
                "request was refused, or it is no run of this stack (a run that was stopped, timed out or "
                "failed gets its summary within moments of its end)"
            ]
        ) from exc
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=results_prefix(run_id))
    keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
    if not keys:
        raise InvalidRequestError(
            [f"rerunOf: run {run_id!r} has no results (is it a run of this stack, and has it ended?)"]
        )
    unsuccessful = set()
    for key in keys:
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_lines():
            result = json.loads(line)
            if result["status"] != "SUCCEEDED":
                unsuccessful.add(result["index"])
    if not unsuccessful:
        raise InvalidRequestError([f"rerunOf: every entry of run {run_id!r} succeeded: nothing to run again"])
    body = s3.get_object(Bucket=bucket, Key=entries_key(run_id))["Body"]
    for line in body.iter_lines():
        item = json.loads(line)
        if item["index"] in unsuccessful:
            yield f"run {run_id} entry {item['index']}", item["entry"]


def write_entries(entries: Iterator[tuple[str, Any]], out: Any, max_entries: int) -> int:
    """Check every entry and write it to OUT as {"index", "name", "entry"}; the number written.
    InvalidRequestError when any entry is wrong (all of them are read, to name every problem)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    count = 0
    for place, entry in entries:
        count += 1
        problem = problem_of(place, entry, seen)
        if problem:
            problems.append(problem)
            continue
        if not problems:
            line = {"index": count - 1, "name": entry["name"], "entry": entry}
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    if count == 0:
        problems.append("the request holds no entries")
    if count > max_entries:
        problems.insert(
            0, f"{count} entries, at most {max_entries} in one run (MaxEntries): split the request into several runs"
        )
    if problems:
        raise InvalidRequestError(problems)
    return count


def problem_of(place: str, entry: Any, seen: dict[str, str]) -> str | None:
    if isinstance(entry, Unreadable):
        return f"{place}: {entry.reason}"
    if not isinstance(entry, dict):
        return f"{place}: must be a JSON object, not {type(entry).__name__}"
    try:
        valid = Entry.model_validate(entry)
    except ValidationError as error:
        return "; ".join(validation_problems(error, place))
    size = len(json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_ENTRY_BYTES:
        return f"{place}: {size} bytes, at most {MAX_ENTRY_BYTES} per entry: pass an S3 key instead"
    if valid.name in seen:
        return f"{place}.name: duplicate name {valid.name!r} (also {seen[valid.name]})"
    seen[valid.name] = place
    return None
