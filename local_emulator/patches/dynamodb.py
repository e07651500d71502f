"""DynamoDB: moto's backend was written for one thread; the emulator serves many at once, and makes
concurrent requests on one item meet as AWS documents they do.

Writes apply one at a time under one lock (`_WRITES`). A TransactWriteItems first claims its items
(table and primary key), holds them while it is in progress and releases them when it ends; while
they are held, another TransactWriteItems or a TransactGetItems on any of them is cancelled
(`TransactionConflict`) and a PutItem, UpdateItem or DeleteItem on one fails with
`TransactionConflictException`. The claims are taken outside the lock, so that transactions really
overlap: each holds its items for `LOCAL_EMULATOR_DYNAMODB_TRANSACTION_HOLD_MS` milliseconds
(default 5; 0 for none) before it applies, about the time AWS holds them between a transaction's
prepare and its commit, so that a local run with many concurrent transactions meets conflicts where
AWS would. It costs each TransactWriteItems that long and nothing else (measured: a transaction's
median went from 5.1 to 10.3-11.0 ms); with 2 clients looping on one item 15% of transactions met a
conflict without the hold, 62% with it.

Tests in the emulator's process make two transactions overlap without timing anything:

    with dynamodb.transaction_paused(table_name, {"k": {"S": "a"}}) as paused:
        # start, on a thread of its own, a TransactWriteItems that writes the item
        assert paused.wait()  # it holds its items now, and keeps them until the block ends
        # ...the requests that meet it...
    # the transaction goes on and completes

The first transaction to claim the item after the block starts pauses, once; a transaction paused
longer than PAUSE_BOUND seconds goes on regardless.
"""

import functools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from local_emulator.patches.registry import Patcher, patch

MOTO = "5.2.5"
HOLD_VARIABLE = "LOCAL_EMULATOR_DYNAMODB_TRANSACTION_HOLD_MS"
DEFAULT_HOLD_MS = 5.0
PAUSE_BOUND = 60.0
ONGOING = "Transaction is ongoing for the item"
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024

# Re-entrant: moto's transaction calls the backend's own put, update and delete.
_WRITES = threading.RLock()

# (account, region, table name, hash key, range key): DynamoType keys compare as moto's tables do
ItemKey = tuple[str, str, str, Any, Any]


def item_key(backend: Any, table_name: Any, attributes: Any) -> ItemKey | None:
    """The item that ATTRIBUTES (a key, or a whole item) name in the table, or None when they name none:
    the request's own validation then reports why."""
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        table = backend.get_table(table_name)
        hash_key = DynamoType(attributes[table.hash_key_attr])
        range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
        return (backend.account_id, backend.region_name, table.name, hash_key, range_key)
    except (DynamodbException, KeyError, TypeError, IndexError, AttributeError):
        return None


def transaction_conflict() -> Exception:
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException

    # The error shape's member is `message`, in lower case (botocore's model), as JsonRESTError writes it.
    return DynamodbException(ERROR_TYPE_PREFIX + "TransactionConflictException", ONGOING)


def cancelled(conflicts: list[bool]) -> Exception:
    """TransactionCanceledException with a reason for each item, in the request's order."""
    from moto.dynamodb.exceptions import TransactionCanceledException

    return TransactionCanceledException(
        [("TransactionConflict", ONGOING, None) if conflict else (None, None, None) for conflict in conflicts]
    )


