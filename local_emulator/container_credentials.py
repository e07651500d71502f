"""The credentials endpoint of local jobs, as ECS serves a task's role to its containers.

On Fargate a job's container finds `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` in its environment, and the
SDKs and the AWS CLI fetch `{AccessKeyId, SecretAccessKey, Token, Expiration, RoleArn}` of a session of
the job definition's `jobRoleArn` from the ECS agent (169.254.170.2), again before each Expiration.
Locally the endpoint listens on 127.0.0.1 and each attempt of a job gets its own unguessable path in
`AWS_CONTAINER_CREDENTIALS_FULL_URI` (botocore accepts a full URI on a loopback address); the session
is assumed again once it nears its end, so that a job running for hours keeps working credentials.
"""

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local_emulator.role_sessions import RoleSessions

FULL_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
# ECS's task credentials are valid for about six hours and refreshed before they expire.
SESSION_SECONDS = 6 * 3600
RENEW_SECONDS = 30 * 60  # more than botocore's refresh margin (15 minutes): a refresh gets a new session


class ContainerCredentials:
    """The endpoint, started on the first `register`; `stop` ends it."""

    def __init__(self, region: str, seconds: int = SESSION_SECONDS, renew_seconds: int = RENEW_SECONDS) -> None:
        self.sessions = RoleSessions(region, seconds, renew_seconds)
        self.lock = threading.Lock()
        self.paths: dict[str, tuple[str, str]] = {}  # path -> (role ARN, session name)
        self.server: ThreadingHTTPServer | None = None

    def register(self, role_arn: str, session_name: str) -> dict[str, str]:
        """The variables that give a container the credentials of ROLE_ARN, in a session SESSION_NAME."""
        path = f"/v2/credentials/{secrets.token_urlsafe(24)}"
        with self.lock:
            if self.server is None:
                self.server = _server(self)
            self.paths[path] = (role_arn, session_name)
            port = self.server.server_address[1]
        return {FULL_URI: f"http://127.0.0.1:{port}{path}"}

    def unregister(self, variables: dict[str, str]) -> None:
        uri = variables.get(FULL_URI, "")
        with self.lock:
            self.paths.pop(uri[uri.find("/v2/") :] if "/v2/" in uri else uri, None)

    def document(self, path: str) -> dict[str, str] | None:
        with self.lock:
            found = self.paths.get(path)
        return None if found is None else self.sessions.of(*found).container_document()

    def stop(self) -> None:
        with self.lock:
            server, self.server = self.server, None
            self.paths.clear()
        if server is not None:
            server.shutdown()
            server.server_close()


def _server(credentials: ContainerCredentials) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            document = credentials.document(self.path)
            body = json.dumps(document or {"message": "Credentials not found"}).encode()
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="container-credentials", daemon=True).start()
    return server
