"""The operations dashboard (issue 16): Dashboard, an AWS::CloudWatch::Dashboard, against
what the code emits.

What the code emits is read statically (AST), once: for each function of template.yaml, the
modules its handler can run (its CodeUri and Handler, then its layers' ContentUri: the
imports, those inside functions too, and the trigger modules `triggers.route` imports by
name, the names `trigger_name` returns; a module imported is counted whether or not the
function calls into it: more than it emits, never less); their add_metric(name="...") calls
are the metrics it emits, their add_dimension(name="...") calls the dimensions some of its invocations add
(input_format). Powertools flushes one dimension set per invocation, so each metric of a
function exists as [service] and as [service, input_format]; its namespace is the function's
POWERTOOLS_METRICS_NAMESPACE and `service` its POWERTOOLS_SERVICE_NAME (the environment of
the resolved function). A dynamic import, a metric name or dimension that is not a literal,
single_metric, set_default_dimensions or a Metrics() with its own service or namespace is
refused: the check would no longer know what is emitted.

Then the transformed template.yaml is resolved per scenario (resolve.py) and checked:
  - OperationsDashboard "true" (the default): exactly one dashboard, STACK-operations, and the
    output DashboardUrl its console URL; "false": no dashboard, no output;
  - the body, its Fn::Sub rendered with the scenario's parameters and this stack's names (a
    function's FunctionName, a queue's QueueName, an alarm's ARN), is JSON of the dashboard
    body structure: widgets of type metric, text or alarm on the 24-column grid; a metric
    widget has its region (the stack's) and metrics, each a metric array
    [namespace, name, dimension, value, ..., {options}] or an expression {expression, id}
    whose SEARCH calls and identifiers are read (ids of the widget, math functions);
  - every custom metric it names is one the code emits: its namespace, its name, its service
    and its dimension set (exactly that of a metric array or of a SEARCH schema
    {namespace,dimension,...}; one the metric has, for a Namespace="..." search);
  - every AWS/SQS metric names a queue of this stack, every AWS/Lambda one a function of this
    stack, every AWS/ApiGateway one this stack's API and stage; the alarm widget lists exactly
    this stack's alarms; each function's Duration widget carries the annotation of its
    timeout, the function's Timeout x 1000 (ms);
  - the widgets show what an on-call engineer needs (REQUIRED: the custom metrics of each
    function, ServiceNowLatency as p50 and p99, the queues' depth and age, each function's
    Errors, Throttles and Duration).
Every run also checks itself: the rendered body with a misspelt metric, another namespace
or service, another stack's queue or function, or a wrong timeout must each be refused.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from template_checks.resolve import SUB_VARIABLE, JsonObject, Resolved, ResolveError
from template_checks.scenarios import BASE

DASHBOARD = "Dashboard"
OUTPUT = "DashboardUrl"
SEARCH = re.compile(r"SEARCH\(\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*(\d+)\s*\)")
SCHEMA = re.compile(r"\s*\{([^}]*)\}")
TERM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)="([^"]*)"')
STATISTIC = re.compile(r"(Sum|Average|Minimum|Maximum|SampleCount|p\d{1,2}(\.\d+)?|p100)")
ID = re.compile(r"[a-z][A-Za-z0-9_]*")
MATH_FUNCTIONS = frozenset({"SUM", "FILL", "MAX", "MIN", "AVG", "REMOVE_EMPTY", "ABS", "RATE", "DIFF", "METRICS"})
WIDGET_TYPES = frozenset({"metric", "text", "alarm"})
METRIC_OPTIONS = frozenset({"id", "label", "stat", "period", "visible", "yAxis", "color", "region", "accountId"})
EXPRESSION_KEYS = frozenset({"expression", "id", "label", "visible", "yAxis", "color", "period", "region"})
# The AWS metrics the dashboard may name, with the dimension sets they are published with.
AWS_METRICS: dict[str, tuple[frozenset[str], tuple[frozenset[str], ...]]] = {
    "AWS/SQS": (
        frozenset(
            {
                "ApproximateNumberOfMessagesVisible",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateAgeOfOldestMessage",
                "NumberOfMessagesSent",
                "NumberOfMessagesReceived",
                "NumberOfMessagesDeleted",
            }
        ),
        (frozenset({"QueueName"}),),
    ),
    "AWS/Lambda": (
        frozenset({"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions", "DeadLetterErrors"}),
        (frozenset({"FunctionName"}),),
    ),
    "AWS/ApiGateway": (
        frozenset({"Count", "4XXError", "5XXError", "Latency", "IntegrationLatency"}),
        (frozenset({"ApiName"}), frozenset({"ApiName", "Stage"})),
    ),
}
QUEUE_METRICS = ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage")
FUNCTION_METRICS = ("Errors", "Throttles", "Duration")
# function: the custom metrics the dashboard must show of it (by input format: a line per
# format, i.e. a SEARCH whose schema has input_format).
REQUIRED: dict[str, tuple[str, ...]] = {
    "ForwarderFunction": (
        "EventsReceived",
        "EventsDelivered",
        "EventsSuperseded",
        "EventsDeadLettered",
        "ServiceNowLatency",
        "DeliveryRetries",
        "TransientFailures",
        "SplitPosts",
        "EventsNotInserted",
        "TokenRequests",
        "ApiRequests",
        "ApiRequestsUnauthenticated",
    ),
    "RedriveFunction": (
        "RedriveRuns",
        "RedriveSkipped",
        "ReplayRequests",
        "ReplayDelivered",
        "ReplaySuperseded",
        "ReplayFailedAgain",
    ),
}
BY_FORMAT = ("EventsReceived", "EventsDelivered", "EventsSuperseded", "EventsDeadLettered")
LATENCY = ("ServiceNowLatency", ("p50", "p99"))


class DashboardCheckError(Exception):
    """The dashboard's checks failed (the message lists every finding)."""


