"""The audit table as template.yaml defines it, created in moto for the handlers' unit tests."""

from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from tests.support.template import sam_template


def create_audit_table(name: str) -> str:
    properties = sam_template()["Resources"]["AuditTable"]["Properties"]
    boto3.client("dynamodb").create_table(
        TableName=name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode=properties["BillingMode"],
    )
    return name


def audit_item(table: str, run_id: str, entry_index: int) -> dict[str, Any] | None:
    item = (
        boto3.client("dynamodb")
        .get_item(TableName=table, Key={"runId": {"S": run_id}, "entryIndex": {"N": str(entry_index)}})
        .get("Item")
    )
    plain = TypeDeserializer()
    return {key: plain.deserialize(value) for key, value in item.items()} if item else None
