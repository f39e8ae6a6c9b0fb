"""The emulator and moto's server, each in its own process, as a deployed function would
meet them across a network: the benchmark measures the forwarder, not a shared GIL.

moto's server also holds the ordering guard's alert-state table (as template.yaml declares
it): `environment(guard=True)` names it in ALERT_STATE_TABLE, as deployed by default;
without it the guard is off."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3
import requests

from local.aws import CALLS_PATH, LOCAL_ENVIRONMENT, REGION, LocalAws
from local.emulator import STATS_PATH
from local.keys import make_key_pair

ROOT = Path(__file__).resolve().parent.parent
USER = "bench.user"
CLIENT_ID = "bench-client"
KEY_ID = "bench-kid"
ALERT_STATE_TABLE = "bench-alert-state"


def _start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(  # noqa: S603 - our own modules
        [sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        process.kill()
        raise RuntimeError(f"{args[1]} did not start")
    return process, url


class _RemoteAws(LocalAws):
    """LocalAws's helpers (its table, as template.yaml declares it, and its one kept client
    per service) against the moto server in the other process (never started here)."""

    def __init__(self, url: str) -> None:
        super().__init__(port=int(url.rsplit(":", 1)[1]))


class Servers:
    """`with Servers() as servers:` the environment of a deployed function is set."""

    def __init__(self) -> None:
        self.password = secrets.token_urlsafe(16)
        self.client_secret = secrets.token_urlsafe(16)
        self.keys = make_key_pair(bits=2048)
        self._tmp = tempfile.TemporaryDirectory()
        self._processes: list[subprocess.Popen[str]] = []
        self.stats_session = requests.Session()
        self.emulator_url = self.aws_url = ""
        self.basic_secret = self.oauth_secret = self.queue_url = ""

    def __enter__(self) -> Servers:
        cert = Path(self._tmp.name) / "cert.pem"
        cert.write_text(self.keys.certificate_pem)
        emulator, self.emulator_url = _start(
            ["-m", "local.emulator", "--port", "0", "--user", f"{USER}:{self.password}",
             "--oauth-client", f"{CLIENT_ID}:{self.client_secret}:{KEY_ID}:{cert}", "--oauth-user-field", "user_name"]
        )  # fmt: skip
        aws, self.aws_url = _start(["-m", "local.aws", "--port", "0"])
        self._processes += [emulator, aws]
        self.aws = _RemoteAws(self.aws_url)
        self.aws.create_alert_state_table(ALERT_STATE_TABLE)
        os.environ.update({**LOCAL_ENVIRONMENT, "AWS_ENDPOINT_URL": self.aws_url})
        sm = boto3.client("secretsmanager", region_name=REGION)
        base = {"instance_url": self.emulator_url}
        self.basic_secret = sm.create_secret(
            Name="bench/basic", SecretString=_json({**base, "username": USER, "password": self.password})
        )["Name"]
        self.oauth_secret = sm.create_secret(
            Name="bench/oauth",
            SecretString=_json(
                {
                    **base,
                    "use_oauth": True,
                    "client_id": CLIENT_ID,
                    "client_secret": self.client_secret,
                    "jwt_key_id": KEY_ID,
                    "user_identifier": USER,
                    "private_key": self.keys.private_key_pem,
                }
            ),
        )["Name"]
        self.queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="bench-dlq")["QueueUrl"]
        self.stats()  # opens the stats connection now, so it is not counted later
        return self

    def __exit__(self, *_: object) -> None:
        for process in self._processes:
            process.terminate()
            process.wait(timeout=10)
        self._tmp.cleanup()

    def empty_alert_state_table(self) -> None:
        """The table as new (dropped and created again). moto copies the whole table for
        each item of a TransactWriteItems, so a transaction's time grows with the items the
        table holds: measurements of batches start from an empty table, like a quiet one."""
        self.aws.client("dynamodb").delete_table(TableName=ALERT_STATE_TABLE)
        self.aws.create_alert_state_table(ALERT_STATE_TABLE)

    def environment(self, *, oauth: bool = False, guard: bool = False) -> dict[str, str]:
        """A deployed function's environment; `guard`: the ordering guard on (the template's
        default), off without it."""
        return {
            **({"ALERT_STATE_TABLE": ALERT_STATE_TABLE} if guard else {}),
            **LOCAL_ENVIRONMENT,
            "AWS_ENDPOINT_URL": self.aws_url,
            "SERVICENOW_SECRET_ID": self.oauth_secret if oauth else self.basic_secret,
            "DLQ_URL": self.queue_url,
            "POWERTOOLS_SERVICE_NAME": "itom-forwarder",
            "POWERTOOLS_METRICS_NAMESPACE": "ItomForwarderBench",
            "AWS_LAMBDA_FUNCTION_NAME": "itom-forwarder-bench",
        }

    def stats(self) -> dict[str, Any]:
        """Counters at the servers: the emulator's and moto's API calls."""
        emulator = self.stats_session.get(self.emulator_url + STATS_PATH, timeout=10).json()
        aws = self.stats_session.get(self.aws_url + CALLS_PATH, timeout=10).json()
        return {
            **emulator,
            "secret_reads": aws.get("secretsmanager.GetSecretValue", 0),
            "dynamodb_requests": sum(count for call, count in aws.items() if call.startswith("dynamodb.")),
            "update_items": aws.get("dynamodb.UpdateItem", 0),
            "transactions": aws.get("dynamodb.TransactWriteItems", 0),
        }


def _json(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value)