# --- what the code emits -------------------------------------------------------------------


@dataclass
class ModuleFacts:
    """What one module imports, emits and adds, and what the check cannot follow."""

    imports: set[str] = field(default_factory=set)
    metrics: set[str] = field(default_factory=set)
    dimensions: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def _literal(call: ast.Call, keyword: str) -> str | None:
    """The call's `keyword` argument (or its first positional one) when it is a string literal."""
    values = [item.value for item in call.keywords if item.arg == keyword] or call.args[:1]
    value = values[0] if values else None
    return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None


def _returned_names(tree: ast.Module, function: str) -> list[str] | None:
    """The string literals the module's top-level function `function` returns (None: no
    such function, or one that returns anything else)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            returns = [item.value for item in ast.walk(node) if isinstance(item, ast.Return)]
            names = [item.value for item in returns if isinstance(item, ast.Constant) and isinstance(item.value, str)]
            return names if len(names) == len(returns) else None
    return None


def _dynamic_imports(tree: ast.Module, call: ast.Call) -> list[str] | None:
    """importlib.import_module(f"prefix{function(...)}"): prefix + each name `function`
    returns; None for any other form."""
    argument = call.args[0] if len(call.args) == 1 and not call.keywords else None
    if not isinstance(argument, ast.JoinedStr) or len(argument.values) != 2:
        return None
    prefix, value = argument.values
    if not (
        isinstance(prefix, ast.Constant) and isinstance(prefix.value, str) and isinstance(value, ast.FormattedValue)
    ):
        return None
    inner = value.value
    if not (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name)):
        return None
    names = _returned_names(tree, inner.func.id)
    return None if names is None else [prefix.value + name for name in names]


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _mentions(node: ast.AST, text: str) -> bool:
    return any(isinstance(item, ast.Constant) and item.value == text for item in ast.walk(node))


def _read_call(tree: ast.Module, call: ast.Call, facts: ModuleFacts, where: str) -> None:
    name = _call_name(call)
    if name in {"add_metric", "add_dimension"}:
        literal = _literal(call, "name")
        if literal is None:
            facts.problems.append(f"{where}: {name} without a literal name")
        else:
            (facts.metrics if name == "add_metric" else facts.dimensions).add(literal)
    elif name in {"single_metric", "set_default_dimensions", "__import__"}:
        facts.problems.append(f"{where}: {name} (the check cannot tell what it emits or imports)")
    elif name == "import_module":
        modules = _dynamic_imports(tree, call)
        if modules is None:
            facts.problems.append(f"{where}: an import_module the check cannot follow")
        else:
            facts.imports.update(modules)
    elif name == "Metrics":
        for keyword in call.keywords:
            if keyword.arg != "namespace" or not _mentions(keyword.value, "POWERTOOLS_METRICS_NAMESPACE"):
                facts.problems.append(
                    f"{where}: Metrics({keyword.arg}=...) (service and namespace come from the environment)"
                )


def _import_names(node: ast.Import | ast.ImportFrom, package: str) -> set[str]:
    """The modules an import statement may load (a from-import's names may be submodules)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        parts = package.split(".") if package else []
        parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
        base = ".".join([*parts, base] if base else parts)
    return {base} | {f"{base}.{alias.name}" for alias in node.names if alias.name != "*"}


def read_module(path: Path, package: str) -> ModuleFacts:
    """The facts of one module; `package` is the package it is in (for relative imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    facts = ModuleFacts()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            facts.imports |= _import_names(node, package)
        elif isinstance(node, ast.Call):
            _read_call(tree, node, facts, f"{path}:{node.lineno}")
    return facts


def _find_module(name: str, roots: list[Path]) -> tuple[Path, bool] | None:
    """The file of module `name` under the roots (and whether it is a package)."""
    parts = name.split(".")
    for root in roots:
        package = root.joinpath(*parts, "__init__.py")
        if package.is_file():
            return package, True
        module = root.joinpath(*parts[:-1], parts[-1] + ".py")
        if module.is_file():
            return module, False
    return None


def reachable_facts(entry: str, roots: list[Path]) -> tuple[set[str], ModuleFacts]:
    """The modules under `roots` that module `entry` can run (its imports, their parent
    packages, recursively), and their facts together."""
    seen: set[str] = set()
    pending = [entry]
    total = ModuleFacts()
    while pending:
        name = pending.pop()
        found = _find_module(name, roots) if name and name not in seen else None
        if found is None:
            continue
        seen.add(name)
        path, is_package = found
        facts = read_module(path, name if is_package else name.rpartition(".")[0])
        total.metrics |= facts.metrics
        total.dimensions |= facts.dimensions
        total.problems += facts.problems
        parents = [".".join(name.split(".")[:index]) for index in range(1, name.count(".") + 1)]
        pending += [*facts.imports, *parents]
    return seen, total


@dataclass(frozen=True)
class Code:
    """A function's code: its modules and what they emit."""

    modules: frozenset[str]
    metrics: frozenset[str]
    dimensions: frozenset[str]


def read_code(source: Mapping[str, Any], base: Path) -> tuple[dict[str, Code], list[str]]:
    """Each AWS::Serverless::Function of the source template (paths relative to `base`): its
    code, and what the check cannot follow."""
    resources = source.get("Resources") or {}
    found: dict[str, Code] = {}
    problems: list[str] = []
    for name, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        layers = [
            ((resources.get(layer.get("Ref")) or {}).get("Properties") or {}).get("ContentUri")
            for layer in props.get("Layers") or []
            if isinstance(layer, dict)
        ]
        paths = [props.get("CodeUri"), *layers]
        handler = props.get("Handler")
        if not all(isinstance(path, str) for path in paths) or not isinstance(handler, str):
            problems.append(f"{name}: CodeUri, Handler and its layers' ContentUri must be local paths")
            continue
        modules, facts = reachable_facts(handler.rpartition(".")[0], [base / str(path) for path in paths])
        if not modules:
            problems.append(f"{name}: no handler module {handler} under {paths[0]}")
        problems += facts.problems
        found[name] = Code(frozenset(modules), frozenset(facts.metrics), frozenset(facts.dimensions))
    return found, list(dict.fromkeys(problems))  # a module that several functions run: once


@dataclass(frozen=True)
class Emitted:
    """What one function emits in a scenario: its code's metrics under its namespace, with
    the dimension `service` its service name and any subset of the code's other dimensions."""

    function: str
    namespace: str
    service: str
    metrics: frozenset[str]
    dimensions: frozenset[str]

    def dimension_sets(self) -> set[frozenset[str]]:
        optional = sorted(self.dimensions - {"service"})
        return {
            frozenset({"service", *subset})
            for size in range(len(optional) + 1)
            for subset in combinations(optional, size)
        }

    def described(self) -> str:
        sets = sorted(sorted(names) for names in self.dimension_sets())
        return f"{self.function} (namespace {self.namespace!r}, service {self.service!r}, dimension sets {sets})"


def emitted(resolved: Resolved, code: Mapping[str, Code]) -> tuple[list[Emitted], list[str]]:
    """What each function emits in this scenario (its environment from the resolved template)."""
    found: list[Emitted] = []
    failures: list[str] = []
    for function, facts in code.items():
        environment = (resolved.properties(function).get("Environment") or {}).get("Variables") or {}
        namespace = environment.get("POWERTOOLS_METRICS_NAMESPACE")
        service = environment.get("POWERTOOLS_SERVICE_NAME")
        if not (isinstance(namespace, str) and namespace and isinstance(service, str) and service):
            failures.append(
                f"{function}: no POWERTOOLS_METRICS_NAMESPACE or POWERTOOLS_SERVICE_NAME in its environment"
            )
            continue
        found.append(Emitted(function, namespace, service, facts.metrics, facts.dimensions))
    return found, failures


# --- the body, rendered ---------------------------------------------------------------------


class Renderer:
    """Renders Fn::Sub, Ref, Fn::GetAtt and Fn::Join with the scenario's parameters and this
    stack's names; a reference to anything else fails."""

    def __init__(self, resolved: Resolved) -> None:
        self.resolved = resolved
        self.values = resolved.values

    def text(self, node: object) -> str:
        if isinstance(node, str):
            return node
        if isinstance(node, dict) and len(node) == 1:
            ((key, value),) = node.items()
            if key == "Fn::Sub":
                return self._sub(value)
            if key == "Ref" and isinstance(value, str):
                return self.values[value] if value in self.values else self.name(value, None)
            if key == "Fn::GetAtt":
                target = value if isinstance(value, list) else str(value).split(".", 1)
                return self.name(str(target[0]), str(target[1]))
            if key == "Fn::Join" and isinstance(value, list) and len(value) == 2 and isinstance(value[1], list):
                return str(value[0]).join(self.text(item) for item in value[1])
        raise ResolveError(f"cannot render {node!r}")

    def _sub(self, argument: object) -> str:
        text, variables = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
        if not isinstance(text, str) or not isinstance(variables, dict):
            raise ResolveError(f"bad Fn::Sub: {argument!r}")
        local = {name: self.text(value) for name, value in variables.items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return local[name]
            if name in self.values:
                return self.values[name]
            resource, _, attribute = name.partition(".")
            return self.name(resource, attribute or None)

        return SUB_VARIABLE.sub(one, text).replace("${!", "${")

    def name(self, resource: str, attribute: str | None) -> str:
        """What Ref (attribute None) or GetAtt gives for a resource of this stack."""
        found = self.resolved.resources.get(resource)
        if found is None:
            raise ResolveError(f"names {resource}, which this scenario does not have")
        kind = found.get("Type")
        props = self.resolved.properties(resource)
        keys = {
            ("AWS::Lambda::Function", None): "FunctionName",
            ("AWS::SQS::Queue", "QueueName"): "QueueName",
            ("AWS::CloudWatch::Dashboard", None): "DashboardName",
            ("AWS::CloudWatch::Alarm", "Arn"): "AlarmName",
        }
        key = keys.get((str(kind), attribute))
        value = props.get(key) if key else None
        if not isinstance(value, str):
            raise ResolveError(f"cannot tell what {resource} ({kind}) {attribute or 'Ref'} is (no name of its own)")
        if kind == "AWS::CloudWatch::Alarm":
            return alarm_arn(self.values, value)
        return value


def alarm_arn(values: Mapping[str, str], name: str) -> str:
    return f"arn:{values['AWS::Partition']}:cloudwatch:{values['AWS::Region']}:{values['AWS::AccountId']}:alarm:{name}"


# --- the body, read -------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRef:
    """A metric a widget names: `exact` when `dimension_names` is its whole dimension set (a
    metric array, a SEARCH schema), otherwise a search across every set with these filters."""

    widget: str
    namespace: str
    name: str
    dimension_names: frozenset[str]
    filters: tuple[tuple[str, str], ...]
    exact: bool
    stat: str
    search: bool

    def value(self, dimension: str) -> str | None:
        return dict(self.filters).get(dimension)


@dataclass
class Reading:
    """What the body's widgets name, and what is wrong with their structure."""

    refs: list[MetricRef] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    durations: list[tuple[str, set[str], list[object]]] = field(default_factory=list)  # title, functions, values
    failures: list[str] = field(default_factory=list)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _grid(widget: JsonObject, label: str) -> list[str]:
    values = [widget.get(key) for key in ("x", "y", "width", "height")]
    if not all(_is_int(value) for value in values):
        return [f"{label}: x, y, width and height must be whole numbers"]
    x, y, width, height = [value for value in values if isinstance(value, int)]
    if min(x, y) < 0 or width < 1 or x + width > 24 or not 1 <= height <= 1000:
        return [f"{label}: outside the 24-column grid (x {x}, width {width}, y {y}, height {height})"]
    return []


def _search_ref(query: str, stat: str, period: str, widget: str) -> MetricRef | str:
    """A SEARCH query as a MetricRef, or what is wrong with it."""
    schema = SCHEMA.match(query)
    names: list[str] = []
    if schema:
        for item in (part.strip() for part in schema.group(1).split(",")):
            quoted = len(item) > 1 and item[0] == item[-1] == '"'
            if not quoted and not re.fullmatch(r"[A-Za-z0-9/_.-]+", item):
                return f"SEARCH schema name {item!r} must be in double quotes"
            names.append(item[1:-1] if quoted else item)
    rest = query[schema.end() :] if schema else query
    terms = TERM.findall(rest)
    if TERM.sub("", rest).strip() or not (names or terms):
        return f'SEARCH {query!r}: only a schema and Name="value" terms are read'
    filters = dict(terms)
    if len(terms) != len(filters) or "MetricName" not in filters:
        return f'SEARCH {query!r}: one MetricName="..." and each term once'
    namespace = filters.pop("Namespace", names[0] if names else "")
    if not namespace or (names and namespace != names[0]):
        return f"SEARCH {query!r}: no single namespace"
    if not STATISTIC.fullmatch(stat) or int(period) <= 0:
        return f"SEARCH {query!r}: statistic {stat!r} or period {period} is not valid"
    name = filters.pop("MetricName")
    dimension_names = frozenset(names[1:]) if schema else frozenset(filters)
    if schema and not set(filters) <= dimension_names:
        return f"SEARCH {query!r}: a filter on a dimension its schema does not have"
    return MetricRef(widget, namespace, name, dimension_names, tuple(sorted(filters.items())), bool(schema), stat, True)


def _expression(entry: JsonObject, ids: set[str], widget: str, reading: Reading) -> None:
    expression = entry.get("expression")
    if not isinstance(expression, str) or set(entry) - EXPRESSION_KEYS:
        reading.failures.append(
            f"{widget}: an expression entry needs a string expression and only {sorted(EXPRESSION_KEYS)}"
        )
        return
    for query, stat, period in SEARCH.findall(expression):
        found = _search_ref(query, stat, period, widget)
        if isinstance(found, str):
            reading.failures.append(f"{widget}: {found}")
        else:
            reading.refs.append(found)
    rest = SEARCH.sub("0", expression)
    unknown = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rest)) - MATH_FUNCTIONS - ids
    if unknown or re.search(r"[^A-Za-z0-9_ .+\-*/()\[\],]", rest):
        reading.failures.append(
            f"{widget}: expression {expression!r} has what the check does not read: {sorted(unknown)}"
        )


