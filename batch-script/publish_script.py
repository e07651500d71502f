"""CloudFormation custom resource that publishes the batch script into the script bucket.

This folder is the function's code, so the script ships inside it. Create/Update put the
script at the requested key; Delete empties the bucket (every object version), so that
`sam delete` can remove the bucket without a manual `aws s3 rm`.

It uses only the runtime's boto3 and the standard library: a custom resource that fails to
import blocks every deploy and delete of the stack, so it carries no dependencies.
"""

import json
import logging
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)
s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "total_max_attempts": 5}))
SCRIPT_DIR = Path(__file__).resolve().parent


def publish(bucket: str, key: str) -> dict[str, str]:
    script = SCRIPT_DIR / key
    if script.parent != SCRIPT_DIR or not script.is_file():
        raise FileNotFoundError(f"{key} is not a script of batch-script/")
    response = s3.put_object(Bucket=bucket, Key=key, Body=script.read_bytes(), ContentType="text/x-shellscript")
    logger.info("published s3://%s/%s version %s", bucket, key, response.get("VersionId"))
    return {"ScriptUri": f"s3://{bucket}/{key}", "VersionId": response.get("VersionId") or ""}


def empty_bucket(bucket: str) -> None:
    paginator = s3.get_paginator("list_object_versions")
    try:
        for page in paginator.paginate(Bucket=bucket):
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if doomed:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucket":
            raise
        logger.info("bucket %s is already gone: nothing to empty", bucket)  # a Delete must not fail then
        return
    logger.info("emptied bucket %s", bucket)


def handle(event: dict[str, Any]) -> dict[str, str]:
    props = event["ResourceProperties"]
    bucket, key = props["Bucket"], props["Key"]
    if event["RequestType"] == "Delete":
        empty_bucket(bucket)
        return {}
    data = publish(bucket, key)
    old = event.get("OldResourceProperties") or {}
    if event["RequestType"] == "Update" and old.get("Bucket") == bucket and old.get("Key") not in (None, key):
        s3.delete_object(Bucket=bucket, Key=old["Key"])
    return data


def respond(event: dict[str, Any], status: str, data: dict[str, str], reason: str) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            # The bucket is the resource: a changed key updates it in place, so the Delete that
            # CloudFormation sends for a replaced resource never empties a bucket still in use.
            "PhysicalResourceId": event["ResourceProperties"].get("Bucket") or event["LogicalResourceId"],
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data,
        }
    ).encode()
    # The pre-signed URL comes from CloudFormation itself.
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        logger.info("CloudFormation answered %s", response.status)


def handler(event: dict[str, Any], context: Any) -> None:
    logger.info("%s %s", event.get("RequestType"), event.get("LogicalResourceId"))
    try:
        data = handle(event)
    except Exception as exc:  # any failure must reach CloudFormation, or the stack waits an hour
        logger.exception("custom resource failed")
        respond(event, "FAILED", {}, f"{type(exc).__name__}: {exc}")
        return
    respond(event, "SUCCESS", data, "ok")
