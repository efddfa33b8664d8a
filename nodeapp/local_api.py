"""The local API of a running node: JSON lines on the Unix socket ``<home>/node.sock``.

Requests and replies are one JSON object per line:

* ``{"op": "call", "zome": "example", "fn": "create_note", "payload": {...}}`` ->
  ``{"ok": true, "output": ...}``; what the call wrote is published at once, and what it
  reads that this node does not hold is fetched from the network first.
  With ``"to": "<agent key>"`` the function runs on that member's node instead (it must be
  open to peers, and cannot write there).
* ``{"op": "status"}`` -> ``{"ok": true, "status": {...}}`` (the home's status plus
  ``running``, ``listen_addrs``, ``peers``, ``members``, ``warrants``, ``blocked``,
  ``publish_pending``, ``ops_held``, ``net``).
* Anything that fails -> ``{"ok": false, "error": "<one line>", "kind": "<error class>"}``.

Rules:
* Access control is the file system: the socket is created 0600 in the home directory (bound
  under a temporary name, restricted, then renamed into place), so only the node's owner can
  connect; on Linux the peer's uid is checked too. There is no token.
* A request line is at most ``REQUEST_BYTES_MAX``; a longer one is answered with an error and
  the connection closed. Malformed JSON gets an error reply and the connection stays usable.
* A request line must arrive whole within ``REQUEST_S_MAX`` of its first byte (else an error
  reply, and the connection is closed); a connection that sends no request for
  ``CONNECTION_IDLE_S_MAX`` after connecting or after its last reply is closed (blank lines do
  not count as requests). A reply the client does not take within ``REPLY_S_MAX`` closes it.
* Each connection runs in its own task; at most ``CONNECTIONS_MAX`` at once. When all are
  open, a new one closes the connection that has waited longest for its next request; if
  every one is handling a request, the newcomer gets a "busy" error and is closed.
* The socket file is removed when the node stops. A stale file (no process behind it) is
  harmless: clients treat a refused connection as "no node running".
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from nodeapp._core.hashing import AgentPubKey
from nodeapp.errors import HomeError, NodeError, UsageError
from nodeapp.home import NodeHome

if TYPE_CHECKING:
    from nodeapp.runtime import RunningNode

log = logging.getLogger("nodeapp.local_api")

REQUEST_BYTES_MAX = 1024 * 1024
REPLY_BYTES_MAX = 64 * 1024 * 1024
CONNECTIONS_MAX = 64
CONNECTION_IDLE_S_MAX = 300.0  # with no request under way: a script may keep one open a while
REQUEST_S_MAX = 30.0  # one request line, from its first byte: a local client sends it at once
REPLY_S_MAX = 5.0  # sending one reply, even while the node stops
_RECEIVE_BYTES = 64 * 1024
PROBE_S_MAX = 2.0  # how long connecting to a running node may take
_SUN_PATH_BYTES_MAX = 100  # sockaddr_un holds 108 bytes; keep a margin


class LocalCallFailed(UsageError):
    """Raised by :func:`request_running_node` when the running node answers a request with
    an error (the message is the node's)."""


class NodeNotAnswering(HomeError):
    """Raised when ``node.sock`` accepts a connection but the node behind it does not answer
    properly, or the socket cannot be used (permissions)."""


@contextlib.contextmanager
def _short_path(path: Path) -> Iterator[str]:
    """A path string for bind/connect that fits a sockaddr_un: the path itself, or on Linux the
    same file reached through ``/proc/self/fd/<directory fd>``."""
    text = str(path)
    if len(os.fsencode(text)) <= _SUN_PATH_BYTES_MAX or not sys.platform.startswith("linux"):
        yield text
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


# --- server ------------------------------------------------------------------------------


def _answers(path: Path) -> bool:
    """Whether something accepts connections on the socket at ``path`` (never blocks: a Unix
    socket connect succeeds, is refused, or finds the backlog full at once)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        try:
            with _short_path(path) as where:
                sock.connect(where)
        except BlockingIOError:
            return True  # a full backlog: a node is there, and busy
        except OSError:
            return False
        return True


def check_not_running(home: NodeHome) -> None:
    """Raise HomeError if a node already answers on the home's socket; remove a stale one."""
    path = home.socket_path
    if not os.path.lexists(path):
        return
    if _answers(path):
        raise HomeError(f"a node is already running in {home.path} ({path} answers); "
                        "stop it first")
    log.info("removing a stale %s (no node answers on it)", path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


async def serve_local_api(home: NodeHome, node: RunningNode, *,
                          task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED
                          ) -> None:
    """Serve the local API of ``node`` on ``<home>/node.sock`` until cancelled; reports the
    socket's path once it accepts connections, and removes the file on exit."""
    path = home.socket_path
    tmp = path.with_name(f".node.sock.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    # bound with the stdlib socket: trio would bind a Unix socket in a worker thread, for a
    # file system call as quick as the chmod and rename that follow
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock = trio.socket.from_stdlib_socket(raw)
    inode = None
    try:
        with _short_path(tmp) as where:
            raw.bind(where)
        os.chmod(tmp, 0o600)
        sock.listen(CONNECTIONS_MAX)
        check_not_running(home)  # again: another node may have started meanwhile
        os.replace(tmp, path)  # appears only once it is private
        inode = path.stat().st_ino
        listener = trio.SocketListener(sock)
        slots = _Slots(CONNECTIONS_MAX)
        async with trio.open_nursery() as nursery:
            task_status.started(path)
            log.info("local API on %s", path)
            while True:
                await _admit(node, await listener.accept(), slots, nursery)
    finally:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            if inode is not None and path.stat().st_ino == inode:  # still ours
                path.unlink()
        except FileNotFoundError:
            pass


def _peer_uid(stream: trio.SocketStream) -> int | None:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    creds = stream.socket.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


@dataclasses.dataclass(eq=False)
class _Connection:
    """One client connection, as the slots see it."""

    stream: trio.SocketStream
    waiting_since: float  # when it last began waiting for a request: connected, or replied
    reading: trio.CancelScope = dataclasses.field(default_factory=trio.CancelScope)
    handling: bool = False
    evicted: bool = False

    def wait_for_next(self) -> None:
        """Mark the connection idle again, after a reply (a cancel scope is entered once)."""
        self.handling = False
        self.waiting_since = trio.current_time()
        self.reading = trio.CancelScope()


class _Slots:
    """The open connections, at most ``limit``.

    A full table makes room by closing the connection that has waited longest for its next
    request (idle, or still trickling a line in), rather than refusing the newcomer: the
    owner's fresh ``nodeapp status`` is worth more than a connection doing nothing, and a
    client closed between requests loses no answer. One handling a request is never closed."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: set[_Connection] = set()

    def admit(self, conn: _Connection) -> bool:
        """Take ``conn`` in, evicting the longest idle one if full; False if every open
        connection is handling a request."""
        if len(self._open) >= self._limit:
            idle = [c for c in self._open if not c.handling]
            if not idle:
                return False
            victim = min(idle, key=lambda c: c.waiting_since)
            victim.evicted = True
            victim.reading.cancel()
            self._open.discard(victim)  # its slot is the newcomer's now; its task just ends
            log.info("closed the local API connection idle longest to make room")
        self._open.add(conn)
        return True

    def release(self, conn: _Connection) -> None:
        self._open.discard(conn)


async def _admit(node: RunningNode, stream: trio.SocketStream, slots: _Slots,
                 nursery: trio.Nursery) -> None:
    """Check a new connection's peer and give it a slot and a task, or close it."""
    uid = _peer_uid(stream)
    if uid is not None and uid != os.getuid():
        log.warning("refused a local API connection from uid %d", uid)
        await stream.aclose()
        return
    conn = _Connection(stream, trio.current_time())
    if slots.admit(conn):
        nursery.start_soon(_serve_connection, node, conn, slots)
        return
    # answered here, not in a task of its own, so refusals cannot pile up; a new socket's
    # send buffer is empty, so this short line goes out at once
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        async with stream:
            await _reply(stream, _error(f"the node is busy: all {CONNECTIONS_MAX} local API "
                                        "connections are handling requests; try again",
                                        "NodeBusy"))


class _UnreadableRequest(Exception):
    """The next request cannot be read: answer ``reply`` and close the connection."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(reply["error"])
        self.reply = reply


def _too_large() -> _UnreadableRequest:
    return _UnreadableRequest(_error(f"a request is at most {REQUEST_BYTES_MAX} bytes",
                                     "UsageError"))


async def _next_line(stream: trio.SocketStream, buffer: bytearray,
                     waiting_since: float) -> bytes | None:
    """The next non-blank request line from ``buffer`` and then ``stream``, or None when the
    client closed or sent no request within ``CONNECTION_IDLE_S_MAX`` of ``waiting_since``.
    A line not whole within ``REQUEST_S_MAX`` of its first byte, or too long, raises."""
    # leftover bytes are timed from now: they came with the last line and waited on us
    line_started = trio.current_time() if buffer else None
    while True:  # bounded: each turn takes a line, or a chunk before a deadline
        newline = buffer.find(b"\n")
        if newline >= 0:
            line = bytes(buffer[:newline])
            del buffer[:newline + 1]
            if len(line) > REQUEST_BYTES_MAX:
                raise _too_large()
            if line.strip():
                return line
            # a blank line is no request: the idle timer runs on; what follows is timed
            # from its arrival, which was now (no checkpoint since the receive)
            line_started = trio.current_time() if buffer else None
            continue
        if len(buffer) > REQUEST_BYTES_MAX:
            raise _too_large()
        if line_started is None:
            deadline = waiting_since + CONNECTION_IDLE_S_MAX
        else:
            deadline = line_started + REQUEST_S_MAX
        with trio.move_on_at(deadline) as timer:
            chunk = await stream.receive_some(_RECEIVE_BYTES)
        if timer.cancelled_caught:
            if line_started is None:
                return None  # idle for too long
            raise _UnreadableRequest(_error(f"a request line must arrive whole within "
                                            f"{REQUEST_S_MAX:g} s of its first byte",
                                            "UsageError"))
        if not chunk:
            return None
        if line_started is None:
            line_started = trio.current_time()
        buffer += chunk


async def _serve_connection(node: RunningNode, conn: _Connection, slots: _Slots) -> None:
    stream = conn.stream
    try:
        async with stream:
            buffer = bytearray()
            while True:  # bounded: each request is read and answered within its deadlines
                failure: _UnreadableRequest | None = None
                line: bytes | None = None
                with conn.reading:  # cancelled only to evict this connection
                    try:
                        line = await _next_line(stream, buffer, conn.waiting_since)
                    except _UnreadableRequest as exc:
                        failure = exc
                # evicted: even a line that just arrived goes unanswered, as its slot is gone
                if conn.evicted:
                    return
                if failure is not None:
                    await _reply(stream, failure.reply)
                    return
                if line is None:
                    return
                conn.handling = True
                await _reply(stream, await handle_request(node, line))
                conn.wait_for_next()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away, or would not take its reply
    finally:
        slots.release(conn)


async def _reply(stream: trio.SocketStream, reply: dict[str, Any]) -> None:
    # shielded: the reply that says why the node is stopping must still reach its client
    try:
        line = json.dumps(reply, sort_keys=True)
    except (TypeError, ValueError, RecursionError) as exc:  # an output JSON cannot carry
        line = json.dumps(_error(f"the reply cannot be sent as JSON: {exc}", "InternalError"))
    with trio.CancelScope(deadline=trio.current_time() + REPLY_S_MAX, shield=True) as scope:
        await stream.send_all(line.encode() + b"\n")
    if scope.cancelled_caught:  # a client that does not read must not hold its slot
        raise trio.BrokenResourceError(f"the client took no reply for {REPLY_S_MAX:g} s")


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"ok": False, "error": message, "kind": kind}


async def handle_request(node: RunningNode, line: bytes) -> dict[str, Any]:
    """Answer one request line."""
    try:
        request = json.loads(line)
    except RecursionError:  # a line of 100,000 "[": json's parser recurses per level
        return _error("the request is not JSON this node reads: nested too deeply",
                      "UsageError")
    except ValueError as exc:
        return _error(f"the request is not JSON: {exc}", "UsageError")
    if not isinstance(request, dict):
        return _error("a request is a JSON object with an 'op'", "UsageError")
    op = request.get("op")
    try:
        with node.store_guard():
            return await _answer(node, op, request)
    except NodeError as exc:
        return _error(str(exc), type(exc).__name__)
    except Exception as exc:  # a bug must not take the node down
        log.exception("local API request %r failed", op)
        return _error(f"internal error: {type(exc).__name__}: {exc}", "InternalError")


async def _answer(node: RunningNode, op: object, request: dict[str, Any]) -> dict[str, Any]:
    if op == "status":
        return {"ok": True, "status": node.status()}
    if op != "call":
        return _error(f"unknown op {op!r}: use 'call' or 'status'", "UsageError")
    zome, fn = request.get("zome"), request.get("fn")
    if not isinstance(zome, str) or not isinstance(fn, str):
        return _error("a call names its 'zome' and 'fn' as strings", "UsageError")
    to = request.get("to")
    if to is None:
        return {"ok": True, "output": await node.zome_call(zome, fn, request.get("payload"))}
    if not isinstance(to, str):
        return _error("'to' is an agent key (agent_...)", "UsageError")
    output = await node.call_remote(AgentPubKey.parse(to).raw, zome, fn,
                                    request.get("payload"))
    return {"ok": True, "output": output}


# --- client (blocking; for the command line) ----------------------------------------------


def request_running_node(home: NodeHome, request: dict[str, Any], *,
                         timeout_s: float = 60.0) -> dict[str, Any] | None:
    """Send one request to the node running in ``home`` and return its reply, or None if no
    node runs there (no socket, or a stale one). A reply with ``ok: false`` raises
    LocalCallFailed; a node that accepts but does not answer raises NodeNotAnswering."""
    path = home.socket_path
    if not os.path.lexists(path):
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(PROBE_S_MAX)
        try:
            with _short_path(path) as where:
                sock.connect(where)
        except (FileNotFoundError, ConnectionRefusedError):
            return None  # stale: the node that made it is gone
        except OSError as exc:
            raise NodeNotAnswering(f"cannot use the running node's socket {path}: "
                                   f"{exc.strerror or exc}") from None
        sock.settimeout(timeout_s)
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = bytearray()
            while b"\n" not in data:
                chunk = sock.recv(64 * 1024)
                if not chunk:
                    break
                data += chunk
                if len(data) > REPLY_BYTES_MAX:
                    raise NodeNotAnswering(f"the running node's reply is over "
                                           f"{REPLY_BYTES_MAX} bytes")
        except TimeoutError:
            raise NodeNotAnswering(f"the running node did not answer within {timeout_s:g} s"
                                   ) from None
        except OSError as exc:
            raise NodeNotAnswering(f"lost the connection to the running node: {exc}") from None
    try:
        reply = json.loads(bytes(data).split(b"\n", 1)[0])
    except ValueError:
        reply = None
    if not isinstance(reply, dict) or "ok" not in reply:
        raise NodeNotAnswering("the running node's reply is not a local API reply")
    if not reply["ok"]:
        raise LocalCallFailed(str(reply.get("error", "the running node refused the request")))
    return reply
