"""The cold-start processes, run by path with `python -P` (nothing of the bench's folder on
sys.path), their stdout (the function's logs) to /dev/null, timed by the parent from spawn
to exit. Each writes its figures as JSON to RESULT, then leaves with os._exit, so neither
pays for tearing its modules down.

    python -P bench/cold.py handler EVENT.json RESULT   # PYTHONPATH: the function, the layer
    python -P bench/cold.py floor BODY.json RESULT      # PYTHONPATH: the project root

`handler`: `import app`, then one `lambda_handler` call with the event (secret read, first
POST). `floor`: what any forwarder must do on its first invocation: import requests, one
GetSecretValue signed by the bench's own signer (bench/sigv4.py), one POST of the body with
the secret's credentials. Both read the environment the parent sets (servers, secret)."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

EVENT_API = "/api/global/em/jsonv2"
AWS_SDK = ("boto3", "botocore")


class _Context:
    """The Lambda context attributes the handler and Powertools read."""

    function_name = "itom-forwarder-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:itom-forwarder-bench"
    log_group_name = "/aws/lambda/itom-forwarder-bench"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def handler(event_path: str) -> dict[str, Any]:
    started = time.perf_counter()
    import app

    imported = time.perf_counter()
    with open(event_path) as file:
        event = json.load(file)
    app.lambda_handler(event, _Context())
    done = time.perf_counter()
    return {
        "import_ms": (imported - started) * 1000,
        "work_ms": (done - started) * 1000,
        "aws_sdk": [name for name in AWS_SDK if name in sys.modules],
        "botocore_submodules": sum(1 for name in sys.modules if name.startswith("botocore.")),
        "module": sys.modules["itom_forwarder"].__file__,
    }


def floor(body_path: str) -> dict[str, Any]:
    started = time.perf_counter()
    import requests

    imported = time.perf_counter()
    from bench.sigv4 import sign

    env = os.environ
    session = requests.Session()
    endpoint = env["AWS_ENDPOINT_URL"] + "/"
    payload = json.dumps({"SecretId": env["SERVICENOW_SECRET_ID"]}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"}
    signed = sign(
        "POST",
        endpoint,
        headers,
        payload,
        service="secretsmanager",
        region=env["AWS_REGION"],
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        session_token=env.get("AWS_SESSION_TOKEN"),
    )
    answer = session.post(endpoint, data=payload, headers=signed, timeout=10)
    answer.raise_for_status()
    secret = json.loads(answer.json()["SecretString"])
    with open(body_path, "rb") as file:
        body = file.read()
    posted = session.post(
        secret["instance_url"] + EVENT_API,
        data=body,
        auth=(secret["username"], secret["password"]),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        timeout=10,
    )
    posted.raise_for_status()
    done = time.perf_counter()
    return {"import_ms": (imported - started) * 1000, "work_ms": (done - started) * 1000}


def main() -> None:
    what, source, result_path = sys.argv[1:4]
    result = handler(source) if what == "handler" else floor(source)
    with open(result_path, "w") as file:
        json.dump(result, file)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
