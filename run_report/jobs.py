"""DescribeJobs for any number of jobs: 100 ids a call (Batch's limit), at most REQUESTS_PER_SECOND
calls a second (Batch admits 50; other readers share the quota), retried with backoff when throttled."""

import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

IDS_PER_CALL = 100
REQUESTS_PER_SECOND = 40
ATTEMPTS = 8
THROTTLED = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded"})


def describe_jobs(
    batch: Any, job_ids: list[str], sleep: Callable[[float], None] = time.sleep
) -> dict[str, dict[str, Any]]:
    """jobId -> DescribeJobs' description, for those of JOB_IDS that Batch still describes."""
    unique = list(dict.fromkeys(job_ids))
    found: dict[str, dict[str, Any]] = {}
    last_call = 0.0
    for start in range(0, len(unique), IDS_PER_CALL):
        wait = last_call + 1 / REQUESTS_PER_SECOND - time.monotonic()
        if wait > 0:
            sleep(wait)
        last_call = time.monotonic()
        response = call_with_backoff(partial(batch.describe_jobs, jobs=unique[start : start + IDS_PER_CALL]), sleep)
        found.update((job["jobId"], job) for job in response["jobs"])
    return found


def call_with_backoff(call: Callable[[], dict[str, Any]], sleep: Callable[[float], None]) -> dict[str, Any]:
    for attempt in range(ATTEMPTS):
        try:
            return call()
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in THROTTLED or attempt == ATTEMPTS - 1:
                raise
            sleep(min(0.2 * 2**attempt, 10) * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")
