"""The results' aggregates: what a million lines leave in memory, and that it is what the report needs."""

import json
import tracemalloc
from datetime import timedelta

from run_report.results import MAX_ERRORS, OTHER_ERROR, SLOWEST, ResultsAggregate, parse_time
from tests.report.fixtures import T0, iso, lines_of, result_line


def aggregate_of(lines) -> ResultsAggregate:
    aggregate = ResultsAggregate()
    for line in lines:
        aggregate.add_line(json.dumps(line).encode())
    return aggregate


def test_counts_and_throughput_cover_every_timed_entry():
    aggregate = aggregate_of(lines_of(100, failed={5, 6}))
    flow = aggregate.throughput()

    assert aggregate.by_status == {"SUCCEEDED": 98, "FAILED": 2}
    assert flow.total == 100
    assert sum(flow.counts["FAILED"]) == 2
    assert flow.bucket_seconds == 1  # 0.7 s apart over 80 s: under 120 one-second bars
    assert all(len(counts) == len(flow.starts) for counts in flow.counts.values())


def test_a_long_run_gets_wider_buckets_and_at_most_120_of_them():
    lines = [
        result_line(i, endedAt=f"2026-12-07T{21 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z")
        for i in range(0, 7200, 7)
    ]
    flow = aggregate_of(lines).throughput()

    assert flow.bucket_seconds == 60 and len(flow.starts) <= 120
    assert flow.total == len(lines)
    assert flow.starts[0] == T0


def test_slowest_keeps_the_20_longest_longest_first():
    aggregate = aggregate_of(lines_of(500))
    slowest = aggregate.slowest()

    assert len(slowest) == SLOWEST
    assert [s.seconds for s in slowest] == sorted((s.seconds for s in slowest), reverse=True)
    assert slowest[0].seconds == 11.0 and min(s.seconds for s in slowest) == 11.0
    assert aggregate.seconds_max == 11.0 and aggregate.timed == 500


def test_failures_are_grouped_by_error_and_status_with_their_first_example():
    lines = lines_of(40, failed={3, 9, 12}, not_run={30, 31})
    lines[9] |= {"error": "Job.Terminated", "cause": "killed"}
    groups = aggregate_of(lines).failures()

    assert [(g.error, g.status, g.count) for g in groups] == [
        ("Job.SimulatedFailure", "FAILED", 2),
        ("Job.SimulatedFailure", "NOT_RUN", 2),
        ("Job.Terminated", "FAILED", 1),
    ]
    assert (groups[0].example_index, groups[0].example_name) == (3, "entry-3")
    assert groups[0].example_cause == "entry 3 asked to fail"


def test_distinct_errors_past_the_limit_are_counted_together():
    lines = [result_line(i, "FAILED", error=f"E{i}") for i in range(MAX_ERRORS + 5)]
    groups = aggregate_of(lines).failures()

    assert len(groups) == MAX_ERRORS + 1
    assert next(g for g in groups if g.error == OTHER_ERROR).count == 5


def test_merged_aggregates_equal_one_read_of_every_line():
    lines = lines_of(300, failed={1, 50, 250}, not_run={299})
    whole = aggregate_of(lines)
    merged = ResultsAggregate()
    for start in range(0, 300, 70):
        merged.merge(aggregate_of(lines[start : start + 70]))

    assert merged.by_status == whole.by_status
    assert merged.finished == whole.finished
    assert [(s.index, s.seconds) for s in merged.slowest()] == [(s.index, s.seconds) for s in whole.slowest()]
    assert [(g.error, g.status, g.count, g.example_index) for g in merged.failures()] == [
        (g.error, g.status, g.count, g.example_index) for g in whole.failures()
    ]
    assert (merged.lines, merged.timed, merged.seconds_max) == (whole.lines, whole.timed, whole.seconds_max)


def test_older_results_without_timings_and_bad_lines_are_read_without_failing():
    aggregate = aggregate_of(lines_of(10, timed=False))
    for raw in (b"", b"not json", b"[1, 2]", b'{"index": 10, "name": "x", "status": "SUCCEEDED", "seconds": "3"}'):
        aggregate.add_line(raw)

    assert aggregate.lines == 11 and aggregate.bad_lines == 2
    assert aggregate.throughput().starts == [] and aggregate.slowest() == []


def test_times_are_read_as_utc():
    assert parse_time("2026-12-07T21:03:24.123Z").isoformat() == "2026-12-07T21:03:24.123000+00:00"
    assert parse_time("2026-12-07T22:03:24+01:00").hour == 21
    assert parse_time("yesterday") is None and parse_time(None) is None


def test_a_long_run_of_many_entries_leaves_aggregates_of_some_kilobytes():
    """20,000 entries over 28 hours: at most 10,000 seconds of counts, then minutes."""

    def lines():
        for i in range(20_000):
            ended = iso(T0 + timedelta(seconds=i * 5))
            yield json.dumps(result_line(i, "FAILED" if i % 97 == 0 else "SUCCEEDED", endedAt=ended)).encode()

    tracemalloc.start()
    try:
        aggregate = ResultsAggregate()
        for line in lines():
            aggregate.add_line(line)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    flow = aggregate.throughput()

    assert aggregate.lines == 20_000 and aggregate.by_status["FAILED"] == 207
    assert peak < 3_000_000, f"{peak} bytes: the aggregates grow with the entries"
    assert aggregate.resolution == 60 and flow.bucket_seconds == 900 and flow.total == 20_000


def test_merging_a_coarser_aggregate_coarsens_the_counts():
    fine, coarse = aggregate_of(lines_of(10)), aggregate_of(lines_of(10))
    coarse.coarsen(60)
    fine.merge(coarse)

    assert fine.resolution == 60 and fine.finished == {(int(T0.timestamp()), "SUCCEEDED"): 20}
    assert fine.throughput().bucket_seconds == 60
