"""A local SAM transform of a template, and checks of what it produces.

cfn-lint does not flag e.g. an output referencing a misspelt SAM-generated logical ID (such
as ForwarderApiApiKey): after the transform, every Ref/GetAtt/Sub target must exist. The API
key, as API Gateway will ask for it: POST /events requires it, the webhook routes (POST
/alertmanager, POST /grafana: the function checks their senders' own credentials) must not,
and every route must be one of these (any other method, however it came, must require the
key). The transformed template is written out for checkov, each generated resource carrying
the checkov skips of the SAM resource it comes from.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]

PLACEHOLDER_S3_URI = "s3://placeholder-bucket/placeholder-key"
# ${Name} and ${Name.Attribute} in Fn::Sub text; ${!Literal} is an escaped literal.
SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")
# (path, method) of each route of the REST API: whether API Gateway asks it for the API key.
# POST /events: yes (the usage plan's key). The webhooks: no, the function authenticates
# their senders itself (the ingest secret), and they are throttled by the stage instead.
API_KEY_REQUIRED: dict[tuple[str, str], bool] = {
    ("/events", "post"): True,
    ("/alertmanager", "post"): False,
    ("/grafana", "post"): False,
}


class TransformCheckError(Exception):
    """A check of the transformed template failed (the message says which, and what)."""


class NoManagedPolicies:
    """The transform's managed-policy loader: no AWS call, no managed policy names."""

    def load(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class TransformResult:
    resources: int
    api_methods: int
    with_key: list[str]
    without_key: list[str]


def _object(value: object) -> JsonObject:
    return value if isinstance(value, dict) else {}


def load_template(path: Path) -> JsonObject:
    from samtranslator.yaml_helper import yaml_parse

    parsed: object = yaml_parse(path.read_text(encoding="utf-8"))
    if not isinstance(parsed, dict):
        raise TransformCheckError(f"  FAIL {path}: not a template (a YAML mapping)")
    return parsed


def transform_template(source: JsonObject) -> JsonObject:
    """The template after the SAM transform (local code paths replaced by an S3 placeholder:
    the transform wants S3 locations, and sam build/package replace them anyway)."""
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(source)
    for resource in _object(template.get("Resources")).values():
        props = _object(_object(resource).get("Properties"))
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = PLACEHOLDER_S3_URI
    transformed: object = transform(template, {}, NoManagedPolicies())
    return _object(transformed)


class ReferenceFinder:
    """Collects the Ref, Fn::GetAtt and Fn::Sub targets that name neither a resource nor a
    parameter of the transformed template (pseudo parameters AWS::* always exist)."""

    def __init__(self, known: Iterable[str]) -> None:
        self.known = set(known)
        self.missing: set[str] = set()

    def _check(self, name: str) -> None:
        if not name.startswith("AWS::") and name.split(".", 1)[0] not in self.known:
            self.missing.add(name)

    def _sub(self, sub: object) -> None:
        text, variables = (sub[0], sub[1]) if isinstance(sub, list) else (sub, {})
        if isinstance(text, str):
            for name in SUB_VARIABLE.findall(text):
                if not (isinstance(variables, dict | list) and name in variables):
                    self._check(name)
        self.walk(variables)

    def _get_att(self, target: object) -> None:
        name = target[0] if isinstance(target, list) else str(target).split(".", 1)[0]
        if isinstance(name, str):
            self._check(name)

    def walk(self, node: object) -> None:
        if isinstance(node, list):
            for value in node:
                self.walk(value)
            return
        if not isinstance(node, dict):
            return
        if set(node) == {"Ref"} and isinstance(node["Ref"], str):
            self._check(node["Ref"])
        if set(node) == {"Fn::GetAtt"}:
            self._get_att(node["Fn::GetAtt"])
        if set(node) == {"Fn::Sub"}:
            self._sub(node["Fn::Sub"])
            return
        for value in node.values():
            self.walk(value)


def openapi_operations(props: JsonObject) -> dict[tuple[str, str], bool]:
    """(path, method) of each operation of a REST API's OpenAPI body: whether its security
    names the api_key scheme (SAM's form of Auth.ApiKeyRequired; ApiKeyRequired false on an
    event leaves it out of that operation's security)."""
    found: dict[tuple[str, str], bool] = {}
    for path, operations in _object(_object(props.get("Body")).get("paths")).items():
        for verb, operation in _object(operations).items():
            if not isinstance(operation, dict) or verb.startswith("x-") or verb == "options":
                continue
            found[(path, verb.lower())] = any("api_key" in (item or {}) for item in operation.get("security") or [])
    return found


@dataclass
class ApiKeyFindings:
    methods: int = 0
    with_key: list[str] = field(default_factory=list)
    without_key: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)  # what is not as API_KEY_REQUIRED says


