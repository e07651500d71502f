"""Sessions of IAM roles, as AWS hands them to what runs with a role: a function's execution role (Lambda
puts the session's keys in the function's environment), a job's role (ECS serves them to the container:
container_credentials.py) and a state machine's role (Step Functions signs its service integrations with
them: patches/role_credentials.py).

A session is assumed in process (`sts_backends[...].assume_role`, which the emulator's IAM enforcement
knows at once), kept, and assumed again once less than `renew_seconds` of it remain: an expired session
is refused (ExpiredTokenException) as on AWS.
"""

import datetime
import threading
from dataclasses import dataclass
from typing import Any

SESSION_SECONDS = 12 * 3600  # the longest session a role allows (MaxSessionDuration)
RENEW_SECONDS = 3600  # a session is replaced once less than this remains (a function runs 15 minutes at most)


@dataclass(frozen=True)
class RoleCredentials:
    role_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime.datetime  # UTC, naive as moto keeps it

    def environment(self) -> dict[str, str]:
        """The variables Lambda sets in a function's environment."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def container_document(self) -> dict[str, str]:
        """What ECS's credentials endpoint answers a container (the SDKs refresh before Expiration)."""
        return {
            "RoleArn": self.role_arn,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.session_token,
            "Expiration": self.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def assume(role_arn: str, session_name: str, region: str, seconds: int = SESSION_SECONDS) -> RoleCredentials:
    """A new session of ROLE_ARN named SESSION_NAME (sts:AssumeRole as the service that runs the code)."""
    return _assumed(role_arn, session_name, region, seconds)[0]


def _assumed(role_arn: str, session_name: str, region: str, seconds: int) -> tuple[RoleCredentials, list[Any]]:
    from moto.sts.models import sts_backends
    from moto.utilities.utils import get_partition

    backend = sts_backends[role_arn.split(":")[4]][get_partition(region)]
    session = backend.assume_role(
        region_name=region,
        role_session_name=_session_name(session_name),
        role_arn=role_arn,
        policy=None,
        duration=seconds,
        external_id=None,
    )
    credentials = RoleCredentials(
        role_arn, session.access_key_id, session.secret_access_key, session.session_token, session.expiration
    )
    return credentials, backend.assumed_roles


def _session_name(name: str) -> str:
    """NAME as a role session name may be: 2 to 64 of [A-Za-z0-9+=,.@_-]."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "+=,.@_-") else "-" for c in name)[:64]
    return cleaned if len(cleaned) >= 2 else f"{cleaned}--"


class RoleSessions:
    """One session per (role, session name), kept until it nears its end (or moto's state is reset)."""

    def __init__(self, region: str, seconds: int = SESSION_SECONDS, renew_seconds: int = RENEW_SECONDS) -> None:
        self.region, self.seconds, self.renew_seconds = region, seconds, renew_seconds
        self.lock = threading.Lock()
        self.sessions: dict[tuple[str, str], tuple[RoleCredentials, list[Any]]] = {}

    def of(self, role_arn: str, session_name: str) -> RoleCredentials:
        from moto.core.utils import utcnow
        from moto.sts.models import sts_backends
        from moto.utilities.utils import get_partition

        with self.lock:
            found = self.sessions.get((role_arn, session_name))
            if found is not None:
                credentials, sessions = found
                remaining = credentials.expiration - utcnow()
                backend = sts_backends[role_arn.split(":")[4]][get_partition(self.region)]
                # A reset of moto's state makes a new list of sessions: the kept one is gone with it.
                if backend.assumed_roles is sessions and remaining.total_seconds() > self.renew_seconds:
                    return credentials
            found = self.sessions[(role_arn, session_name)] = _assumed(
                role_arn, session_name, self.region, self.seconds
            )
            return found[0]
