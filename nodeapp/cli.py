"""The `nodeapp` command line.

Every command that reports something takes ``--json`` and then prints exactly one JSON object.
Errors print one line ``error: ...`` on stderr and exit with status 1 (click's usage errors,
for a mistyped command or an option value outside its choices or range, exit 2);
a traceback is a bug.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol, cast

import typer

from nodeapp._core.actions import ActionKind
from nodeapp._core.dna import REPLICATION_FACTOR_MAX
from nodeapp._core.hashing import ActionHash, AgentPubKey
from nodeapp._core.membrane import INVITE_USES_MAX, parse_invite_code
from nodeapp.errors import KeystoreError, NodeError, UsageError
from nodeapp.home import NodeHome
from nodeapp.keystore import KdfCost, keystore_permissions_ok, resolve_passphrase
from nodeapp.store import store_failure

CHAIN_ACTIONS_MAX = 2**32  # seq is an unsigned 32-bit integer
ABORTED = 130  # the exit status of a command stopped by Ctrl-C

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="A node of a peer-production network: signed chains, peer validation.")
network_app = typer.Typer(no_args_is_help=True, help="Create a production network.")
app.add_typer(network_app, name="network")
invite_app = typer.Typer(no_args_is_help=True, help="Invite members into this node's network.")
app.add_typer(invite_app, name="invite")

HomeOpt = Annotated[Path, typer.Option("--home", help="The node's home directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


# options with a closed set of values: click checks them (exit 2) and --help lists them
class Durability(StrEnum):
    """How much a commit survives."""

    NORMAL = "normal"
    FULL = "full"


class Kdf(StrEnum):
    """The Argon2id cost of the keystore's passphrase."""

    MODERATE = "moderate"
    INTERACTIVE = "interactive"

    @property
    def cost(self) -> KdfCost:
        """The keystore's name for it."""
        return KdfCost.MODERATE if self is Kdf.MODERATE else KdfCost.INTERACTIVE


class LogLevel(StrEnum):
    """What `nodeapp run` logs."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


PassFileOpt = Annotated[
    Path | None,
    typer.Option("--passphrase-file", help="Read the passphrase from the first line of a file."),
]


def _prompt(text: str) -> str:
    if not sys.stdin.isatty():
        raise KeystoreError("no passphrase: use --passphrase-file or NODEAPP_PASSPHRASE "
                            "(stdin is not a terminal)")
    return typer.prompt(text.rstrip(": "), hide_input=True)


def _passphrase(passphrase_file: Path | None, *, confirm: bool = False) -> str:
    return resolve_passphrase(passphrase_file=passphrase_file, env=os.environ, prompt=_prompt,
                              confirm=confirm)


def _unlock(home: NodeHome, passphrase_file: Path | None) -> str | None:
    """The passphrase if the keystore needs one (asking only then)."""
    from nodeapp.keystore import is_encrypted

    home.require()
    if not keystore_permissions_ok(home.keystore_path):
        typer.echo(f"warning: {home.keystore_path} is readable by other users; chmod 600 it",
                   err=True)
    return _passphrase(passphrase_file) if is_encrypted(home.keystore_path) else None


def _emit(as_json: bool, data: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(data, sort_keys=True))
    else:
        for line in lines:
            typer.echo(line)


@app.command()
def init(
    home: HomeOpt,
    passphrase_file: PassFileOpt = None,
    insecure_no_passphrase: Annotated[
        bool, typer.Option("--insecure-no-passphrase", help="Store the key unencrypted (demos).")
    ] = False,
    durability: Annotated[Durability, typer.Option(
        help="normal survives a crash of the node; full also a power loss (fsync each commit).")
    ] = Durability.NORMAL,
    kdf: Annotated[Kdf, typer.Option(help="Cost of deriving the key from the passphrase.")] = (
        Kdf.MODERATE),
    as_json: JsonOpt = False,
) -> None:
    """Create a node home with a new agent key."""
    node = NodeHome(home)
    passphrase = None if insecure_no_passphrase else _passphrase(passphrase_file, confirm=True)
    node.init(passphrase, encrypted=not insecure_no_passphrase, cost=kdf.cost,
              durability=durability.value)
    status = node.status()
    _emit(as_json, status, [f"initialised {home}", f"agent   {status['agent']}",
                            f"peer id {status['peer_id']}"])


@network_app.command("create")
def network_create(
    home: HomeOpt,
    name: Annotated[str, typer.Option(help="A name people will recognise.")],
    replication_factor: Annotated[int, typer.Option(min=1, max=REPLICATION_FACTOR_MAX)] = 5,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a production network with this agent as steward; prints the DNA hash."""
    node = NodeHome(home)
    passphrase = _unlock(node, passphrase_file)
    manifest = node.create_network(name, passphrase, {"replication_factor": replication_factor})
    data = {"dna_hash": str(manifest.hash), "name": manifest.name,
            "stewards": manifest.properties["stewards"],
            "integrity_zomes": [z.name for z in manifest.integrity_zomes]}
    _emit(as_json, data, [str(manifest.hash)])


