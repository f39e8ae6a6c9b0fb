"""A Lambda context object as `sam local invoke` passes one, for local runs and tests."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

FUNCTION_NAME = "itom-forwarder-local"


@dataclass
class LocalLambdaContext:
    timeout_seconds: float = 30.0
    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:eu-west-1:123456789012:function:{FUNCTION_NAME}"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))
