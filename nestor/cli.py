"""The ``nestor`` command line; ``nestor`` alone runs ``nestor demo``."""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand modules under nestor.commands, each with register(subparsers)
COMMANDS = ["demo", "tune", "train"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nestor", description="Nestor, a tensor compiler with a scheduling DSL")
    sub = parser.add_subparsers(dest="command")
    for name in COMMANDS:
        importlib.import_module(f"nestor.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv or ["demo"])
    from tensorir import config
    from tensorir.errors import NestorError

    try:
        config.check_all()  # a bad NESTOR_* or OMP_NUM_THREADS value is reported before any work
        unknown = config.unknown_variables_message()
        if unknown is not None:  # a misspelt knob would be ignored without a word
            print(f"nestor: warning: {unknown}", file=sys.stderr)
        return args.func(args)
    except NestorError as error:
        _report(error)
        return 2
    except OSError as error:
        _report(error)
        return 1


def _report(error: BaseException) -> None:
    """``nestor: error: <message>`` on one line (a message's own line breaks become ``; ``)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    print(f"nestor: error: {'; '.join(lines) or type(error).__name__}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
