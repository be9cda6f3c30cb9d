"""`agentmesh schema MODULE:MODEL --provider P`: the exact wire schema the router sends that provider for a
Pydantic model, or the error the router would answer with (before any call) when the dialect cannot carry it.

The schema goes to stdout as JSON (pipe it to jq or diff two providers); one line on stderr says where it
goes in the provider's request and whether strict decoding is on. Exit 0, or 1 with the reason on stderr."""

import argparse
import json
import os
import sys

from services.common.errors import MeshError
from services.router.schema import DIALECTS, is_strict, to_wire_schema
from services.router.structured import contract_for

WHERE = {
    "openai": "response_format.json_schema.schema (chat completions)",
    "anthropic": "output_config.format.schema",
    "gemini": "generationConfig.responseJsonSchema",
    "xai": "response_format.schema (a JSON string in the gRPC request)",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the wire schema the router sends a provider for a Pydantic model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODULE:MODEL", help="the output type, e.g. examples.leads.models:Lead")
    parser.add_argument("--provider", required=True, choices=sorted(DIALECTS))


def run(args: argparse.Namespace) -> int:
    sys.path.insert(0, os.getcwd())  # MODULE is found from where the command runs, as with `python -m`
    try:
        contract = contract_for(args.model, "")
        assert contract is not None
        wire = to_wire_schema(args.provider, contract.schema)
    except MeshError as exc:
        print(f"agentmesh schema: {exc.message}", file=sys.stderr)
        return 1
    strict = "strict decoding" if is_strict(args.provider, contract.schema) else "NOT strict (free-form parts)"
    print(f"# {args.provider}: {WHERE[args.provider]}; {strict}", file=sys.stderr)
    print(json.dumps(wire, indent=2))
    return 0
