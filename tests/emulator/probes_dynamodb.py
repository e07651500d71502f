"""Probes of the dynamodb patches registered since patch_probes.py was split (see its docstring)."""

import threading
from collections.abc import Callable
from typing import Any

from tests.emulator.patch_probes import Aws, keyed_table, probe, until

ONGOING = "Transaction is ongoing for the item"


def refusal(client: Any, call: Callable[[], Any]) -> tuple[str, str, Any] | None:
    """How CALL's request failed (error code, message, cancellation reasons), or None when it succeeded."""
    try:
        call()
    except client.exceptions.ClientError as error:
        return (
            error.response["Error"]["Code"],
            error.response["Error"]["Message"],
            error.response.get("CancellationReasons"),
        )
    return None


@probe("dynamodb_transactions_conflict_while_in_progress")
def a_transaction_in_progress_holds_its_items(aws: Aws) -> bool:
    from local_emulator.patches.dynamodb import transaction_paused

    dynamodb = aws.client("dynamodb")
    table = keyed_table(aws, "claims")
    held, other, free = ({"k": {"S": name}} for name in ("held", "other", "free"))
    dynamodb.put_item(TableName=table, Item={**held, "v": {"S": "before"}})

    def update(key: dict[str, Any], value: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": {"S": value}},
            }
        }

    def value_of(key: dict[str, Any]) -> str | None:
        return dynamodb.get_item(TableName=table, Key=key).get("Item", {}).get("v", {}).get("S")

    cancelled = (
        "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]"
    )
    reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": ONGOING}]
    outcome: dict[str, Any] = {}
    # The first transaction pauses inside the server once it holds its item, until the block ends;
    # stock moto knows no pause, and the transaction just completes.
    with transaction_paused(table, held) as paused:
        first = threading.Thread(
            target=lambda: outcome.update(
                first=refusal(dynamodb, lambda: dynamodb.transact_write_items(TransactItems=[update(held, "first")]))
            )
        )
        first.start()
        until(lambda: paused.claimed.is_set() or not first.is_alive(), 10)
        if not paused.claimed.is_set():
            return False
        second = refusal(
            dynamodb,
            lambda: dynamodb.transact_write_items(
                TransactItems=[{"Put": {"TableName": table, "Item": other}}, update(held, "second")]
            ),
        )
        singles = [
            refusal(dynamodb, lambda: dynamodb.put_item(TableName=table, Item={**held, "v": {"S": "put"}})),
            refusal(
                dynamodb,
                lambda: dynamodb.update_item(
                    TableName=table,
                    Key=held,
                    UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"S": "updated"}},
                ),
            ),
            refusal(dynamodb, lambda: dynamodb.delete_item(TableName=table, Key=held)),
        ]
        read = refusal(
            dynamodb,
            lambda: dynamodb.transact_get_items(
                TransactItems=[{"Get": {"TableName": table, "Key": key}} for key in (other, held)]
            ),
        )
        cancelled_put_landed = "Item" in dynamodb.get_item(TableName=table, Key=other)
        # Other items stay free meanwhile, and a plain read sees the item as it was.
        elsewhere = [
            refusal(dynamodb, lambda: dynamodb.transact_write_items(TransactItems=[update(free, "x")])),
            refusal(dynamodb, lambda: dynamodb.put_item(TableName=table, Item=other)),
        ]
        read_meanwhile = value_of(held)
    first.join(timeout=10)
    after = refusal(dynamodb, lambda: dynamodb.transact_write_items(TransactItems=[update(held, "after")]))
    return (
        second == ("TransactionCanceledException", cancelled, reasons)
        and singles == [("TransactionConflictException", ONGOING, None)] * 3
        and read == ("TransactionCanceledException", cancelled, reasons)
        and not cancelled_put_landed
        and elsewhere == [None, None]
        and read_meanwhile == "before"
        and outcome == {"first": None}
        and after is None
        and value_of(held) == "after"
    )


@probe("dynamodb_transactions_are_limited_to_4_mb")
def a_transaction_over_4_mb_is_refused(aws: Aws) -> bool:
    dynamodb = aws.client("dynamodb")
    table = keyed_table(aws, "large")

    def puts(prefix: str, count: int) -> list[dict[str, Any]]:
        return [
            {"Put": {"TableName": table, "Item": {"k": {"S": f"{prefix}{i}"}, "data": {"S": "x" * 390_000}}}}
            for i in range(count)
        ]

    fits = refusal(dynamodb, lambda: dynamodb.transact_write_items(TransactItems=puts("fits", 10)))  # 3.9 MB
    over = refusal(dynamodb, lambda: dynamodb.transact_write_items(TransactItems=puts("over", 11)))  # 4.3 MB
    pages = dynamodb.get_paginator("scan").paginate(TableName=table, Select="COUNT")  # 1 MB a page
    written = sum(page["Count"] for page in pages)
    return (
        fits is None
        and over is not None
        and over[0] == "ValidationException"
        and "aggregate size of the items in the transaction exceeding the 4MB limit" in over[1]
        and written == 10
    )
