"""The layer's lock (layers/itom_forwarder/requirements.txt) and what sam build made of it.

`check_lock`: every locked requirement is an exact pin with at least one hash, and every
direct pin of requirements.in is locked at its version (a pin edited without `make lock`).

`check_layer`: SAM's pip builder checks the lock's hashes only when it downloads for the
build machine; the arm64 wheels of native packages it then fetches one by one, by name and
version, without hashes. So check-template.sh downloads the arm64 wheels itself, from the
lock with pip in hash-checking mode, and this checks that the built layer holds exactly the
locked distributions, each file identical (sha256, from the wheel's RECORD) to the
hash-checked wheel's. The layer's Makefile installs the wheels with pip and adds bytecode
(`__pycache__`, files no RECORD lists); a wheel's command-line scripts are left out.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

# Where the layer runs: Lambda's python3.13 on arm64 (Amazon Linux 2023, CPython).
LAMBDA_ENVIRONMENT = {
    "implementation_name": "cpython",
    "implementation_version": "3.13.0",
    "os_name": "posix",
    "platform_machine": "aarch64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.13.0",
    "python_version": "3.13",
    "sys_platform": "linux",
}

HASH_OPTION = re.compile(r"--hash=(\S+)")


class LockError(Exception):
    """The lock or the built layer does not match (the message lists every finding)."""


@dataclass(frozen=True)
class Locked:
    requirement: Requirement
    hashes: tuple[str, ...]

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> str | None:
        """The pinned version (None unless the specifier is exactly one ==)."""
        specifiers = list(self.requirement.specifier)
        if len(specifiers) == 1 and specifiers[0].operator == "==" and "*" not in specifiers[0].version:
            return specifiers[0].version
        return None

    def applies_to_lambda(self) -> bool:
        marker: Marker | None = self.requirement.marker
        return marker is None or marker.evaluate(dict(LAMBDA_ENVIRONMENT))


def _logical_lines(text: str) -> Iterator[str]:
    """The requirement lines of a requirements file: continuations joined, comments and
    blank lines left out."""
    pending = ""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            yield line
    if pending.strip():
        yield pending.strip()


def parse_requirements(path: Path) -> list[Locked]:
    """The requirements of a file of requirement lines (pip's --hash options allowed; no
    other option, no -r)."""
    entries = []
    for line in _logical_lines(path.read_text(encoding="utf-8")):
        hashes = tuple(HASH_OPTION.findall(line))
        spec = HASH_OPTION.sub("", line).strip()
        if spec.startswith("-"):
            raise LockError(f"  FAIL {path}: unexpected option line {spec!r}")
        entries.append(Locked(Requirement(spec), hashes))
    return entries


def check_lock(requirements_in: Path, lock: Path) -> str:
    """The summary line; raises LockError listing every problem."""
    locked = parse_requirements(lock)
    problems = [f"{entry.requirement} is not an exact pin (==)" for entry in locked if entry.version is None]
    problems += [f"{entry.requirement} has no --hash" for entry in locked if not entry.hashes]
    by_name = {entry.name: entry for entry in locked}
    direct = parse_requirements(requirements_in)
    for pin in direct:
        entry = by_name.get(pin.name)
        if entry is None:
            problems.append(f"{pin.requirement} (requirements.in) is not in the lock")
        elif pin.version is None or entry.version != pin.version:
            problems.append(f"{pin.requirement} (requirements.in) is locked at {entry.version}")
    if problems:
        raise LockError(
            f"  FAIL {lock}: " + "; ".join(problems) + f" — regenerate it from {requirements_in} with `make lock`"
        )
    hashes = sum(len(entry.hashes) for entry in locked)
    return (
        f"  ok  {lock}: {len(locked)} locked packages, every one pinned with hashes ({hashes}); "
        f"the {len(direct)} direct pins of {requirements_in.name} match"
    )


def _installed(layer: Path) -> dict[str, str]:
    """name -> version of every distribution in the built layer's python/ directory."""
    found: dict[str, str] = {}
    for metadata in layer.glob("*.dist-info/METADATA"):
        headers = Parser().parsestr(metadata.read_text(encoding="utf-8"), headersonly=True)
        found[canonicalize_name(headers["Name"])] = headers["Version"]
    return found


def _installed_path(layer: Path, wheel_path: str, data_dir: str) -> Path:
    """Where pip puts a wheel's file: the purelib and platlib trees of the .data directory
    are moved up to the top, anything else is unpacked as is."""
    for scheme in ("purelib", "platlib"):
        prefix = f"{data_dir}/{scheme}/"
        if wheel_path.startswith(prefix):
            return layer / wheel_path[len(prefix) :]
    return layer / wheel_path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class WheelComparison:
    compared: int
    differ: list[str]
    top_level: set[str]  # the layer's top-level names that the wheel's files account for


