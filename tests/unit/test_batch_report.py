"""The job's report of its batch, read back (functions/runs/batch_report.py): its records, split by
the lengths their headers give, and each entry's result as the Account function writes it."""

import json

import pytest

from tests.support.handlers import load_handler
from tests.support.job_reports import STARTED_MS, Record, record_bytes, report_body
from tests.support.paths import FUNCTIONS

batch_report = load_handler(FUNCTIONS / "runs", "batch_report")
OUTPUTS = "s3://runs/runs/run-1/outputs/"


def read(body: bytes) -> list:
    return list(batch_report.records(body))


# ------------------------------------------------------------------ records


def test_each_record_is_read_by_its_lengths_whatever_its_bytes_hold():
    # An output and a stderr that hold line breaks, spaces and what looks like a header: only the
    # lengths in the header say where a record ends.
    hostile = b'{"text":"a\\nb"}\n'
    stderr = b"line one\nentry 9 0 0 1 0 0 0 0 0\n\xff\xfe not UTF-8"
    written = [
        Record(0, output=hostile, files=2),
        Record(1, status=3, attempts=2, started_ms=STARTED_MS + 7, ended_ms=STARTED_MS + 2007, stderr=stderr),
        Record(2, status=143, timed_out=True),
        Record(7),
    ]

    read_back = read(report_body(written))

    assert read_back == [
        batch_report.EntryRecord(0, 0, False, 1, STARTED_MS, STARTED_MS + 1500, hostile, b"", 2),
        batch_report.EntryRecord(1, 3, False, 2, STARTED_MS + 7, STARTED_MS + 2007, b"", stderr, 0),
        batch_report.EntryRecord(2, 143, True, 1, STARTED_MS, STARTED_MS + 1500, b"", b"", 0),
        batch_report.EntryRecord(7, 0, False, 1, STARTED_MS, STARTED_MS + 1500, b"", b"", 0),
    ]


def test_the_helpers_record_is_the_jobs_format():
    """tests/support/job_reports.py writes what the job script's printf and cat write."""
    record = Record(4, status=1, attempts=3, output=b"{}", stderr=b"x" * 5000, files=12)

    assert record_bytes(record) == (
        f"entry 4 1 0 3 {STARTED_MS} {STARTED_MS + 1500} 2 4096 12\n".encode() + b"{}" + b"x" * 4096
    )


def test_an_empty_report_has_no_record():
    assert read(b"") == []


def test_a_cut_record_is_an_error():
    body = report_body([Record(0), Record(1, output=b'{"a":1}', stderr=b"oops")])

    with pytest.raises(batch_report.ReportError, match=r"^the record of entry 1 is cut short$"):
        read(body[:-1])


def test_a_header_without_its_end_of_line_is_an_error():
    body = report_body([Record(0)])
    cut = body + b"entry 1 0 0 1"

    with pytest.raises(batch_report.ReportError, match=rf"^the record at byte {len(body)} has no end of line$"):
        read(cut)


@pytest.mark.parametrize(
    "header",
    [
        b"entry 0 0 0 1 1 2 0 0\n",  # 8 numbers: the count of output files missing
        b"entry 0 0 0 1 1 2 0 0 0 0\n",  # 10 numbers
        b"entree 0 0 0 1 1 2 0 0 0\n",
        b"entry 0 -1 0 1 1 2 0 0 0\n",  # no sign: the job writes whole numbers
        b"entry 0 x 0 1 1 2 0 0 0\n",
        b"entry 0  0 1 1 2 0 0 0\n",  # an empty field
        b"entry 0 0 0 1 1 2 0 0 0 \n",
        b"\n",
    ],
)
def test_a_header_that_is_not_entry_and_nine_numbers_is_an_error(header):
    good = report_body([Record(0)])

    with pytest.raises(batch_report.ReportError, match=rf"^the record at byte {len(good)} is not 'entry' and 9"):
        read(good + header)


def test_records_before_a_malformed_one_are_read():
    """records() yields as it reads: the error comes where the report goes wrong."""
    records = batch_report.records(report_body([Record(0)]) + b"garbage\n")

    assert next(records).index == 0
    with pytest.raises(batch_report.ReportError):
        next(records)


# ------------------------------------------------------------------ results


def result_of(record: Record | None) -> tuple:
    parsed = None if record is None else read(record_bytes(record))[0]
    return batch_report.result(parsed, OUTPUTS)


TIMES = {
    "attempts": 1,
    "seconds": 1.5,
    "startedAt": "2026-05-28T20:26:40.000Z",
    "endedAt": "2026-05-28T20:26:41.500Z",
}


