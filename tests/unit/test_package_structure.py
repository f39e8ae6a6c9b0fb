"""The library's shape: no import cycle; the ServiceNow client, the formats and the AWS
API client are leaves that import nothing of each other, of the settings or of the
triggers; only the triggers (and the commands that run them) know the triggers; the AWS
API client loads nothing but the standard library and requests when it is imported."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "itom_forwarder" / "itom_forwarder"
ROOT_NAME = "itom_forwarder"


def module_name(path: Path) -> str:
    parts = [ROOT_NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str) -> set[str]:
    """The library modules `module` imports when it runs (not those for type checking
    only); `from package import name` counts as the submodule when `name` is one."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    found.add(candidate if candidate in MODULES else node.module)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    visit([child])

    visit(ast.parse(MODULES[module].read_text()).body)
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: imports_of(module) for module in MODULES}


def test_no_import_cycle() -> None:
    done: set[str] = set()

    def walk(module: str, stack: list[str]) -> None:
        if module in stack:
            pytest.fail("import cycle: " + " -> ".join([*stack[stack.index(module) :], module]))
        if module in done:
            return
        for imported in sorted(GRAPH[module]):
            walk(imported, [*stack, module])
        done.add(module)

    for module in sorted(GRAPH):
        walk(module, [])


# Per leaf, the packages (and their modules) it may import; the root package itself (its
# version) only where it is listed.
LEAF_ALLOWED = {
    # The client knows the failure hierarchy and the package version, nothing else of the app.
    "itom_forwarder.servicenow": ("itom_forwarder.servicenow", "itom_forwarder.failures", "itom_forwarder"),
    "itom_forwarder.formats": ("itom_forwarder.formats", "itom_forwarder.itom_event", "itom_forwarder.failures"),
    # The ordering guard: its table, its options, the failure hierarchy, the AWS client's errors.
    "itom_forwarder.ordering": (
        "itom_forwarder.ordering",
        "itom_forwarder.failures",
        "itom_forwarder.aws_api",
        "itom_forwarder",
    ),
    # The webhook credentials and their check: given everything, importing nothing of the app.
    "itom_forwarder.webhook_auth": ("itom_forwarder.webhook_auth", "itom_forwarder"),
    # The AWS API client: given the service, endpoint, region and credentials; nothing else.
    "itom_forwarder.aws_api": ("itom_forwarder.aws_api",),
}


def _allows(allowed: tuple[str, ...], name: str) -> bool:
    return any(name == a or (a != ROOT_NAME and name.startswith(a + ".")) for a in allowed)


@pytest.mark.parametrize("leaf", LEAF_ALLOWED)
def test_leaves_import_only_what_they_are_given(leaf: str) -> None:
    allowed = LEAF_ALLOWED[leaf]
    for module, imported in GRAPH.items():
        if module == leaf or module.startswith(leaf + "."):
            foreign = {name for name in imported if not _allows(allowed, name)}
            assert not foreign, f"{module} imports {sorted(foreign)}"


def _module_level_imports(path: Path) -> set[str]:
    """The top-level packages a module imports when it is loaded (not in functions, not for
    type checking)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_the_aws_api_client_loads_no_aws_sdk() -> None:
    """boto3 and botocore are what the package exists to avoid on the alert path: only the
    fallback to botocore's credential chain (never on Lambda) imports botocore, lazily."""
    for module, path in MODULES.items():
        if module.startswith("itom_forwarder.aws_api"):
            outside = _module_level_imports(path) - set(sys.stdlib_module_names) - {"requests", ROOT_NAME}
            assert not outside, f"{module} imports {sorted(outside)} when loaded"


def test_only_triggers_and_their_commands_import_triggers() -> None:
    entry_points = {"itom_forwarder.check", "itom_forwarder.replay"}
    for module, imported in GRAPH.items():
        if module.startswith("itom_forwarder.triggers") or module in entry_points:
            continue
        assert not {name for name in imported if name.startswith("itom_forwarder.triggers")}, module
