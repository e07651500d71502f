"""DynamoDB: moto's backend was written for one thread; the emulator serves many at once."""

import functools
import threading
from collections.abc import Callable
from typing import Any

from local_emulator.patches.registry import Patcher, patch


@patch(
    service="dynamodb",
    defect="writes are not atomic: two UpdateItem calls on a new item from two threads can both create it, and "
    "the second overwrites the first (the audit table lost a job's RUNNING state)",
    aws="each item's writes are atomic; concurrent updates of one item both apply",
    reference="https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html"
    "#WorkingWithItems.AtomicCounters",
    seen_in="5.2.5",
)
def dynamodb_writes_are_serialised(patcher: Patcher, emulator: Any) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    # One lock for every table: serialising all writes is stricter than AWS's per-item atomicity
    # and costs nothing at a local run's rates. Re-entrant: a transaction calls the others.
    lock = threading.RLock()

    def serialised(write: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(write)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return write(*args, **kwargs)

        return locked

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        patcher.replace(DynamoDBBackend, name, serialised(getattr(DynamoDBBackend, name)))