@invite_app.command("create")
def invite_create(
    home: HomeOpt,
    uses: Annotated[int, typer.Option(min=1, max=INVITE_USES_MAX,
                                      help="How many agents may join with it.")] = 1,
    expires: Annotated[str, typer.Option(help="How long it is valid: a number and a unit s, m, "
                                              "h or d, e.g. 7d, 12h, 30m.")] = "7d",
    bootstrap: Annotated[list[str] | None, typer.Option(
        "--bootstrap", help="A peer to dial first, /ip4/.../tcp/.../p2p/<peer id> (repeatable, "
                            "at most 8).")] = None,
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an invite code (stewards only) to hand to a new member."""
    from nodeapp.conductor import wall_clock_us
    from nodeapp.invites import check_bootstrap, create_invite, parse_expires, require_inviter

    expires_in_s = parse_expires(expires)
    addrs = check_bootstrap(bootstrap or [])
    node = NodeHome(home)
    node.require()
    require_inviter(node)  # before asking for a passphrase
    passphrase = _unlock(node, passphrase_file)
    code = create_invite(node, passphrase, uses, expires_in_s, addrs, wall_clock_us())
    invite = parse_invite_code(code)
    data = {"invite": code, "invite_id": invite.invite_id.hex(),
            "expires_us": invite.expires_us, "uses": invite.uses_max,
            "bootstrap": list(invite.bootstrap)}
    _emit(as_json, data, [code])


@app.command()
def join(
    home: HomeOpt,
    code: Annotated[str, typer.Argument(help="The invite code a steward gave you.")],
    passphrase_file: PassFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Join the network an invite names: writes its DNA and this agent's genesis."""
    from nodeapp.conductor import wall_clock_us
    from nodeapp.invites import check_join, join_network

    node = NodeHome(home)
    check_join(node, code, wall_clock_us())  # a bad code fails before asking for a passphrase
    passphrase = _unlock(node, passphrase_file)
    manifest = join_network(node, passphrase, code, wall_clock_us())
    status = node.status()
    data = {"dna_hash": str(manifest.hash), "network": manifest.name, "agent": status["agent"],
            "bootstrap": status["bootstrap"]}
    _emit(as_json, data, [f"joined {manifest.name}", f"dna     {manifest.hash}",
                          f"agent   {status['agent']}"])


def _ask_running_node(node: NodeHome, request: dict[str, Any]) -> dict[str, Any] | None:
    """The running node's reply, or None when no node runs in this home."""
    from nodeapp.local_api import request_running_node

    node.require()
    return request_running_node(node, request)


def _status_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)


@app.command()
def status(home: HomeOpt, as_json: JsonOpt = False) -> None:
    """Agent key, peer id, DNA hash, chain length and head, store size; and, while the node
    runs, its addresses, peers, members, warrants and pending publishes."""
    node = NodeHome(home)
    reply = _ask_running_node(node, {"op": "status"})
    data = reply["status"] if reply is not None else node.status()
    width = max(len(k) for k in data)
    _emit(as_json, data, [f"{k:<{width}}  {_status_value(v)}" for k, v in data.items()])


