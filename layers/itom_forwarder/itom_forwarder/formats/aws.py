"""Reading AWS identifiers: region and account from ARNs, and region codes from the
display names old alarm notifications carry."""

from __future__ import annotations

import re

_REGION_CODE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")

# CloudWatch's notifications carry the region's display name, whose wording has changed
# over the years; the code is read from an ARN first and this table is the last resort.
REGION_BY_DISPLAY_NAME: dict[str, str] = {
    "us east (n. virginia)": "us-east-1",
    "us east - n. virginia": "us-east-1",
    "us east (ohio)": "us-east-2",
    "us west (n. california)": "us-west-1",
    "us west - n. california": "us-west-1",
    "us west (oregon)": "us-west-2",
    "us west - oregon": "us-west-2",
    "eu (ireland)": "eu-west-1",
    "eu - ireland": "eu-west-1",
    "europe (ireland)": "eu-west-1",
    "eu (london)": "eu-west-2",
    "europe (london)": "eu-west-2",
    "eu (paris)": "eu-west-3",
    "europe (paris)": "eu-west-3",
    "eu (frankfurt)": "eu-central-1",
    "eu - frankfurt": "eu-central-1",
    "europe (frankfurt)": "eu-central-1",
    "eu (stockholm)": "eu-north-1",
    "europe (stockholm)": "eu-north-1",
    "eu (milan)": "eu-south-1",
    "europe (milan)": "eu-south-1",
    "asia pacific (tokyo)": "ap-northeast-1",
    "asia pacific - tokyo": "ap-northeast-1",
    "asia pacific (seoul)": "ap-northeast-2",
    "asia pacific (osaka)": "ap-northeast-3",
    "asia pacific (singapore)": "ap-southeast-1",
    "asia pacific - singapore": "ap-southeast-1",
    "asia pacific (sydney)": "ap-southeast-2",
    "asia pacific - sydney": "ap-southeast-2",
    "asia pacific (mumbai)": "ap-south-1",
    "asia pacific (hong kong)": "ap-east-1",
    "canada (central)": "ca-central-1",
    "south america (sao paulo)": "sa-east-1",
    "south america (são paulo)": "sa-east-1",
    "south america - sao paulo": "sa-east-1",
    "middle east (bahrain)": "me-south-1",
    "africa (cape town)": "af-south-1",
}


def region_from_arn(arn: object) -> str | None:
    """The region code of an ARN (`arn:aws:service:REGION:account:...`), if it is one."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    if len(parts) > 4 and parts[0] == "arn" and _REGION_CODE.match(parts[3]):
        return parts[3]
    return None


def account_from_arn(arn: object) -> str | None:
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    if len(parts) > 5 and parts[0] == "arn" and parts[4].isdigit():
        return parts[4]
    return None


def region_from_display_name(name: object) -> str | None:
    if not isinstance(name, str):
        return None
    if _REGION_CODE.match(name):
        return name
    return REGION_BY_DISPLAY_NAME.get(name.strip().lower())