def test_an_entry_that_exited_0_succeeded_with_its_times_and_output():
    record = Record(3, attempts=2, started_ms=STARTED_MS + 1, ended_ms=STARTED_MS + 61_235, output=b'{"n":[1,2]}')

    assert result_of(record) == (
        "SUCCEEDED",
        "",
        "",
        {
            "attempts": 2,
            "seconds": 61.234,
            "startedAt": "2026-05-28T20:26:40.001Z",
            "endedAt": "2026-05-28T20:27:41.235Z",
            "output": {"n": [1, 2]},
        },
    )


def test_an_entry_without_output_succeeded_with_its_times_only():
    assert result_of(Record(0)) == ("SUCCEEDED", "", "", TIMES)


def test_an_entry_that_left_files_is_given_its_output_folder():
    assert result_of(Record(5, files=1000)) == ("SUCCEEDED", "", "", TIMES | {"outputs": f"{OUTPUTS}5/"})


def test_an_entry_that_left_too_many_files_failed_and_is_given_none():
    status, error, cause, fields = result_of(Record(5, files=1001, output=b"{}"))

    assert (status, error) == ("FAILED", "Entry.TooManyOutputs")
    assert cause == "it left 1001 files in its output folder; at most 1000, none kept"
    assert fields == TIMES, "no outputs folder, no output"


def test_a_failed_entry_is_told_by_its_stderr():
    status, error, cause, fields = result_of(Record(0, status=2, attempts=3, stderr=b"no such key\n"))

    assert (status, error, cause) == ("FAILED", "Entry.Failed", "no such key\n")
    assert fields == TIMES | {"attempts": 3}


def test_a_failed_entry_that_said_nothing_is_told_by_its_exit_status():
    assert result_of(Record(0, status=127))[1:3] == ("Entry.Failed", "the command exited with status 127")


def test_stderr_that_is_not_utf8_is_told_with_replacement_characters():
    # The job keeps the last 4 KiB of stderr: it may start inside a character.
    stderr = "é".encode()[1:] + b"bad byte \xff then " + "✓".encode()

    status, error, cause, _ = result_of(Record(0, status=1, stderr=stderr))

    assert (status, error, cause) == ("FAILED", "Entry.Failed", "\ufffdbad byte \ufffd then ✓")
    json.dumps(cause, ensure_ascii=False).encode()  # a result line can hold it


def test_an_entry_stopped_at_its_timeout_failed_whatever_it_exited_with():
    for status in (143, 0):
        record = Record(0, status=status, timed_out=True, attempts=2, stderr=b"still working")
        assert result_of(record)[:3] == (
            "FAILED",
            "Entry.Timeout",
            "stopped at its timeout (attempt 2); still working",
        )


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        (b"not json", "Expecting value: line 1 column 1 (char 0)"),
        (b'{"a":1} trailing', "Extra data"),
        (b'{"a":"\xff"}', "'utf-8' codec can't decode byte 0xff"),
    ],
)
def test_an_output_that_is_not_json_fails_the_entry(output, reason):
    status, error, cause, fields = result_of(Record(0, output=output))

    assert (status, error) == ("FAILED", "Entry.InvalidOutput")
    assert cause.startswith("its output document is not JSON: ") and reason in cause
    assert "output" not in fields


@pytest.mark.parametrize("output", [b"NaN", b'{"ratio": Infinity}'])
def test_an_output_of_javascript_numbers_is_not_json(output):
    assert result_of(Record(0, output=output))[1] == "Entry.InvalidOutput"


def test_an_output_past_16_kib_fails_the_entry_and_one_of_16_kib_is_kept():
    fits = b'"' + b"x" * (16 * 1024 - 2) + b'"'
    too_large = b'"' + b"x" * (16 * 1024 - 1) + b'"'

    assert result_of(Record(0, output=fits))[3]["output"] == "x" * (16 * 1024 - 2)
    status, error, cause, fields = result_of(Record(0, output=too_large))
    assert (status, error) == ("FAILED", "Entry.OutputTooLarge")
    assert cause == "its output document has 16385 bytes; at most 16384 are kept"
    assert "output" not in fields


def test_an_entry_the_report_does_not_hold_was_not_reported():
    assert result_of(None) == ("FAILED", "Entry.NotReported", "the job's report has no record of this entry", {})


def test_a_timeout_keeps_the_end_of_its_stderr_within_the_cause():
    status, error, cause, _ = result_of(Record(0, status=143, timed_out=True, stderr=b"x" * 5000 + b"the last words"))
    assert (status, error) == ("FAILED", "Entry.Timeout")
    assert cause.startswith("stopped at its timeout (attempt 1); ") and cause.endswith("the last words")
    assert len(cause) <= 4096
