"""An HTTP endpoint on 127.0.0.1 standing in for CloudFormation's pre-signed ResponseURL, for the
custom resources' unit tests."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest


class CloudFormationResponses:
    """An HTTP endpoint on 127.0.0.1 standing in for the pre-signed ResponseURL."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/response"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def responses() -> Iterator[CloudFormationResponses]:
    endpoint = CloudFormationResponses()
    yield endpoint
    endpoint.server.shutdown()
