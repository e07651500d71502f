"""DynamoDB tables as template.yaml defines them, created in moto for the handlers' unit tests."""

from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from tests.support.clients import client
from tests.support.template import sam_template


def create_table_like(logical_id: str, name: str, dynamodb: Any = None) -> str:
    """A table named NAME with the keys of the template's table LOGICAL_ID (through DYNAMODB, or a
    default client)."""
    properties = sam_template()["Resources"][logical_id]["Properties"]
    (dynamodb or client("dynamodb")).create_table(
        TableName=name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode=properties["BillingMode"],
    )
    return name


def create_audit_table(name: str) -> str:
    return create_table_like("AuditTable", name)


def plain(item: dict[str, Any]) -> dict[str, Any]:
    deserialize = TypeDeserializer().deserialize
    return {key: deserialize(value) for key, value in item.items()}


def audit_item(table: str, run_id: str, entry_index: int) -> dict[str, Any] | None:
    item = (
        client("dynamodb")
        .get_item(TableName=table, Key={"runId": {"S": run_id}, "entryIndex": {"N": str(entry_index)}})
        .get("Item")
    )
    return plain(item) if item else None


def pop_usage(item: dict[str, Any]) -> dict[str, int]:
    """The usage the functions added to ITEM (functions/runs/usage.py), taken out of it."""
    from tests.support.handlers import load_handler
    from tests.support.paths import FUNCTIONS

    names = load_handler(FUNCTIONS / "runs", "usage").ATTRIBUTES
    return {name: int(item.pop(name)) for name in names if name in item}
