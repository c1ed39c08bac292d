"""A tiny ECS endpoint on loopback for the console-script tests (moto cannot run awsvpc tasks).

It answers RunTask, DescribeTasks and StopTask in ECS's JSON 1.1 protocol, walking one task
through a scripted list of states; `on_running` runs when RUNNING is first reported (the
container "writes its logs" then, so the log stream appears late). Requests are recorded so
tests can check what keel sent; botocore in the keel process validated them against the model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."


def signer(authorization: str) -> tuple[str, str]:
    """(access key id, region) of a SigV4 Authorization header: Credential=KEY/DATE/REGION/SERVICE/..."""
    scope = authorization.partition("Credential=")[2].split(",")[0].split("/")
    return (scope[0], scope[2]) if len(scope) >= 3 else ("", "")


class FakeEcs:
    def __init__(self, task_arn: str, container: str, states: list[dict], on_running: Callable[[], None] = lambda: None):
        self.task_arn = task_arn
        self.container = container
        self.states = list(states)  # each: {"lastStatus": ..., "exitCode"?: ..., "stopCode"?: ...}
        self.on_running = on_running
        self.requests: list[tuple[str, dict]] = []
        # (operation, access key id, region, session token) from each request's SigV4 signature
        self.signatures: list[tuple[str, str, str, str | None]] = []
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._current = {"lastStatus": "PROVISIONING"}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeEcs:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self, operation: str) -> list[dict]:
        return [body for name, body in self.requests if name == operation]

    def _task(self) -> dict:
        state = self._current
        container = {"name": self.container, "lastStatus": state["lastStatus"]}
        if "exitCode" in state:
            container["exitCode"] = state["exitCode"]
        task = {"taskArn": self.task_arn, "lastStatus": state["lastStatus"], "containers": [container]}
        for key in ("stopCode", "stoppedReason"):
            if key in state:
                task[key] = state[key]
        return task

    def answer(self, operation: str, body: dict) -> dict:
        with self._lock:
            self.requests.append((operation, body))
            if operation == "ListTasks":
                return {"taskArns": []}  # no release running
            if operation == "RunTask":
                return {"tasks": [self._task()], "failures": []}
            if operation == "DescribeTasks":
                if self.states and self._current["lastStatus"] != "STOPPED":
                    self._current = self.states.pop(0)
                    if self._current["lastStatus"] == "RUNNING":
                        self.on_running()
                return {"tasks": [self._task()], "failures": []}
            if operation == "StopTask":
                self._current = {"lastStatus": "STOPPED", "exitCode": 143, "stopCode": "UserInitiated",
                                 "stoppedReason": body.get("reason", "")}
                self.states = []
                self.stopped.set()
                return {"task": self._task()}
        raise LookupError(operation)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                operation = self.headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)
                fake.signatures.append((operation, *signer(self.headers.get("Authorization", "")),
                                        self.headers.get("X-Amz-Security-Token")))
                try:
                    status, payload = 200, fake.answer(operation, body)
                except LookupError:
                    status, payload = 400, {"__type": "InvalidParameterException", "message": f"fake ECS: no {operation}"}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output clean
                pass

        return Handler