def _metric_array(entry: list[Any], stat: str, widget: str, reading: Reading) -> None:
    options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
    texts = entry[:-1] if options else entry
    if set(options) - METRIC_OPTIONS or len(texts) < 2 or len(texts) % 2 or not all(isinstance(t, str) for t in texts):
        reading.failures.append(f"{widget}: {entry!r} is no [namespace, name, dimension, value, ..., {{options}}]")
        return
    if any(text in {".", "..."} for text in texts):
        reading.failures.append(f"{widget}: {entry!r}: the shorthand '...' is not read, write every metric out")
        return
    pairs = tuple(zip(texts[2::2], texts[3::2], strict=True))
    names = frozenset(name for name, _ in pairs)
    if len(names) != len(pairs):
        reading.failures.append(f"{widget}: {entry!r} names a dimension twice")
        return
    chosen = str(options.get("stat", stat))
    if not STATISTIC.fullmatch(chosen):
        reading.failures.append(f"{widget}: {entry!r}: statistic {chosen!r} is not valid")
    reading.refs.append(MetricRef(widget, texts[0], texts[1], names, tuple(sorted(pairs)), True, chosen, False))


def _entry_ids(metrics: list[Any], widget: str, reading: Reading) -> set[str]:
    ids: list[str] = []
    for entry in metrics:
        options = entry[-1] if isinstance(entry, list) and entry and isinstance(entry[-1], dict) else {}
        if "id" in options:
            ids.append(str(options["id"]))
    bad = [name for name in ids if not ID.fullmatch(name)]
    if bad or len(ids) != len(set(ids)):
        reading.failures.append(f"{widget}: ids must be unique and start with a lower-case letter: {ids}")
    return set(ids)


