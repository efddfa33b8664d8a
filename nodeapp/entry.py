"""The `nodeapp` command's entry point: small, so that Ctrl-C while the CLI's modules load
(libp2p, numba, every zome: over a second) still ends with "aborted", not a traceback."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable

from nodeapp.build import stale_compiled_modules, stale_message


def main() -> None:
    """Load the CLI and run it."""
    stale = stale_compiled_modules()
    if stale:
        print(f"error: {stale_message(stale)}", file=sys.stderr)
        sys.exit(1)
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):
        # started with Ctrl-C ignored (nohup, a shell's background job): loading leaves it so
        # (`nodeapp run` then installs its own SIGINT/SIGTERM handler to stop cleanly); None:
        # a handler set outside Python, which signal.signal could not put back
        from nodeapp.cli import main as cli_main
    else:
        cli_main = _load_cli_noting_interrupts()
    cli_main()


def _load_cli_noting_interrupts() -> Callable[[], None]:
    # While the modules load, Ctrl-C only notes itself and the command ends once loading is
    # done. Raised there, a KeyboardInterrupt can land inside a library that reports it as its
    # own error: pydantic building a validator turns it into a SchemaError (a traceback).
    interrupted = False

    def note_interrupt(_signum: int, _frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    previous = signal.signal(signal.SIGINT, note_interrupt)
    try:
        from nodeapp.cli import main as cli_main
    finally:
        signal.signal(signal.SIGINT, previous)
        if interrupted:
            print("aborted", file=sys.stderr)
            sys.exit(130)  # noqa: B012 - the user's Ctrl-C wins over whatever loading raised
    return cli_main
