"""The `agentmesh` command: a dispatcher over one module per subcommand.

Each module in SUBCOMMANDS exposes `add_parser(subparsers)` (registering its parser) and
`run(args) -> int`. Adding a subcommand is adding its module name to the list.
"""

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS = ["up", "demo", "keys", "runs", "show", "replay", "eval", "schema"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentmesh", description="Run tool-using LLM agents on a small gRPC mesh, every step logged."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"cli.{name}")
        known = set(subparsers.choices)
        module.add_parser(subparsers)
        for added in set(subparsers.choices) - known:
            subparsers.choices[added].set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