def _metric_widget(props: JsonObject, region: str, reading: Reading) -> None:
    widget = str(props.get("title", "untitled metric widget"))
    metrics = props.get("metrics")
    if props.get("region") != region or not isinstance(metrics, list) or not metrics:
        reading.failures.append(f"{widget}: a metric widget needs region {region!r} and its metrics")
        return
    ids = _entry_ids(metrics, widget, reading)
    before = len(reading.refs)
    for entry in metrics:
        if isinstance(entry, list) and len(entry) == 1 and isinstance(entry[0], dict) and "expression" in entry[0]:
            _expression(entry[0], ids, widget, reading)
        elif isinstance(entry, list):
            _metric_array(entry, str(props.get("stat", "Average")), widget, reading)
        else:
            reading.failures.append(f"{widget}: {entry!r} is neither a metric array nor an expression")
    durations = {
        ref.value("FunctionName") or ""
        for ref in reading.refs[before:]
        if (ref.namespace, ref.name) == ("AWS/Lambda", "Duration")
    }
    if durations:
        horizontal = (props.get("annotations") or {}).get("horizontal") or []
        timeouts = [item.get("value") for item in horizontal if "timeout" in str(item.get("label", "")).lower()]
        reading.durations.append((widget, durations, timeouts))


def _widget(widget: object, index: int, region: str, reading: Reading) -> None:
    if not isinstance(widget, dict) or widget.get("type") not in WIDGET_TYPES:
        reading.failures.append(f"widget {index}: not an object of type {sorted(WIDGET_TYPES)}")
        return
    props = widget.get("properties")
    label = f"widget {index} ({widget['type']})"
    reading.failures += _grid(widget, label)
    if not isinstance(props, dict):
        reading.failures.append(f"{label}: no properties")
    elif widget["type"] == "metric":
        _metric_widget(props, region, reading)
    elif widget["type"] == "text" and not isinstance(props.get("markdown"), str):
        reading.failures.append(f"{label}: a text widget needs its markdown")
    elif widget["type"] == "alarm":
        alarms = props.get("alarms")
        if not isinstance(alarms, list) or not alarms or not all(isinstance(arn, str) for arn in alarms):
            reading.failures.append(f"{label}: an alarm widget needs its alarms (ARNs)")
        else:
            reading.alarms += alarms


