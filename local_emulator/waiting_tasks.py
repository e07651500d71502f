"""Real task tokens from moto's Step Functions interpreter.

Each execution waits in an `sqs:sendMessage.waitForTaskToken` state whose message hands the
token to the test; what a handler or script then sends with that token completes the execution,
so a test reads back exactly what Step Functions received.
"""

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass
class WaitingTask:
    token: str
    execution_arn: str
    ref: str = "none"  # the token's reference in a task token table, where one keeps it


class WaitingTasks:
    """With IAM (a client), the state machine's role is made, allowed to send to the queue only, as IAM
    enforcement needs; without, the machine names a role that does not exist (IAM not enforced)."""

    def __init__(
        self, sfn: Any, sqs: Any, timeout_seconds: int = 60, heartbeat_seconds: int = 30, iam: Any = None
    ) -> None:
        self.sfn, self.sqs = sfn, sqs
        suffix = uuid.uuid4().hex[:8]
        self.queue_url = sqs.create_queue(QueueName=f"tokens-{suffix}")["QueueUrl"]
        role_arn = "arn:aws:iam::123456789012:role/test"
        if iam is not None:
            role_arn = self._role(iam, f"waiting-task-{suffix}")
        definition = {
            "StartAt": "Wait for callback",
            "States": {
                "Wait for callback": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": self.queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
                    "TimeoutSeconds": timeout_seconds,
                    "HeartbeatSeconds": heartbeat_seconds,
                    "End": True,
                }
            },
        }
        self.state_machine_arn = sfn.create_state_machine(
            name=f"waiting-task-{suffix}",
            definition=json.dumps(definition),
            roleArn=role_arn,
        )["stateMachineArn"]

    def _role(self, iam: Any, name: str) -> str:
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        trust = {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
        arn = iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]})
        )["Role"]["Arn"]
        sends = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn}
        policy = json.dumps({"Version": "2012-10-17", "Statement": [sends]})
        iam.put_role_policy(RoleName=name, PolicyName="send-task-tokens", PolicyDocument=policy)
        return arn

    def start(self, deadline_seconds: float = 10) -> WaitingTask:
        execution_arn = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=uuid.uuid4().hex, input="{}"
        )["executionArn"]
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=1).get("Messages", [])
            if messages:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
                return WaitingTask(token=json.loads(messages[0]["Body"])["token"], execution_arn=execution_arn)
            time.sleep(0.02)
        raise TimeoutError("the waiting state never sent its task token")

    def outcome(self, task: WaitingTask, deadline_seconds: float = 10) -> dict[str, Any]:
        """The execution's description once it has left RUNNING."""
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            description = self.sfn.describe_execution(executionArn=task.execution_arn)
            if description["status"] != "RUNNING":
                return description
            time.sleep(0.02)
        raise TimeoutError(f"execution still RUNNING after {deadline_seconds}s")

    def is_waiting(self, task: WaitingTask) -> bool:
        return self.sfn.describe_execution(executionArn=task.execution_arn)["status"] == "RUNNING"


class ReferencedTasks(WaitingTasks):
    """Waiting tasks whose tokens are kept in a task token table, as a job finds them: `task.ref`.

    With a `plan` (the text a job reads, see functions/runs/batch_plan.py), the plan is put in the
    runs bucket and the item holds its key, as the submit function does.
    """

    def __init__(self, dynamodb: Any, table: str, *args: Any, s3: Any = None, bucket: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dynamodb, self.table = dynamodb, table
        self.s3, self.bucket = s3, bucket

    def start(self, deadline_seconds: float = 10, plan: str | bytes | None = None) -> WaitingTask:
        task = super().start(deadline_seconds)
        task.ref = f"ref-{uuid.uuid4().hex}"
        item = {"ref": {"S": task.ref}, "taskToken": {"S": task.token}, "expiresAt": {"N": "4102444800"}}
        if plan is not None:
            key = f"runs/{task.ref}/plans/000000000.txt"
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=plan.encode() if isinstance(plan, str) else plan)
            item["planKey"] = {"S": key}
        self.dynamodb.put_item(TableName=self.table, Item=item)
        return task