class Claims:
    """The items held by transactions in progress, and those a single write is writing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transactions: dict[ItemKey, object] = {}
        self._writes: Counter[ItemKey] = Counter()

    def claim(self, owner: object, keys: list[ItemKey | None]) -> list[bool]:
        """Claim KEYS for OWNER, all or none: which of them another transaction holds (none claimed then)."""
        with self._lock:
            conflicts = [key is not None and key in self._transactions for key in keys]
            if not any(conflicts):
                self._transactions.update((key, owner) for key in keys if key is not None)
            return conflicts

    def release(self, owner: object, keys: list[ItemKey | None]) -> None:
        with self._lock:
            for key in keys:
                if key is not None and self._transactions.get(key) is owner:
                    del self._transactions[key]

    @contextmanager
    def writing(self, key: ItemKey | None) -> Iterator[None]:
        """A single write of KEY, refused while a transaction holds the item."""
        if key is None:
            yield
            return
        with self._lock:
            if key in self._transactions:
                raise transaction_conflict()
            self._writes[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._writes[key] -= 1
                if not self._writes[key]:
                    del self._writes[key]

    def busy(self, keys: list[ItemKey | None]) -> list[bool]:
        """Which of KEYS a transaction holds or a single write is writing."""
        with self._lock:
            return [key is not None and (key in self._transactions or key in self._writes) for key in keys]


CLAIMS = Claims()


@dataclass(eq=False)
class PausedTransaction:
    table_name: str
    key: dict[str, Any]
    claimed: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float = 10) -> bool:
        """Whether a transaction writing the item has claimed it and pauses, within TIMEOUT seconds."""
        return self.claimed.wait(timeout)


_pauses: list[PausedTransaction] = []
_pauses_lock = threading.Lock()


@contextmanager
def transaction_paused(table_name: str, key: dict[str, Any]) -> Iterator[PausedTransaction]:
    """The next TransactWriteItems that claims the item KEY of TABLE_NAME pauses, holding its items,
    until the block ends (see the module's docstring)."""
    pause = PausedTransaction(table_name, key)
    with _pauses_lock:
        _pauses.append(pause)
    try:
        yield pause
    finally:
        with _pauses_lock:
            if pause in _pauses:
                _pauses.remove(pause)
        pause.released.set()


def _pause_if_armed(backend: Any, keys: list[ItemKey | None]) -> None:
    with _pauses_lock:
        pause = next((p for p in _pauses if (key := item_key(backend, p.table_name, p.key)) and key in keys), None)
        if pause is not None:
            _pauses.remove(pause)
    if pause is not None:
        pause.claimed.set()
        pause.released.wait(PAUSE_BOUND)


def hold_seconds() -> float:
    value = os.environ.get(HOLD_VARIABLE, "")
    try:
        milliseconds = float(value) if value else DEFAULT_HOLD_MS
    except ValueError:
        milliseconds = -1
    if not 0 <= milliseconds <= 1000:
        raise RuntimeError(f"{HOLD_VARIABLE} must be a number of milliseconds from 0 to 1000, not {value!r}")
    return milliseconds / 1000


def _action_key(backend: Any, action: Any) -> ItemKey | None:
    try:
        kind, operation = next(iter(action.items()))
        return item_key(backend, operation.get("TableName"), operation.get("Item" if kind == "Put" else "Key"))
    except (AttributeError, StopIteration):
        return None


@patch(
    service="dynamodb",
    defect="writes are not atomic: two UpdateItem calls on a new item from two threads can both create it, and "
    "the second overwrites the first (the audit table lost a job's RUNNING state)",
    aws="each item's writes are atomic; concurrent updates of one item both apply",
    reference="https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html"
    "#WorkingWithItems.AtomicCounters",
    seen_in=MOTO,
)
def dynamodb_writes_are_serialised(patcher: Patcher, emulator: Any) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    # One lock for every table: stricter than AWS's per-item atomicity, and needed while moto's
    # transaction rolls back by putting back copies of whole tables (a write to another item of one
    # of them, applied meanwhile, would be lost). Writes apply in microseconds; transactions overlap
    # in their claims, taken outside the lock (dynamodb_transactions_conflict_while_in_progress).
    def serialised(write: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(write)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with _WRITES:
                return write(*args, **kwargs)

        return locked

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        patcher.replace(DynamoDBBackend, name, serialised(getattr(DynamoDBBackend, name)))


@patch(
    service="dynamodb",
    defect="a transaction is never in progress for anyone else: TransactWriteItems, TransactGetItems and single "
    "writes on the items of a transaction under way wait for it (or interleave with it) instead of failing",
    aws="while a TransactWriteItems is in progress, another TransactWriteItems or a TransactGetItems on any of its "
    "items is cancelled (TransactionCanceledException, reason TransactionConflict 'Transaction is ongoing for the "
    "item' for that item, None for the others), and a PutItem, UpdateItem or DeleteItem on one fails with "
    "TransactionConflictException; a TransactGetItems is also cancelled by a single write in progress on its items",
    reference="https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html"
    "#transaction-conflict-handling",
    seen_in=MOTO,
)
def dynamodb_transactions_conflict_while_in_progress(patcher: Patcher, emulator: Any) -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    hold = hold_seconds()
    transact = DynamoDBBackend.transact_write_items

    @functools.wraps(transact)
    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        keys = [_action_key(backend, action) for action in transact_items]
        owner = object()
        conflicts = CLAIMS.claim(owner, keys)
        if any(conflicts):
            raise cancelled(conflicts)
        try:
            _pause_if_armed(backend, keys)
            if hold:
                time.sleep(hold)
            return transact(backend, transact_items, *args, **kwargs)
        finally:
            CLAIMS.release(owner, keys)

    patcher.replace(DynamoDBBackend, "transact_write_items", transact_write_items)

    # Single writes are refused in the request's handler, not in the backend, whose put and delete
    # also serve BatchWriteItem (whose API has no such error) and moto's transaction itself.
    def single_write(handle: Callable[[Any], Any], attributes: str) -> Callable[[Any], Any]:
        @functools.wraps(handle)
        def write(handler: Any) -> Any:
            body = handler.body
            with CLAIMS.writing(item_key(handler.dynamodb_backend, body.get("TableName"), body.get(attributes))):
                return handle(handler)

        return write

    for name, attributes in (("put_item", "Item"), ("update_item", "Key"), ("delete_item", "Key")):
        patcher.replace(DynamoHandler, name, single_write(getattr(DynamoHandler, name), attributes))

    transact_get = DynamoHandler.transact_get_items

    @functools.wraps(transact_get)
    def transact_get_items(handler: Any) -> Any:
        backend = handler.dynamodb_backend
        gets = handler.body.get("TransactItems") or []
        keys = [item_key(backend, get.get("Get", {}).get("TableName"), get.get("Get", {}).get("Key")) for get in gets]
        conflicts = CLAIMS.busy(keys)
        if any(conflicts):
            raise cancelled(conflicts)
        with _WRITES:  # all the items as of one moment, as a transaction reads them
            return transact_get(handler)

    patcher.replace(DynamoHandler, "transact_get_items", transact_get_items)


def transaction_bytes(transact_items: list[dict[str, Any]]) -> int:
    """The size of what the transaction writes, as the request says it: a Put's item; an Update's key and
    values; the key of a Delete or a ConditionCheck (each attribute's name and value in bytes, as moto
    counts an item). A malformed action counts for nothing: moto's validation reports it."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    def size(kind: str, operation: dict[str, Any]) -> int:
        if kind == "Put":
            return sum(bytesize(name) + DynamoType(value).size() for name, value in operation["Item"].items())
        key = sum(bytesize(name) + DynamoType(value).size() for name, value in operation["Key"].items())
        values = (operation.get("ExpressionAttributeValues") or {}) if kind == "Update" else {}
        return key + sum(DynamoType(value).size() for value in values.values())

    total = 0
    for action in transact_items:
        with suppress(AttributeError, IndexError, KeyError, TypeError, ValueError):
            total += sum(size(kind, operation) for kind, operation in action.items())
    return total


@patch(
    service="dynamodb",
    defect="a TransactWriteItems of any aggregate size is applied (eleven 390,000-byte items, 4.3 MB, are written)",
    aws="the aggregate size of the items in a transaction cannot exceed 4 MB: a larger TransactWriteItems is refused "
    "with ValidationException, and nothing is written",
    reference="https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html",
    seen_in=MOTO,
)
def dynamodb_transactions_are_limited_to_4_mb(patcher: Patcher, emulator: Any) -> None:
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models import DynamoDBBackend

    transact = DynamoDBBackend.transact_write_items

    @functools.wraps(transact)
    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        if transaction_bytes(transact_items) > MAX_TRANSACTION_BYTES:
            # DynamoDB's words, as recorded against it by dynoxide's conformance suite (AWS documents
            # the limit, not the message).
            raise MockValidationException(
                "Collection size of items exceeded, which can also be caused by the aggregate size of the "
                "items in the transaction exceeding the 4MB limit"
            )
        return transact(backend, transact_items, *args, **kwargs)

    patcher.replace(DynamoDBBackend, "transact_write_items", transact_write_items)
