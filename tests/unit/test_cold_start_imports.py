"""A cold start pays only for the path it runs: importing the handler loads none of the
modules that only OAuth, API Gateway, buffered mode or replay need."""

from __future__ import annotations

import json
import subprocess
import sys

from local.runner import CODE_PATHS
from tests.samples import ROOT

PATH_ONLY_MODULES = [
    "jwt",
    "cryptography",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.parameters",
    "boto3",
    "itom_forwarder.triggers.api",
    "itom_forwarder.triggers.sqs_batch",
    "itom_forwarder.triggers.check",
    "itom_forwarder.triggers.redrive",
    "itom_forwarder.servicenow.oauth",
]


def test_importing_the_handler_loads_no_path_specific_module() -> None:
    code = f"import sys, json, app; print(json.dumps([m for m in {PATH_ONLY_MODULES!r} if m in sys.modules]))"
    env = {"PYTHONPATH": ":".join(str(path) for path in CODE_PATHS), "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout) == []
