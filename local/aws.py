"""Local AWS: moto's server on loopback, reached over HTTP by the forwarder's own signed
requests (aws_api) and by the real boto3 clients.

`LocalAws` starts moto's ThreadedMotoServer, points `AWS_ENDPOINT_URL` at it (boto3 and
aws_api honour it natively, so production code needs no switch), and counts the API calls
it serves so tests and benchmarks can assert on work done at the server, e.g. Secrets
Manager reads. Unlike moto, it checks every request's Signature Version 4 as AWS does,
against the local secret key: a request signed wrong is refused (403
InvalidSignatureException), so every test through it proves the signatures valid.
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

REGION = "eu-west-1"
# The only credentials the server takes (moto itself accepts any); they also keep boto3
# from looking for real ones.
LOCAL_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}

CALLS_PATH = "/_local_aws/calls"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


def _wsgi_header(name: str) -> str:
    if name in ("content-type", "content-length"):
        return name.upper().replace("-", "_")
    return "HTTP_" + name.upper().replace("-", "_")


def signature_problem(environ: dict[str, Any], body: bytes) -> tuple[str, str] | None:
    """Why AWS would refuse the request's signature (its error code and message), or None.
    The signature is recomputed with botocore's signer from the method, the path, the
    headers the request names in SignedHeaders, its body and the local secret key."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    algorithm, _, fields = authorization.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return "MissingAuthenticationTokenException", "Missing Authentication Token"
    parts = {name: value for name, _, value in (part.strip().partition("=") for part in fields.split(","))}
    scope = parts.get("Credential", "").split("/")
    names = [name for name in parts.get("SignedHeaders", "").split(";") if name]
    headers = {name: environ.get(_wsgi_header(name)) for name in names}
    timestamp = headers.get("x-amz-date")
    if len(scope) != 5 or scope[4] != "aws4_request" or not timestamp or None in headers.values():
        return "IncompleteSignatureException", "Authorization header requires Credential, SignedHeaders and X-Amz-Date"
    if scope[0] != LOCAL_ENVIRONMENT["AWS_ACCESS_KEY_ID"]:
        return "UnrecognizedClientException", "The security token included in the request is invalid."
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", "/"))
    request = AWSRequest(
        method=environ["REQUEST_METHOD"],
        url=f"http://{environ.get('HTTP_HOST', '')}{path}",
        headers={name: str(value) for name, value in headers.items()},
        data=body,
    )
    request.context["timestamp"] = timestamp
    secret_key = LOCAL_ENVIRONMENT["AWS_SECRET_ACCESS_KEY"]
    signer = SigV4Auth(Credentials(scope[0], secret_key), scope[3], scope[2])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if timestamp[:8] != scope[1] or not hmac.compare_digest(expected, parts.get("Signature", "")):
        return "InvalidSignatureException", SIGNATURE_MISMATCH
    return None


def _refusal(start_response: Callable[..., Any], code: str, message: str) -> list[bytes]:
    body = json.dumps({"__type": code, "message": message}).encode()
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))]
    start_response("403 Forbidden", [*headers, ("x-amzn-ErrorType", code)])
    return [body]


