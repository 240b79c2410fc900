"""``python -m portsync.providers.gcp.emulator``: the command line that runs the
emulator in the foreground."""

from __future__ import annotations

import argparse

from ... import emulation
from .state import GcpEmulator


def main(argv: list[str] | None = None) -> int:
    """Run the emulator in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m portsync.providers.gcp.emulator",
        description="Local emulator of the Compute Engine v1 firewall-rules REST API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (loopback)")
    parser.add_argument("--port", type=int, default=8085, help="TCP port (0: any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument(
        "--operation-delay", type=float, default=0.0, help="seconds before a mutation is DONE"
    )
    parser.add_argument(
        "--network",
        action="append",
        default=[],
        metavar="NAME",
        help="extra VPC network present in every project (repeatable; 'default' always exists)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    emulator = GcpEmulator(
        args.host,
        args.port,
        latency=args.latency,
        operation_delay=args.operation_delay,
        networks=("default", *args.network),
        verbose=not args.quiet,
    )
    url = emulator.start()
    print(f"GCP Compute firewall emulator listening on {url} (Ctrl-C to stop)", flush=True)
    emulation.serve_in_foreground(emulator.stop)
    return 0
