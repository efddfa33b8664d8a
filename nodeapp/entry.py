"""The `nodeapp` command's entry point: small, so that Ctrl-C while the CLI's modules load
(libp2p, numba, every zome: over a second) still ends with "aborted", not a traceback."""

from __future__ import annotations

import sys

from nodeapp.build import stale_compiled_modules, stale_message


def main() -> None:
    """Load the CLI and run it."""
    stale = stale_compiled_modules()
    if stale:
        print(f"error: {stale_message(stale)}", file=sys.stderr)
        sys.exit(1)
    try:
        from nodeapp.cli import main as cli_main
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    cli_main()
