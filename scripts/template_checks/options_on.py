"""A copy of a template whose parameter defaults switch every option on.

`sam validate` takes no parameter overrides: linting this copy catches anything that only
shows once those branches are the ones taken by default, and gives checkov (which follows the
defaults, e.g. it leaves out BufferQueue in direct mode) every resource and statement. DEFAULTS
are template.yaml's options, MEMBER_DEFAULTS those of templates/member-account.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
INGEST_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:itom-forwarder/webhooks-AbCdEf"
ORGANIZATION_ID = "o-a1b2c3d4e5"

# The AWS service event sources off by default (ForwardHealthEvents is on already), in both
# templates: (default, default in the copy).
FORWARD_TOGGLES: dict[str, tuple[str, str]] = dict.fromkeys(
    (
        "ForwardGuardDutyFindings",
        "ForwardSecurityHubFindings",
        "ForwardConfigComplianceChanges",
        "ForwardDevOpsGuruInsights",
    ),
    ('"false"', '"true"'),
)

# parameter: (default in template.yaml, default in the copy)
DEFAULTS: dict[str, tuple[str, str]] = {
    "DeliveryMode": ("direct", "buffered"),
    "EnableTracing": ('"false"', '"true"'),
    "QueueKmsKeyArn": ('""', KMS_KEY),
    "SecretKmsKeyArn": ('""', KMS_KEY),
    "AlarmTopicKmsKeyArn": ('""', KMS_KEY),
    "OperationsTopicArn": ('""', "arn:aws:sns:eu-west-1:123456789012:operations"),
    "ReservedConcurrency": ("0", "10"),
    "ApiQuotaLimit": ("0", "100000"),
    "IngestSecretArn": ('""', INGEST_ARN),
    "OrganizationId": ('""', ORGANIZATION_ID),
    **FORWARD_TOGGLES,
}

# parameter: (default in templates/member-account.yaml, default in the copy)
MEMBER_DEFAULTS: dict[str, tuple[str, str]] = dict(FORWARD_TOGGLES)


class OptionsOnError(Exception):
    """A parameter of DEFAULTS is missing, or its Default is not the one expected."""


def _keep_key_with(value: str) -> Callable[[re.Match[str]], str]:
    """The replacement of a matched Default line: its key, then `value`."""
    return lambda match: match.group(1) + value + "\n"


def options_on(text: str, defaults: Mapping[str, tuple[str, str]] = DEFAULTS, label: str = "template.yaml") -> str:
    """The template text with the Default line of each parameter of `defaults` replaced."""
    for name, (old, new) in defaults.items():
        # Only the Default line of that parameter block.
        pattern = rf"(\n  {name}:\n(?:    .*\n)*?    Default: ){re.escape(old)}\n"
        text, count = re.subn(pattern, _keep_key_with(new), text, count=1)
        if count != 1:
            raise OptionsOnError(f"error: no 'Default: {old}' in the {name} parameter of {label}")
    return text


def write_options_on(source: Path, target: Path, *, member: bool = False) -> None:
    defaults = MEMBER_DEFAULTS if member else DEFAULTS
    target.write_text(options_on(source.read_text(encoding="utf-8"), defaults, str(source)), encoding="utf-8")
