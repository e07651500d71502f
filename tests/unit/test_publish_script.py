"""The custom resource that publishes the batch script on deploy and empties the bucket on delete."""

from typing import Any

import pytest

from tests.support.clients import client
from tests.support.handlers import load_handler
from tests.support.paths import BATCH_SCRIPT, BATCH_SCRIPT_DIR


@pytest.fixture
def bucket(aws: None) -> str:
    s3 = client("s3")
    s3.create_bucket(Bucket="scripts")
    s3.put_bucket_versioning(Bucket="scripts", VersioningConfiguration={"Status": "Enabled"})
    return "scripts"


@pytest.fixture
def publisher(aws: None) -> Any:
    return load_handler(BATCH_SCRIPT_DIR, "publish_script")


def request(kind: str, url: str, key: str = BATCH_SCRIPT.name, old_key: str | None = None) -> dict[str, Any]:
    event = {
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1",
        "RequestId": "r1",
        "LogicalResourceId": "BatchScript",
        "ResourceProperties": {"ServiceToken": "arn", "Bucket": "scripts", "Key": key},
    }
    if old_key:
        event["OldResourceProperties"] = {"ServiceToken": "arn", "Bucket": "scripts", "Key": old_key}
    return event


def test_create_publishes_the_script_byte_for_byte(publisher, bucket, responses):
    publisher.handler(request("Create", responses.url), None)

    body = client("s3").get_object(Bucket=bucket, Key=BATCH_SCRIPT.name)["Body"].read()
    assert body == BATCH_SCRIPT.read_bytes()
    [answer] = responses.received
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == bucket
    assert answer["Data"]["ScriptUri"] == f"s3://{bucket}/{BATCH_SCRIPT.name}"


def test_update_to_another_key_moves_the_script(publisher, bucket, responses, tmp_path, monkeypatch):
    publisher.handler(request("Create", responses.url), None)
    other = tmp_path / "other.sh"
    other.write_text("#!/bin/sh\necho other\n")
    monkeypatch.setattr(publisher, "SCRIPT_DIR", tmp_path)

    publisher.handler(request("Update", responses.url, key="other.sh", old_key=BATCH_SCRIPT.name), None)

    keys = [o["Key"] for o in client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["other.sh"]
    assert [r["Status"] for r in responses.received] == ["SUCCESS", "SUCCESS"]


def test_delete_empties_every_version_so_the_bucket_can_go(publisher, bucket, responses):
    s3 = client("s3")
    publisher.handler(request("Create", responses.url), None)
    publisher.handler(request("Update", responses.url), None)  # a second version
    s3.delete_object(Bucket=bucket, Key=BATCH_SCRIPT.name)  # and a delete marker

    publisher.handler(request("Delete", responses.url), None)

    listing = s3.list_object_versions(Bucket=bucket)
    assert listing.get("Versions", []) == [] and listing.get("DeleteMarkers", []) == []
    s3.delete_bucket(Bucket=bucket)
    assert responses.received[-1]["Status"] == "SUCCESS"


@pytest.mark.parametrize("key", ["missing.sh", "../template.yaml"])
def test_unknown_script_fails_the_deploy_with_a_reason(publisher, bucket, responses, key):
    publisher.handler(request("Create", responses.url, key=key), None)

    [answer] = responses.received
    assert answer["Status"] == "FAILED"
    assert "is not a script of batch-script/" in answer["Reason"]


def test_delete_succeeds_when_the_bucket_is_already_gone(publisher, responses):
    publisher.handler(request("Delete", responses.url), None)  # no bucket was ever created

    [answer] = responses.received
    assert answer["Status"] == "SUCCESS"