@app.command()
def chain(
    home: HomeOpt,
    limit: Annotated[int | None, typer.Option(min=1, max=CHAIN_ACTIONS_MAX,
                                              help="Show at most this many.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """This agent's own chain, one action a line: seq, kind, hash, time."""
    node = NodeHome(home)
    rows = []
    with node.open_store() as store:
        agent = node.own_agent(store)
        for signed, state in store.chain(agent, limit=limit):
            action = signed.action
            when = datetime.fromtimestamp(action.timestamp_us / 1e6, UTC)
            rows.append({"seq": action.seq, "kind": ActionKind(action.KIND).name,
                         "hash": str(ActionHash(signed.hash)),
                         "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                         "status": state.name})
    _emit(as_json, {"actions": rows},
          [f"{r['seq']:>6}  {r['kind']:<22} {r['hash']}  {r['time']}" for r in rows])


@app.command()
def call(
    home: HomeOpt,
    zome: Annotated[str, typer.Argument(help="Zome name, e.g. example.")],
    fn: Annotated[str, typer.Argument(help="Function name, e.g. create_note.")],
    payload: Annotated[str, typer.Argument(help="The input as JSON.")] = "null",
    to: Annotated[str | None, typer.Option(
        "--to", help="Run it on this member's node (agent_...): a function it opened to "
                     "peers. Needs the node running.")] = None,
    passphrase_file: PassFileOpt = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the result as one JSON line (without it, indented).")] = False,
) -> None:
    """Call a zome function on this node and print its output as JSON: {"output": ...}. While
    the node runs (`nodeapp run`) the call goes through it, needs no passphrase, reads from the
    network what this node does not hold, and what it writes is published at once."""
    try:
        parsed = json.loads(payload)
    except ValueError as exc:
        raise UsageError(f"the input is not JSON: {exc}") from exc
    except RecursionError:
        raise UsageError("the input is not JSON this node takes: it is nested too deeply"
                         ) from None
    node = NodeHome(home)
    request: dict[str, object] = {"op": "call", "zome": zome, "fn": fn, "payload": parsed}
    if to is not None:
        AgentPubKey.parse(to)  # a typo is refused here, with the reason
        request["to"] = to
    reply = _ask_running_node(node, request)
    if reply is not None:
        _print_output(reply.get("output"), as_json)
        return
    if to is not None:
        raise UsageError("--to needs the node running (`nodeapp run`): a remote call goes "
                         "over the network")
    conductor = node.open_conductor(_unlock(node, passphrase_file))
    try:
        output = conductor.call_json(zome, fn, parsed)
    finally:
        conductor.store.close()
    _print_output(output, as_json)


def _print_output(output: Any, as_json: bool) -> None:
    """A call's result, as JSON either way: one line for scripts, indented for people."""
    typer.echo(json.dumps({"output": output}, sort_keys=True, indent=None if as_json else 2))


@app.command()
def run(
    home: HomeOpt,
    listen: Annotated[list[str] | None, typer.Option(
        "--listen", help="Listen on this multiaddr (repeatable); /ip4/0.0.0.0/tcp/4001 for all "
                         "interfaces, port 0 for any free port.")] = None,
    announce: Annotated[list[str] | None, typer.Option(
        "--announce", help="Tell peers to dial this multiaddr (repeatable); needed when "
                           "listening on 0.0.0.0 or behind port forwarding.")] = None,
    tick_ms: Annotated[int, typer.Option(min=10, max=10_000,
                                         help="Protocol timer period.")] = 100,
    log_level: Annotated[LogLevel, typer.Option(help="How much to log.")] = LogLevel.INFO,
    passphrase_file: PassFileOpt = None,
) -> None:
    """Run the node on the network until Ctrl-C: peers, sync, validation, and the local API
    (<home>/node.sock) that `nodeapp call` and `nodeapp status` use while it runs."""
    import logging

    addrs = listen or ["/ip4/0.0.0.0/tcp/4001"]
    node = NodeHome(home)
    node.require()
    if node.manifest() is None:
        raise UsageError("this node is in no network yet: run `nodeapp network create` or "
                         "`nodeapp join` first")
    passphrase = _unlock(node, passphrase_file)
    import nodeapp.runtime  # noqa: F401 - importing libp2p resets its loggers: do it first

    logging.basicConfig(level=log_level.value.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # py-libp2p logs routine peer departures at ERROR (identify timeouts) and failures the
    # node reports itself: keep it quiet unless debugging
    libp2p_log = logging.getLogger("libp2p")
    debug = log_level == LogLevel.DEBUG
    libp2p_log.setLevel(logging.DEBUG if debug else logging.CRITICAL + 1)
    libp2p_log.propagate = debug
    try:
        import trio

        trio.run(_run_until_signal, node, passphrase, addrs, announce or [], tick_ms)
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        pass
    except BaseExceptionGroup as group:  # trio's nurseries wrap even a single error
        leaves = _leaves(group)
        if len(leaves) == 1:
            raise leaves[0] from None
        raise


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


async def _run_until_signal(node: NodeHome, passphrase: str | None, listen: list[str],
                            announce: list[str], tick_ms: int) -> None:
    import signal

    import trio

    from nodeapp.runtime import run_node

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            running = await nursery.start(functools.partial(
                run_node, node, passphrase, listen, tick_ms=tick_ms, announce=announce))
            typer.echo(f"peer id {running.peer_id}")
            for addr in running.listen_addrs:
                typer.echo(f"listening on {addr}")
            typer.echo(f"local API on {node.socket_path}")
            sys.stdout.flush()
            async for signum in signals:
                typer.echo(f"stopping ({signal.Signals(signum).name})", err=True)
                nursery.cancel_scope.cancel()
                break


@app.command()
def audit(home: HomeOpt, as_json: JsonOpt = False) -> None:
    """Audit every chain held here (seq gaps, broken links, clock regressions, forks, actions
    after a CloseChain)."""
    from nodeapp.kernels import audit_chains

    with NodeHome(home).open_store() as store:
        cols = store.audit_columns()
    result = audit_chains(cols["author_id"], cols["seq"], cols["prev_hash"], cols["own_hash"],
                          cols["timestamp"], closes=cols["closes"])
    authors: list[dict[str, Any]] = []
    lines: list[str] = []
    for index, pubkey in enumerate(cols["authors"]):
        agent, problems = str(AgentPubKey(bytes(pubkey))), result.problems(index)
        authors.append({"agent": agent, "actions": int(result.rows[index]), "problems": problems})
        if problems:
            lines.append(f"{agent}: {'; '.join(problems)}")
    count = len(authors)
    lines.insert(0, f"{count} chain{'s' * (count != 1)}, {len(lines)} with problems")
    _emit(as_json, {"chains": len(authors), "authors": authors}, lines)


def _register_sim() -> None:
    # imported here: the simulator pulls in every zome and is not needed by other commands
    from sims.cli import sim_command

    app.command("sim")(sim_command)


_register_sim()


def main() -> None:
    """Entry point: run the app, turning node errors into one clear line."""
    try:
        code = app(standalone_mode=False)
    except NodeError as exc:
        _error_line(str(exc))
        sys.exit(1)
    except sqlite3.DatabaseError as exc:  # the store failed after it opened (opening is checked)
        _error_line(str(store_failure(exc)))
        sys.exit(1)
    except OSError as exc:  # a home path too long, a directory where a file should be
        where = f"{exc.filename}: " if exc.filename else ""
        _error_line(f"{where}{exc.strerror or exc}")
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        code = ABORTED
    except _CLICK_ERRORS as exc:  # typos, missing options: click's usage errors
        usage = cast(_ClickError, exc)
        usage.show()
        sys.exit(usage.exit_code)
    # a command that raised typer.Exit(n) returns n here in standalone_mode=False, and so
    # does Ctrl-C inside a command, as 130, without a word (outside one, it raises)
    if code == ABORTED:
        typer.echo("aborted", err=True)
    if isinstance(code, int) and code:
        sys.exit(code)


def _error_line(message: str) -> None:
    # one line, even when a path or a peer's text holds a line break
    typer.echo("error: " + message.replace("\r", "\\r").replace("\n", "\\n"), err=True)


class _ClickError(Protocol):
    """What main() uses of click's ClickException (typer's vendored copy or click's own)."""

    exit_code: int

    def show(self) -> None: ...


def _click_error_classes() -> tuple[type[Exception], ...]:
    # newer typer vendors click as typer._click; older ones use click itself
    classes: list[type[Exception]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            classes.append(__import__(module, fromlist=["ClickException"]).ClickException)
        except ImportError:
            pass
    return tuple(classes)


_CLICK_ERRORS = _click_error_classes()


if __name__ == "__main__":
    main()