def read_body(body: object, region: str) -> Reading:
    reading = Reading()
    widgets = body.get("widgets") if isinstance(body, dict) else None
    if not isinstance(body, dict) or set(body) - {"widgets", "start", "end", "periodOverride"}:
        reading.failures.append("the body is no object of widgets (and start, end, periodOverride)")
    if not isinstance(widgets, list) or not widgets:
        reading.failures.append("the body has no widgets")
        return reading
    for index, widget in enumerate(widgets, 1):
        _widget(widget, index, region, reading)
    return reading


# --- what the refs must be ------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """This stack's names in a scenario."""

    functions: dict[str, str]  # FunctionName: logical ID
    timeouts: dict[str, str]  # FunctionName: Timeout (seconds)
    queues: dict[str, str]  # QueueName: logical ID
    apis: dict[str, set[str]]  # the REST API's Name: its stage names
    alarms: set[str]  # alarm ARNs
    emitted: list[Emitted]


def stack_of(resolved: Resolved, emits: list[Emitted]) -> Stack:
    def named(kind: str, key: str) -> dict[str, str]:
        return {str(resolved.properties(name).get(key)): name for name in resolved.of_type(kind)}

    functions = named("AWS::Lambda::Function", "FunctionName")
    apis = {
        str(resolved.properties(api).get("Name")): {
            str(resolved.properties(stage).get("StageName"))
            for stage in resolved.of_type("AWS::ApiGateway::Stage")
            if resolved.properties(stage).get("RestApiId") == {"Ref": api}
        }
        for api in resolved.of_type("AWS::ApiGateway::RestApi")
    }
    alarms = {alarm_arn(resolved.values, str(props.get("AlarmName"))) for props in _properties_of(resolved)}
    return Stack(
        functions,
        {name: str(resolved.properties(logical).get("Timeout")) for name, logical in functions.items()},
        named("AWS::SQS::Queue", "QueueName"),
        apis,
        alarms,
        emits,
    )


