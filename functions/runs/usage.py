"""What one invocation of a function uses, for its run's cost (run_cost.py): its time and memory,
and the S3 and DynamoDB requests its clients make (every client shared.client makes is metered).

The handler names the audit item it works for (its batch's, or its run's summary item); at its
end, one UpdateItem adds its usage there, and the run's end sums the items. Lambda bills the
billed duration of its REPORT log line, and a cold start's init, which no function can read: the
handler's own time, from its start to that write, stands for the first, and the age of the
process at its first invocation (the runtime's start, the imports) for the second.
"""

import functools
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(child=True)

# S3 prices PUT, COPY, POST and LIST requests alike; GET and every other request at a tenth of that.
S3_PUT_LIST = frozenset(
    {
        "PutObject",
        "CopyObject",
        "ListObjects",
        "ListObjectsV2",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "ListMultipartUploads",
        "ListParts",
    }
)
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan"})
# The usage an audit item accumulates, by attribute (summed by run_cost.usage_of).
ATTRIBUTES = (
    "lambdaRequests",
    "lambdaMbMs",
    "s3PutList",
    "s3Get",
    "dynamodbWrites",
    "dynamodbReads",
    "transitions",
)


def request_units(service: str, operation: str, params: dict[str, Any]) -> dict[str, int]:
    """What a request is billed as. DynamoDB: a unit per item written or read (items of the
    application are under 1 KB), two in a transaction."""
    if service == "s3":
        return {"s3PutList": 1} if operation in S3_PUT_LIST else {"s3Get": 1}
    if service != "dynamodb":
        return {}
    if operation in DYNAMODB_WRITES:
        return {"dynamodbWrites": 1}
    if operation in DYNAMODB_READS:
        return {"dynamodbReads": 1}
    if operation == "TransactWriteItems":
        return {"dynamodbWrites": 2 * len(params.get("TransactItems", []))}
    if operation == "BatchWriteItem":
        return {"dynamodbWrites": sum(len(v) for v in params.get("RequestItems", {}).values())}
    return {}


def process_age_ms() -> int:
    """How long this process has run (on Lambda: since its execution environment's init began)."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22, after "pid (name)"
            up_seconds = float(uptime.read().split()[0])
        return max(0, round((up_seconds - started_ticks / os.sysconf("SC_CLK_TCK")) * 1000))
    except (OSError, ValueError, IndexError):
        return 0


class Meter:
    """The current invocation's usage (a Lambda environment runs one invocation at a time)."""

    def __init__(self) -> None:
        self.invocations = 0
        self.begin(None)

    def begin(self, context: Any) -> None:
        self.started = time.monotonic()
        # A cold start's init is billed with its first invocation.
        self.init_ms = process_age_ms() if context is not None and self.invocations == 0 else 0
        self.invocations += context is not None
        self.memory_mb = int(getattr(context, "memory_limit_in_mb", 0) or 0)
        self.counts: Counter[str] = Counter()
        self.item: tuple[str, int] | None = None

    def count(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        """botocore's before-parameter-build event: once per API call, whatever its retries."""
        self.counts.update(request_units(model.service_model.service_name, model.name, params))

    def charge_to(self, run_id: str, index: int) -> None:
        """The audit item (a batch's first entry, or -1 for the run) this invocation works for."""
        self.item = (run_id, index)

    def so_far(self) -> Counter[str]:
        """This invocation's usage until now, itself counted as one request."""
        elapsed_ms = max(1, round((time.monotonic() - self.started) * 1000)) + self.init_ms
        return self.counts + Counter({"lambdaRequests": 1, "lambdaMbMs": elapsed_ms * self.memory_mb})

    def record(self, dynamodb: Any) -> None:
        """Add the usage to the item charged, if any; a failure is logged, never raised."""
        if self.item is None or "AUDIT_TABLE" not in os.environ:
            return
        run_id, index = self.item
        self.counts["dynamodbWrites"] += 1  # this write
        usage = {name: value for name, value in self.so_far().items() if value}
        try:
            dynamodb.update_item(
                TableName=os.environ["AUDIT_TABLE"],
                Key={"runId": {"S": run_id}, "entryIndex": {"N": str(index)}},
                UpdateExpression="ADD " + ", ".join(f"{name} :{name}" for name in usage),
                ExpressionAttributeValues={f":{name}": {"N": str(value)} for name, value in usage.items()},
            )
        except Exception as exc:  # the cost is an account of the work, never a reason to fail it
            logger.warning("usage not recorded", extra={"run_id": run_id, "item": index, "reason": str(exc)})
        finally:
            self.item = None


METER = Meter()


def metered(dynamodb: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A handler whose usage is added, at its end, to the audit item it charged (METER.charge_to)."""

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            METER.begin(context)
            try:
                return handler(event, context)
            finally:
                METER.record(dynamodb)

        return wrapper

    return decorate
