"""python -m template_checks COMMAND ARGS... (with PYTHONPATH=scripts, from the repository
root; scripts/check-template.sh runs each with .tools/sam/bin/python)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _options_on(args: argparse.Namespace) -> int:
    from template_checks.options_on import OptionsOnError, write_options_on

    try:
        write_options_on(args.source, args.target, member=args.member)
    except OptionsOnError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _transformed(args: argparse.Namespace) -> int:
    from template_checks.transformed import TransformCheckError, run

    paths: list[Path] = args.paths
    if len(paths) % 2:
        print("error: expected pairs of TEMPLATE OUTPUT", file=sys.stderr)
        return 2
    try:
        run(list(zip(paths[::2], paths[1::2], strict=True)))
    except TransformCheckError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _scenarios(args: argparse.Namespace) -> int:
    from template_checks import service_events
    from template_checks.scenarios import SCENARIOS, ScenarioCheckError, run

    try:
        run(
            args.transformed,
            (*SCENARIOS, *service_events.SCENARIOS),
            service_events.ALWAYS,
            service_events.ALWAYS_CHECKED,
        )
    except ScenarioCheckError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _member(args: argparse.Namespace) -> int:
    from template_checks.member import MemberCheckError, run

    try:
        run(args.template, args.transformed)
    except MemberCheckError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from template_checks.dashboard import DashboardCheckError, run

    try:
        run(args.template, args.transformed)
    except DashboardCheckError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _events(args: argparse.Namespace) -> int:
    from template_checks.events import run

    return run(args.directory)


def _lock(args: argparse.Namespace) -> int:
    from template_checks.lock import LockError, check_lock

    try:
        print(check_lock(args.requirements_in, args.lock))
    except LockError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _layer(args: argparse.Namespace) -> int:
    from template_checks.lock import LockError, check_layer

    try:
        print(check_layer(args.lock, args.layer, args.wheels, args.own))
    except LockError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m template_checks", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)

    command = commands.add_parser("options-on", help="write the copy of a template with every option on")
    command.add_argument("source", type=Path, help="template.yaml, or templates/member-account.yaml with --member")
    command.add_argument("target", type=Path, help="where to write the copy")
    command.add_argument("--member", action="store_true", help="the source is templates/member-account.yaml")
    command.set_defaults(run=_options_on)

    command = commands.add_parser(
        "transformed",
        help="SAM-transform each template: references resolve, the API key on POST /events, not on the webhooks",
    )
    command.add_argument("paths", type=Path, nargs="+", metavar="TEMPLATE OUTPUT", help="pairs: template, output")
    command.set_defaults(run=_transformed)

    command = commands.add_parser(
        "scenarios",
        help=(
            "the transformed template resolved per parameter combination: ordering guard, redrive schedule, "
            "age alarm, ingest secret, webhook routes, AWS service event rules and the organisation's central bus"
        ),
    )
    command.add_argument("transformed", type=Path, help="the transformed template.yaml (JSON, from `transformed`)")
    command.set_defaults(run=_scenarios)

    command = commands.add_parser(
        "member",
        help="templates/member-account.yaml resolved per parameter combination, against template.yaml",
    )
    command.add_argument("template", type=Path, help="templates/member-account.yaml")
    command.add_argument("transformed", type=Path, help="the transformed template.yaml (JSON, from `transformed`)")
    command.set_defaults(run=_member)

    command = commands.add_parser(
        "dashboard",
        help=(
            "the operations dashboard per parameter combination: only metrics the code emits (namespace, "
            "service, dimensions), this stack's queues, functions, API and alarms, the timeout annotations"
        ),
    )
    command.add_argument("template", type=Path, help="template.yaml (its functions' code is read)")
    command.add_argument("transformed", type=Path, help="the transformed template.yaml (JSON, from `transformed`)")
    command.set_defaults(run=_dashboard)

    command = commands.add_parser("events", help="sanity checks of the sample events")
    command.add_argument("directory", type=Path, nargs="?", default=Path("events"))
    command.set_defaults(run=_events)

    command = commands.add_parser("lock", help="the lock: exact pins, hashes, matching requirements.in")
    command.add_argument("requirements_in", type=Path)
    command.add_argument("lock", type=Path)
    command.set_defaults(run=_lock)

    command = commands.add_parser("layer", help="the built layer: exactly the locked, hash-checked wheels")
    command.add_argument("lock", type=Path)
    command.add_argument("layer", type=Path, help="the built layer's python/ directory")
    command.add_argument("wheels", type=Path, help="the wheels pip downloaded from the lock (hash-checking mode)")
    command.add_argument(
        "--own", nargs="*", default=[], help="top-level names the layer's source adds (its package, requirements files)"
    )
    command.set_defaults(run=_layer)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