def _properties_of(resolved: Resolved) -> Iterator[JsonObject]:
    for name in resolved.of_type("AWS::CloudWatch::Alarm"):
        yield resolved.properties(name)


def _custom(ref: MetricRef, stack: Stack) -> str | None:
    """What is wrong with a custom metric ref, if anything."""
    spaces = sorted({item.namespace for item in stack.emitted})
    in_namespace = [item for item in stack.emitted if item.namespace == ref.namespace]
    if not in_namespace:
        return f"namespace {ref.namespace!r}: the functions emit into {spaces}"
    emitting = [item for item in in_namespace if ref.name in item.metrics]
    if not emitting:
        names = sorted(set().union(*(item.metrics for item in in_namespace)))
        return f"{ref.name!r} is not a metric the code emits (in {ref.namespace!r}: {', '.join(names)})"
    service = ref.value("service")
    if service is None:
        return f'{ref.name}: no service="...": which function\'s?'
    ours = [item for item in emitting if item.service == service]
    if not ours:
        return f"{ref.name}: service {service!r} does not emit it ({'; '.join(item.described() for item in emitting)})"
    item = ours[0]
    sets = item.dimension_sets()
    if ref.exact and ref.dimension_names not in sets:
        return (
            f"{ref.name}: dimension set {sorted(ref.dimension_names)} is not one it is emitted with: {item.described()}"
        )
    if not ref.exact and not ref.dimension_names <= set().union(*sets):
        return f"{ref.name}: filters {sorted(ref.dimension_names)} name a dimension it is not emitted with"
    return None


def _aws(ref: MetricRef, stack: Stack) -> str | None:
    """What is wrong with an AWS metric ref, if anything."""
    known = AWS_METRICS.get(ref.namespace)
    if known is None:
        return f"{ref.namespace} is not a namespace the check knows"
    names, dimension_sets = known
    if ref.search or ref.name not in names or ref.dimension_names not in dimension_sets:
        return f"{ref.namespace} {ref.name} {sorted(ref.dimension_names)}: not a metric array of {sorted(names)}"
    values = dict(ref.filters)
    own = {
        "QueueName": set(stack.queues),
        "FunctionName": set(stack.functions),
        "ApiName": set(stack.apis),
        "Stage": set(stack.apis.get(values.get("ApiName", ""), set())),
    }
    wrong = [f"{key} {value!r}" for key, value in values.items() if value not in own.get(key, set())]
    return f"{ref.namespace} {ref.name}: {', '.join(wrong)} not of this stack" if wrong else None


def check_refs(reading: Reading, stack: Stack) -> list[str]:
    failures = []
    for ref in reading.refs:
        problem = _aws(ref, stack) if ref.namespace.startswith("AWS/") else _custom(ref, stack)
        if problem:
            failures.append(f"{ref.widget}: {problem}")
    if set(reading.alarms) != stack.alarms or len(reading.alarms) != len(set(reading.alarms)):
        failures.append(
            f"the alarm widget lists {sorted(reading.alarms)}, not this stack's alarms {sorted(stack.alarms)}"
        )
    for title, functions, values in reading.durations:
        if len(functions) != 1 or next(iter(functions)) not in stack.timeouts:
            failures.append(f"{title}: Duration of {sorted(functions)}: one function of this stack a widget")
            continue
        (function,) = functions
        wanted = int(stack.timeouts[function]) * 1000
        if values != [wanted]:
            failures.append(
                f"{title}: timeout annotation {values}, not [{wanted}] (Timeout {stack.timeouts[function]} s)"
            )
    return failures


def _shown(reading: Reading, namespace: str, name: str, value: tuple[str, str]) -> list[MetricRef]:
    return [ref for ref in reading.refs if (ref.namespace, ref.name) == (namespace, name) and value in ref.filters]


