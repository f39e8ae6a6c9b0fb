"""A transformed template resolved for given parameter values, as CloudFormation would.

cfn-lint weighs every combination of conditions, but only for what is valid; what a
combination of parameters makes of the stack (which resources exist, what a role may do) is
checked on the template resolved for that combination: the conditions evaluated with the
parameters (their defaults, then the values given) and pseudo parameters, the resources and
outputs whose condition is false left out, each Fn::If replaced by the branch it takes,
AWS::NoValue dropped, a Ref to a parameter and an Fn::Sub or Fn::Join of parameters replaced by
the text (a Ref to a CommaDelimitedList parameter by the list of its items, as CloudFormation
gives it). References to resources stay as written (Ref, Fn::GetAtt, an Fn::Sub naming one),
so a check can say which resource a value points at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

JsonObject = dict[str, Any]

# The pseudo parameters the checks see (the stack name is the one samconfig.toml deploys).
PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::StackName": "itom-forwarder",
    "AWS::URLSuffix": "amazonaws.com",
}
SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


class ResolveError(Exception):
    """The template cannot be resolved (an unknown parameter or condition, a bad intrinsic)."""


class _NoValue:
    """AWS::NoValue: the property or list element it stands for is left out."""


NO_VALUE = _NoValue()


def _text(value: object) -> str:
    """A parameter default or a resolved scalar as CloudFormation compares it: as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ResolveError(f"not a text value: {value!r}")


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Each parameter's value: the override, else its default, else "" (no default)."""
    parameters = template.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(parameters))
    if unknown:
        raise ResolveError("unknown parameters: " + ", ".join(unknown))
    values = {
        name: _text(spec.get("Default", "")) if isinstance(spec, dict) else "" for name, spec in parameters.items()
    }
    return {**PSEUDO_PARAMETERS, **values, **overrides}


def list_parameters(template: Mapping[str, Any]) -> set[str]:
    """The parameters of type CommaDelimitedList (a Ref to one is a list of strings)."""
    parameters = template.get("Parameters") or {}
    return {
        name for name, spec in parameters.items() if isinstance(spec, dict) and spec.get("Type") == "CommaDelimitedList"
    }


class Resolver:
    def __init__(self, template: Mapping[str, Any], overrides: Mapping[str, str]) -> None:
        self.values = parameter_values(template, overrides)
        self._lists = list_parameters(template)
        self._definitions: Mapping[str, object] = template.get("Conditions") or {}
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self._definitions:
                raise ResolveError(f"unknown condition {name}")
            self._conditions[name] = self._truth(self._definitions[name])
        return self._conditions[name]

    def _truth(self, node: object) -> bool:
        """The value of a condition expression."""
        if not isinstance(node, dict) or len(node) != 1:
            raise ResolveError(f"not a condition: {node!r}")
        ((function, argument),) = node.items()
        if function == "Condition" and isinstance(argument, str):
            return self.condition(argument)
        if function == "Fn::Not" and isinstance(argument, list) and len(argument) == 1:
            return not self._truth(argument[0])
        if function in {"Fn::And", "Fn::Or"} and isinstance(argument, list):
            truths = [self._truth(item) for item in argument]
            return all(truths) if function == "Fn::And" else any(truths)
        if function == "Fn::Equals" and isinstance(argument, list) and len(argument) == 2:
            left, right = (self.resolve(item) for item in argument)
            return _text(left) == _text(right)
        raise ResolveError(f"not a condition: {node!r}")

    def _sub(self, argument: object) -> object:
        text, variables = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
        if not isinstance(text, str) or not isinstance(variables, dict):
            raise ResolveError(f"bad Fn::Sub: {argument!r}")
        local = {name: self.resolve(value) for name, value in variables.items()}
        known = {**self.values, **local}
        names = SUB_VARIABLE.findall(text)
        if not all(isinstance(known.get(name), str) for name in names):
            return {"Fn::Sub": [text, local] if local else text}  # names a resource: kept
        return SUB_VARIABLE.sub(lambda match: str(known[match.group(1)]), text).replace("${!", "${")

    def _join(self, argument: object) -> object:
        if not isinstance(argument, list) or len(argument) != 2 or not isinstance(argument[1], list):
            raise ResolveError(f"bad Fn::Join: {argument!r}")
        separator, items = argument[0], [self.resolve(item) for item in argument[1]]
        texts = [item for item in items if isinstance(item, str)]
        if len(texts) == len(items):
            return str(separator).join(texts)
        return {"Fn::Join": [separator, items]}

    def _intrinsic(self, function: str, argument: object) -> object:
        if function == "Ref" and isinstance(argument, str):
            if argument == "AWS::NoValue":
                return NO_VALUE
            if argument in self._lists:
                return [item.strip() for item in self.values[argument].split(",")]  # items space-trimmed
            return self.values.get(argument, {"Ref": argument})
        if function == "Fn::If" and isinstance(argument, list) and len(argument) == 3:
            return self.resolve(argument[1] if self.condition(str(argument[0])) else argument[2])
        if function == "Fn::Sub":
            return self._sub(argument)
        if function == "Fn::Join":
            return self._join(argument)
        return {function: self.resolve(argument)}

    def resolve(self, node: object) -> object:
        """The node with its conditions applied (NO_VALUE: the node is left out)."""
        if isinstance(node, list):
            return [value for value in (self.resolve(item) for item in node) if value is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, value)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def section(self, entries: object) -> dict[str, JsonObject]:
        """Resources or Outputs: the entries whose condition holds, each resolved (without its
        Condition key)."""
        kept: dict[str, JsonObject] = {}
        for name, entry in (entries if isinstance(entries, dict) else {}).items():
            if not isinstance(entry, dict):
                continue
            condition = entry.get("Condition")
            if condition is not None and not self.condition(str(condition)):
                continue
            resolved = self.resolve({key: value for key, value in entry.items() if key != "Condition"})
            if isinstance(resolved, dict):
                kept[name] = resolved
        return kept


class Resolved:
    """The resources and outputs of a template for one set of parameter values."""

    def __init__(self, template: Mapping[str, Any], overrides: Mapping[str, str]) -> None:
        resolver = Resolver(template, overrides)
        self.values = resolver.values
        self.resources = resolver.section(template.get("Resources"))
        self.outputs = resolver.section(template.get("Outputs"))

    def of_type(self, kind: str) -> dict[str, JsonObject]:
        return {name: resource for name, resource in self.resources.items() if resource.get("Type") == kind}

    def properties(self, name: str) -> JsonObject:
        """The Properties of resource `name` ({} when the resource does not exist)."""
        properties = (self.resources.get(name) or {}).get("Properties")
        return properties if isinstance(properties, dict) else {}
