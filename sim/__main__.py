"""`python -m sim PROVIDER --port PORT`: run one provider simulator until SIGTERM."""

import argparse
import importlib

from sim.engine import Defaults

PROVIDERS = ("openai", "anthropic", "gemini", "xai")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sim", description="Run one provider simulator.")
    parser.add_argument("provider", choices=PROVIDERS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--malformed-rate", type=float, default=0.0, help="default malformed_rate (0..1)")
    parser.add_argument("--invalid-rate", type=float, default=0.0, help="default invalid_rate (0..1)")
    parser.add_argument("--latency-ms", type=int, default=0, help="default latency_ms")
    args = parser.parse_args(argv)
    for name in ("malformed_rate", "invalid_rate"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    defaults = Defaults(args.latency_ms, args.malformed_rate, args.invalid_rate)
    vendor = importlib.import_module(f"sim.vendors.{args.provider}")
    vendor.serve(args.host, args.port, defaults)


if __name__ == "__main__":
    main()
