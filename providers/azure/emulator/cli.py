"""``python -m portsync.providers.azure.emulator``: the command line that runs the
emulator in the foreground."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from ... import emulation
from .state import AzureEmulator


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m portsync.providers.azure.emulator",
        description="Serve a local Azure Resource Manager emulator for network security groups.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--ca-out", default="./emulator-ca.pem", help="where to write the CA PEM")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument(
        "--operation-delay", type=float, default=0.0, help="seconds an LRO stays InProgress"
    )
    parser.add_argument("--require-auth", action="store_true", help="401 without a bearer token")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    emulator = AzureEmulator(
        args.host,
        args.port,
        page_size=args.page_size,
        latency=args.latency,
        operation_delay=args.operation_delay,
        require_auth=args.require_auth,
        ca_out=args.ca_out,
    )
    url = emulator.start()
    print(f"Azure ARM emulator listening on {url}", flush=True)
    print(f"CA bundle: {Path(emulator.ca_bundle_path).resolve()}", flush=True)
    print(
        "Point the SDK at it: NetworkManagementClient(credential, subscription_id, "
        f"base_url={url!r}, connection_verify={emulator.ca_bundle_path!r}, "
        "polling_interval=0.05)",
        flush=True,
    )
    emulation.serve_in_foreground(emulator.stop)
    return 0
