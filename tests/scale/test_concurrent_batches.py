"""At scale through the emulator, with what AWS enforces that only shows at scale: 100 batches at
once, their accounts meeting in DynamoDB, whose transactions conflict as on AWS (the emulator holds
each transaction's items while it is in progress). Every entry must be accounted exactly once and no
batch may fail by contention. Run by `make test-scale` (minutes, not part of `make test`)."""

import json
from collections import Counter

from tests.emulator.stacks import deployed, sleep_command

ENTRIES, BATCH_SIZE, CONCURRENCY = 10_000, 100, 100


def test_ten_thousand_entries_at_a_hundred_batches_at_once_are_each_accounted_once(emulator):
    stack = deployed(
        emulator,
        "concurrent",
        {
            "EntryCommand": sleep_command(0),
            "ArrayJobSize": "0",
            "NestedWaitSeconds": "0",
            "Patterns": "lean",
            "MapMaxConcurrency": str(CONCURRENCY),
            "MaxVcpus": str(CONCURRENCY // 4),  # 0.25 vCPU a job: room for every batch's job at once
            "RequestBucket": "scale-requests",  # the Prepare function may read the request there
        },
    )
    s3 = stack.client("s3")
    s3.create_bucket(Bucket="scale-requests")
    body = "".join(json.dumps({"name": f"entry-{i:05d}"}) + "\n" for i in range(ENTRIES))
    s3.put_object(Bucket="scale-requests", Key="requests/10000.jsonl", Body=body.encode())

    result = stack.run(
        {"input": {"source": {"bucket": "scale-requests", "key": "requests/10000.jsonl"}, "batchSize": BATCH_SIZE}},
        timeout=1800,
    )

    assert result.status == "SUCCEEDED", (result.error, result.cause[:500])
    assert [e.index for e in result.entries] == list(range(ENTRIES)), "every entry exactly once"
    assert Counter(e.status for e in result.entries) == {"SUCCEEDED": ENTRIES}
    assert (result.report["succeeded"], result.report["failed"], result.report["notRun"]) == (ENTRIES, 0, 0)
    batches = stack.batches(result.execution_arn)
    assert len(batches) == ENTRIES // BATCH_SIZE and {b["status"] for b in batches} == {"SUCCEEDED"}
    [summary, *items] = stack.audit(result.execution_arn)
    assert (summary["succeeded"], summary["failed"], summary["status"]) == (ENTRIES, 0, "SUCCEEDED")
    assert sum(i["succeeded"] for i in items) == ENTRIES and all("accountedAt" in i for i in items)
