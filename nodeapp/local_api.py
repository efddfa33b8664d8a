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
* Each connection runs in its own task; at most ``CONNECTIONS_MAX`` at once.
* The socket file is removed when the node stops. A stale file (no process behind it) is
  harmless: clients treat a refused connection as "no node running".
"""

from __future__ import annotations

import contextlib
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
CONNECTION_IDLE_S_MAX = 300.0
REPLY_S_MAX = 5.0  # sending one reply, even while the node stops
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
        limiter = trio.CapacityLimiter(CONNECTIONS_MAX)
        async with trio.open_nursery() as nursery:
            task_status.started(path)
            log.info("local API on %s", path)
            while True:
                stream = await listener.accept()
                await limiter.acquire_on_behalf_of(stream)
                nursery.start_soon(_serve_connection, node, stream, limiter)
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


async def _serve_connection(node: RunningNode, stream: trio.SocketStream,
                            limiter: trio.CapacityLimiter) -> None:
    try:
        async with stream:
            uid = _peer_uid(stream)
            if uid is not None and uid != os.getuid():
                log.warning("refused a local API connection from uid %d", uid)
                return
            buffer = bytearray()
            while True:
                newline = buffer.find(b"\n")
                if newline < 0:
                    if len(buffer) > REQUEST_BYTES_MAX:
                        await _reply(stream, _error(f"a request is at most {REQUEST_BYTES_MAX} "
                                                    "bytes", "UsageError"))
                        return
                    with trio.move_on_after(CONNECTION_IDLE_S_MAX):
                        chunk = await stream.receive_some(64 * 1024)
                        if not chunk:
                            return
                        buffer += chunk
                        continue
                    return  # idle for too long
                line = bytes(buffer[:newline])
                del buffer[:newline + 1]
                if len(line) > REQUEST_BYTES_MAX:
                    await _reply(stream, _error(f"a request is at most {REQUEST_BYTES_MAX} "
                                                "bytes", "UsageError"))
                    return
                if line.strip():
                    await _reply(stream, await handle_request(node, line))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away
    finally:
        limiter.release_on_behalf_of(stream)


async def _reply(stream: trio.SocketStream, reply: dict[str, Any]) -> None:
    # shielded: the reply that says why the node is stopping must still reach its client
    try:
        line = json.dumps(reply, sort_keys=True)
    except (TypeError, ValueError, RecursionError) as exc:  # an output JSON cannot carry
        line = json.dumps(_error(f"the reply cannot be sent as JSON: {exc}", "InternalError"))
    with trio.CancelScope(deadline=trio.current_time() + REPLY_S_MAX, shield=True):
        await stream.send_all(line.encode() + b"\n")


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
