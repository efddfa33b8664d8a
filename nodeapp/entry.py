"""The `nodeapp` command's entry point: small, so that Ctrl-C while the CLI's modules load
(libp2p, numba, every zome: over a second) still ends with "aborted", not a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    """Load the CLI and run it."""
    try:
        from nodeapp.cli import main as cli_main
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    cli_main()