def _check_operations(name: str, props: JsonObject, findings: ApiKeyFindings) -> set[tuple[str, str]]:
    """Check a REST API's operations against API_KEY_REQUIRED; the routes it has."""
    operations = openapi_operations(props)
    for (path, verb), has_key in sorted(operations.items()):
        label = f"{verb.upper()} {path}"
        findings.methods += 1
        (findings.with_key if has_key else findings.without_key).append(label)
        wanted = API_KEY_REQUIRED.get((path, verb), True)  # a route not listed: the key
        if has_key != wanted:
            needs = "requires" if wanted else "must not require"
            findings.wrong.append(f"{name} {label} {needs} the API key, but {'does' if has_key else 'does not'}")
    return set(operations)


def api_key_findings(resources: Mapping[str, object]) -> ApiKeyFindings:
    """Every API method, with or without the API key, and what is not as API_KEY_REQUIRED says:
    an operation of a REST API's OpenAPI body against its entry (one not listed must require
    the key), a method resource without ApiKeyRequired true, any HTTP/WebSocket API (they have
    no API keys), and a route of API_KEY_REQUIRED that no REST API has."""
    findings = ApiKeyFindings()
    routes: set[tuple[str, str]] = set()
    for name, value in resources.items():
        resource = _object(value)
        props = _object(resource.get("Properties"))
        kind = str(resource.get("Type", ""))
        if kind == "AWS::ApiGateway::Method":
            findings.methods += 1
            if props.get("HttpMethod") != "OPTIONS" and props.get("ApiKeyRequired") is not True:
                findings.wrong.append(f"{name} (a method resource) does not require the API key")
        elif kind == "AWS::ApiGateway::RestApi":
            routes |= _check_operations(name, props, findings)
        elif kind.startswith("AWS::ApiGatewayV2::"):
            findings.wrong.append(f"{name}: HTTP/WebSocket APIs have no API keys")
    findings.wrong += [f"no route {verb.upper()} {path}" for path, verb in sorted(set(API_KEY_REQUIRED) - routes)]
    return findings


def inherit_checkov_skips(source: JsonObject, resources: Mapping[str, object]) -> None:
    """checkov reads skips only from each resource's own Metadata, which SAM does not copy to
    the resources it generates: give each one the skips of the SAM resource it comes from
    (same logical ID, or the longest SAM resource ID its generated ID starts with)."""
    source_resources = _object(source.get("Resources"))
    sam_ids = sorted(
        (
            name
            for name, resource in source_resources.items()
            if str(_object(resource).get("Type", "")).startswith("AWS::Serverless::")
        ),
        key=len,
        reverse=True,
    )
    for name, value in resources.items():
        if name in source_resources and name not in sam_ids:
            continue
        origin = next((sam_id for sam_id in sam_ids if name.startswith(sam_id)), None)
        if origin is None:
            continue
        skips = _object(_object(source_resources.get(origin)).get("Metadata")).get("checkov")
        resource = _object(value)
        if skips and "checkov" not in _object(resource.get("Metadata")):
            resource.setdefault("Metadata", {})["checkov"] = copy.deepcopy(skips)


def check_transformed(source_path: Path, out_path: Path, label: str) -> TransformResult:
    """Transform source_path, check references and API keys, write the result (with the
    inherited checkov skips) to out_path. Raises TransformCheckError on a failed check."""
    source = load_template(source_path)
    out = transform_template(source)
    resources = _object(out.get("Resources"))
    finder = ReferenceFinder([*resources, *_object(out.get("Parameters"))])
    finder.walk(resources)
    finder.walk(out.get("Outputs", {}))
    if finder.missing:
        raise TransformCheckError(
            f"  FAIL {label}: references to nothing after the transform: " + ", ".join(sorted(finder.missing))
        )
    api_keys = api_key_findings(resources)
    if api_keys.wrong:
        raise TransformCheckError(f"  FAIL {label}: API keys: " + "; ".join(api_keys.wrong))
    if not api_keys.methods:
        raise TransformCheckError(f"  FAIL {label}: no API method found after the transform")
    inherit_checkov_skips(source, resources)
    with out_path.open("w", encoding="utf-8") as handle:
        json.dump(out, handle, indent=1)
    return TransformResult(
        resources=len(resources),
        api_methods=api_keys.methods,
        with_key=api_keys.with_key,
        without_key=api_keys.without_key,
    )


def run(pairs: list[tuple[Path, Path]]) -> None:
    """Check each (template, transformed output) pair; template.yaml is labelled as such,
    any other source as the all-options copy."""
    # Quiet the feature-toggle notices (no toggle config is loaded locally); errors still show.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    for source_path, out_path in pairs:
        label = str(source_path) if str(source_path) == "template.yaml" else "all-options copy"
        result = check_transformed(source_path, out_path, label)
        print(
            f"  ok  {label}: {result.resources} resources after the transform; every reference "
            f"resolves; {result.api_methods} API methods: with the API key "
            f"{', '.join(result.with_key) or 'none'}; without it (the function authenticates them) "
            f"{', '.join(result.without_key) or 'none'}"
        )