def check_required(reading: Reading, stack: Stack) -> list[str]:
    """What the dashboard must show."""
    failures = []
    for item in stack.emitted:
        for name in REQUIRED.get(item.function, ()):
            refs = _shown(reading, item.namespace, name, ("service", item.service))
            if not refs:
                failures.append(f"{name} of {item.function} is not on the dashboard")
            if name in BY_FORMAT and not any(ref.exact and "input_format" in ref.dimension_names for ref in refs):
                failures.append(f"{name} of {item.function} is not shown by input format")
            if name == LATENCY[0] and not set(LATENCY[1]) <= {ref.stat for ref in refs}:
                failures.append(f"{name} of {item.function} is not shown as {' and '.join(LATENCY[1])}")
    for queue in stack.queues:
        failures += [
            f"{metric} of {queue} is not on the dashboard"
            for metric in QUEUE_METRICS
            if not _shown(reading, "AWS/SQS", metric, ("QueueName", queue))
        ]
    for function in stack.functions:
        failures += [
            f"{metric} of {function} is not on the dashboard"
            for metric in FUNCTION_METRICS
            if not _shown(reading, "AWS/Lambda", metric, ("FunctionName", function))
        ]
    return failures


def check_body(body: object, region: str, stack: Stack) -> tuple[Reading, list[str]]:
    reading = read_body(body, region)
    return reading, reading.failures + check_refs(reading, stack) + check_required(reading, stack)


# --- the check of the check: what it must refuse ----------------------------------------------


def _edit_strings(node: object, edit: Callable[[str], str]) -> object:
    if isinstance(node, str):
        return edit(node)
    if isinstance(node, list):
        return [_edit_strings(item, edit) for item in node]
    if isinstance(node, dict):
        return {key: _edit_strings(value, edit) for key, value in node.items()}
    return node


Mutation = Callable[[object], object | None]


def _first(pattern: str, replacement: str) -> Mutation:
    """A mutation: the first string of the body matching `pattern` gets `replacement`."""

    def mutate(body: object) -> object | None:
        done = False

        def edit(text: str) -> str:
            nonlocal done
            if done or not re.search(pattern, text):
                return text
            done = True
            return re.sub(pattern, replacement, text, count=1)

        mutated = _edit_strings(copy.deepcopy(body), edit)
        return mutated if done else None

    return mutate


def _widget_properties(body: object) -> Iterator[JsonObject]:
    for widget in body.get("widgets") or [] if isinstance(body, dict) else []:
        props = widget.get("properties") if isinstance(widget, dict) else None
        if isinstance(props, dict):
            yield props


def _first_array(namespace: Callable[[str], bool], position: int) -> Mutation:
    """A mutation: in the first metric array of a namespace `namespace` accepts, the string at
    `position` (0 the namespace, 1 the metric, 3 the first dimension's value) changed."""

    def mutate(body: object) -> object | None:
        mutated = copy.deepcopy(body)
        for props in _widget_properties(mutated):
            for entry in props.get("metrics") or []:
                texts = entry if isinstance(entry, list) and len(entry) > position else []
                if texts and isinstance(texts[0], str) and namespace(texts[0]) and isinstance(texts[position], str):
                    texts[position] = "other-" + texts[position]
                    return mutated
        return None

    return mutate


def _another_alarm(body: object) -> object | None:
    mutated = copy.deepcopy(body)
    for props in _widget_properties(mutated):
        alarms = props.get("alarms")
        if isinstance(alarms, list) and alarms:
            alarms[0] = f"{alarms[0]}-other"
            return mutated
    return None


def _timeout_plus_one(body: object) -> object | None:
    mutated = copy.deepcopy(body)
    for props in _widget_properties(mutated):
        for item in (props.get("annotations") or {}).get("horizontal") or []:
            if "timeout" in str(item.get("label", "")).lower():
                item["value"] = int(item["value"]) + 1000
                return mutated
    return None


def _custom_namespace(namespace: str) -> bool:
    return not namespace.startswith("AWS/")


# What the check must refuse: the rendered body changed in one place each.
MUTATIONS: dict[str, Mutation] = {
    "a misspelt metric in a SEARCH": _first(r'MetricName="([^"]+)"', r'MetricName="\1x"'),
    "a misspelt custom metric array": _first_array(_custom_namespace, 1),
    "another namespace in a metric array": _first_array(_custom_namespace, 0),
    "another namespace in a SEARCH": _first(r'Namespace="[^"]*"', 'Namespace="Other"'),
    "another namespace in a SEARCH schema": _first(r'\{"[^"]*",', '{"Other",'),
    "another service": _first(r'service="([^"]+)"', r'service="\1-other"'),
    "another stack's queue": _first_array(lambda namespace: namespace == "AWS/SQS", 3),
    "another stack's function": _first_array(lambda namespace: namespace == "AWS/Lambda", 3),
    "another stack's API": _first_array(lambda namespace: namespace == "AWS/ApiGateway", 3),
    "another stack's alarm": _another_alarm,
    "a wrong timeout": _timeout_plus_one,
}