def _compare_wheel(wheel: Path, layer: Path) -> WheelComparison:
    """Compare each file of the wheel's RECORD with the layer's: how many, the ones that
    differ (or are missing), and the top-level names they occupy."""
    name, version, _build, _tags = parse_wheel_filename(wheel.name)
    distribution, file_version = wheel.name.split("-")[:2]
    data_dir = f"{distribution}-{file_version}.data"
    with zipfile.ZipFile(wheel) as archive:
        record_name = next(item for item in archive.namelist() if item.endswith(".dist-info/RECORD"))
        rows = list(csv.reader(io.StringIO(archive.read(record_name).decode("utf-8"))))
    result = WheelComparison(compared=0, differ=[], top_level=set())
    for row in rows:
        if not row:
            continue
        if row[0].startswith(f"{data_dir}/scripts/"):
            continue  # a command-line script (pip writes it to bin/ with a new #! line): not in the layer
        target = _installed_path(layer, row[0], data_dir)
        result.top_level.add(target.relative_to(layer).parts[0])
        if len(row) < 2 or not row[1]:
            continue  # RECORD itself, and signatures, carry no hash
        result.compared += 1
        if not target.is_file():
            result.differ.append(f"{name} {version}: {row[0]} is missing from the layer")
        elif _sha256(target) != row[1]:
            result.differ.append(f"{name} {version}: {row[0]} differs from the hash-checked wheel")
    return result


def check_layer(lock: Path, layer: Path, wheels: Path, own: Iterable[str]) -> str:
    """The summary line; raises LockError listing every finding. `layer` is the built
    layer's python/ directory; `wheels` holds the wheels pip downloaded from the lock in
    hash-checking mode for the Lambda platform; `own` are the top-level names the layer's
    source adds (its package, its requirements files): nothing else may be there."""
    expected = {entry.name: entry.version for entry in parse_requirements(lock) if entry.applies_to_lambda()}
    installed = _installed(layer)
    problems = [f"{name} {version} is not in the lock" for name, version in installed.items() if name not in expected]
    for name, version in expected.items():
        if name not in installed:
            problems.append(f"{name} {version} (locked) is not in the layer")
        elif version is None or Version(installed[name]) != Version(version):
            problems.append(f"{name} is {installed[name]} in the layer, {version} in the lock")
    wheel_files = sorted(wheels.glob("*.whl"))
    downloaded = {canonicalize_name(parse_wheel_filename(wheel.name)[0]): wheel for wheel in wheel_files}
    problems += [f"no hash-checked wheel of {name} {expected[name]}" for name in expected if name not in downloaded]
    compared = 0
    accounted = set(own)
    for name, wheel in sorted(downloaded.items()):
        if name in installed:
            comparison = _compare_wheel(wheel, layer)
            compared += comparison.compared
            problems += comparison.differ
            accounted |= comparison.top_level
    problems += [
        f"{entry.name} is neither from a locked wheel nor the layer's own"
        for entry in sorted(layer.iterdir())
        if entry.name not in accounted
    ]
    problems += _bytecode_problems(layer)
    if problems:
        raise LockError(f"  FAIL {layer}: " + "; ".join(problems))
    return (
        f"  ok  {layer}: exactly the {len(expected)} locked distributions, {compared} files identical "
        f"to the hash-checked arm64 wheels; nothing else but {', '.join(sorted(own))}; bytecode for "
        f"python3.13 beside every module (unchecked hash)"
    )


# PEP 552: the flags word of a .pyc; 1 = hash-based, its source never checked.
_UNCHECKED_HASH = 1


def _bytecode_problems(layer: Path) -> list[str]:
    """Every module of the layer must have its python3.13 bytecode, which Python uses without
    looking at the source: the layer is read-only in Lambda, so a module without it is
    compiled again at every cold start."""
    missing, checked = [], []
    for source in sorted(layer.rglob("*.py")):
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not compiled.is_file():
            missing.append(str(source.relative_to(layer)))
        elif int.from_bytes(compiled.read_bytes()[4:8], "little") != _UNCHECKED_HASH:
            checked.append(str(source.relative_to(layer)))
    problems = [f"{len(missing)} modules without python3.13 bytecode (e.g. {missing[0]})"] if missing else []
    if checked:
        problems.append(f"{len(checked)} modules with bytecode that checks its source (e.g. {checked[0]})")
    return problems