class _CountingApp:
    """WSGI middleware in front of moto: counts calls by `service.Operation`, and refuses
    what is not signed right, as AWS would."""

    def __init__(self, app: WsgiApp, calls: Counter[str], lock: threading.Lock) -> None:
        self._app = app
        self._calls = calls
        self._lock = lock
        self._dynamodb_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == CALLS_PATH:
            # Not AWS: the counts, for a benchmark that runs this server in its own process.
            with self._lock:
                body = json.dumps(dict(self._calls)).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        target = environ.get("HTTP_X_AMZ_TARGET", "")  # JSON protocol: "secretsmanager.GetSecretValue"
        operation = target.rsplit(".", 1)[-1] if target else ""
        service = ""
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if "Credential=" in auth:  # SigV4 scope: key/date/region/SERVICE/aws4_request
            scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
            service = scope[3] if len(scope) > 3 else ""
        if operation:
            with self._lock:
                self._calls[f"{service}.{operation}"] += 1
        if not environ.get("PATH_INFO", "").startswith("/moto-api"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            problem = signature_problem(environ, body)
            if problem:
                return _refusal(start_response, *problem)
        if service == "dynamodb":
            # moto's DynamoDB is not thread-safe: a transaction deep-copies every table, and
            # a client's retry arriving meanwhile (its first attempt timed out on a slow
            # moto) changed them under it ("dictionary changed size during iteration").
            # DynamoDB itself serialises what touches one item; here, one request at a time.
            with self._dynamodb_lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


class _RecordingMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose WSGI app is wrapped by the counter."""

    def __init__(self, port: int, calls: Counter[str], lock: threading.Lock) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self._calls = calls
        self._lock = lock

    def _server_entry(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = _CountingApp(DomainDispatcherApplication(create_backend_app), self._calls, self._lock)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


class LocalAws:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}  # by service, for this server's port
        self._clients_lock = threading.Lock()
        self._server = _RecordingMotoServer(self.port, self._calls, self._lock)
        self._saved_environment: dict[str, str | None] = {}

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        return {**LOCAL_ENVIRONMENT, "AWS_ENDPOINT_URL": self.endpoint_url}

    def start(self) -> LocalAws:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log is noise here
        self._server.start()
        for key, value in self.environment().items():
            self._saved_environment[key] = os.environ.get(key)
            os.environ[key] = value
        return self

    def stop(self) -> None:
        self._server.stop()
        for key, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # What the server was asked, e.g. calls("secretsmanager.GetSecretValue").
    def calls(self, operation: str) -> int:
        with self._lock:
            return self._calls[operation]

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def client(self, service: str) -> Any:
        """A boto3 client of `service` on this server, one per service: building one loads
        botocore's service model from JSON (~0.2 s), which every test's stack would pay."""
        with self._clients_lock:
            if service not in self._clients:
                session = boto3.session.Session(
                    aws_access_key_id=LOCAL_ENVIRONMENT["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=LOCAL_ENVIRONMENT["AWS_SECRET_ACCESS_KEY"],
                    aws_session_token=LOCAL_ENVIRONMENT["AWS_SESSION_TOKEN"],
                    region_name=REGION,
                )
                self._clients[service] = session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]
            return self._clients[service]

    def create_secret(self, name: str, value: dict[str, object]) -> str:
        response = self.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(value))
        arn: str = response["ARN"]
        return arn

    def put_secret(self, name: str, value: dict[str, object]) -> None:
        self.client("secretsmanager").put_secret_value(SecretId=name, SecretString=json.dumps(value))

    def create_queue(self, name: str) -> str:
        url: str = self.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        return url

    def create_alert_state_table(self, name: str) -> str:
        """The ordering guard's table, as template.yaml declares it (key message_key, TTL
        on expires_at, on demand)."""
        dynamodb = self.client("dynamodb")
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "message_key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "message_key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
        return name

    def alert_state(self, table: str) -> dict[str, dict[str, Any]]:
        """The guard's items by message key, as plain values (numbers as int)."""
        dynamodb = self.client("dynamodb")
        items: dict[str, dict[str, Any]] = {}
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                plain = {name: int(value["N"]) if "N" in value else value.get("S") for name, value in item.items()}
                items[str(plain["message_key"])] = plain
        return items

    def receive_all(self, queue_url: str) -> list[dict[str, Any]]:
        """Receive and delete every message in the queue, with its attributes."""
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while batch := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            messages.extend(batch)
            for message in batch:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return messages


def main() -> None:
    """`python -m local.aws --port N`: moto's server with call counting, until stopped."""
    import argparse
    import contextlib
    import signal
    import threading

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalAws(port=args.port) as aws:
        print(aws.endpoint_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