def check_mutations(body: object, region: str, stack: Stack) -> list[str]:
    failures = []
    for label, mutate in MUTATIONS.items():
        mutated = mutate(body)
        if mutated is None:
            failures.append(f"self-test: nothing to mutate for {label}")
        elif not check_body(mutated, region, stack)[1]:
            failures.append(f"self-test: the check did not refuse {label}")
    return failures


# --- the scenarios ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    label: str
    parameters: Mapping[str, str]
    dashboard: bool


BUFFERED = {
    "DeliveryMode": "buffered",
    "FunctionTimeoutSeconds": "120",
    "RedriveTimeoutSeconds": "900",
    "MetricsNamespace": "Team/ITOM:prod#1",
    "ApiStageName": "prod",
}
SCENARIOS = (
    Scenario("defaults", {}, dashboard=True),
    Scenario("OperationsDashboard false", {"OperationsDashboard": "false"}, dashboard=False),
    Scenario(", ".join(f"{key} {value}" for key, value in BUFFERED.items()), BUFFERED, dashboard=True),
)


def _absent(resolved: Resolved) -> list[str]:
    failures = [
        f"{name} (AWS::CloudWatch::Dashboard) exists" for name in resolved.of_type("AWS::CloudWatch::Dashboard")
    ]
    return failures + ([f"output {OUTPUT} exists"] if OUTPUT in resolved.outputs else [])


def _url(resolved: Resolved, renderer: Renderer, name: str) -> list[str]:
    region = resolved.values["AWS::Region"]
    wanted = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}"
    output = resolved.outputs.get(OUTPUT)
    value = renderer.text(output.get("Value")) if output else None
    return [] if value == wanted else [f"output {OUTPUT} is {value!r}, not {wanted!r}"]


def check_scenario(resolved: Resolved, code: Mapping[str, Code]) -> tuple[str, list[str]]:
    """What is wrong in one scenario with a dashboard, and what the ok line says."""
    if set(resolved.of_type("AWS::CloudWatch::Dashboard")) != {DASHBOARD}:
        return "", [f"not exactly one AWS::CloudWatch::Dashboard, {DASHBOARD}"]
    emits, failures = emitted(resolved, code)
    renderer = Renderer(resolved)
    props = resolved.properties(DASHBOARD)
    name = renderer.text(props.get("DashboardName"))
    if name != f"{resolved.values['AWS::StackName']}-operations":
        failures.append(f"DashboardName is {name!r}, not STACK-operations")
    try:
        body = json.loads(renderer.text(props.get("DashboardBody")))
    except json.JSONDecodeError as error:
        return "", [*failures, f"the body is not JSON: {error}"]
    stack = stack_of(resolved, emits)
    reading, found = check_body(body, resolved.values["AWS::Region"], stack)
    failures += found + _url(resolved, renderer, name) + check_mutations(body, resolved.values["AWS::Region"], stack)
    custom = {
        (ref.namespace, ref.name, ref.value("service")) for ref in reading.refs if _custom_namespace(ref.namespace)
    }
    left_out = "; ".join(
        f"{item.function} {', '.join(names)}"
        for item in emits
        if (names := sorted(name for name in item.metrics if (item.namespace, name, item.service) not in custom))
    )
    timeouts = ", ".join(f"{function} {int(seconds) * 1000} ms" for function, seconds in sorted(stack.timeouts.items()))
    checked = (
        f"{len(body['widgets'])} widgets; {len(custom)} custom metrics (name and service), each emitted by the "
        f"code under {sorted({item.namespace for item in emits})} with its service and dimension set; queues "
        f"{sorted(stack.queues)}, functions {sorted(stack.functions)}, this stack's API, its {len(stack.alarms)} "
        f"alarms; timeout annotations {timeouts}; {len(MUTATIONS)} mutations refused; "
        f"emitted (as far as the code's imports reach), not shown: {left_out or 'none'}"
    )
    return checked, failures


def run(template: Path, transformed: Path, scenarios: tuple[Scenario, ...] = SCENARIOS) -> None:
    """Read the code the template's functions run, resolve the transformed template for each
    scenario and check its dashboard; raises DashboardCheckError listing every failure."""
    from template_checks.transformed import load_template

    code, problems = read_code(load_template(template), template.parent)
    failures = [f"  FAIL code: {problem}" for problem in problems]
    for function, facts in sorted(code.items()):
        print(
            f"  ok  {function}: {len(facts.modules)} modules; metrics {', '.join(sorted(facts.metrics))}; "
            f"dimensions besides service: {', '.join(sorted(facts.dimensions)) or 'none'}"
        )
    document = json.loads(transformed.read_text(encoding="utf-8"))
    for scenario in scenarios:
        try:
            resolved = Resolved(document, {**BASE, **scenario.parameters})
            checked, found = (
                check_scenario(resolved, code) if scenario.dashboard else ("no dashboard, no output", _absent(resolved))
            )
        except (ResolveError, ValueError) as error:
            checked, found = "", [str(error)]
        failures += [f"  FAIL {scenario.label}: {failure}" for failure in found]
        if not found:
            print(f"  ok  {scenario.label}: {checked}")
    if failures:
        raise DashboardCheckError("\n".join(failures))
