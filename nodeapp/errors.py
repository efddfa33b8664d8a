"""The node's error tree.

One root, :class:`NodeError`, and four subtrees that say whose fault it was:

* :class:`UsageError` - the local user or program asked for something wrong.
* :class:`RemoteError` - a peer sent something malformed or dishonest.
* :class:`ValidationError` - data (own or received) breaks a system or DNA rule.
* :class:`StorageError` - the local store could not do what was asked.

Every class says in its docstring when it is raised. Messages are written for a person.
"""

from __future__ import annotations


class NodeError(Exception):
    """Root of every error the node raises on purpose."""


# --- local misuse -------------------------------------------------------------------------


class UsageError(NodeError):
    """Raised when a local caller (CLI user, script, UI) asks for something invalid."""


class BadAddress(UsageError):
    """Raised when a multiaddr string does not parse or lacks a part the call needs
    (``connect`` needs ``/p2p/<peer id>``; a bootstrap or announce address needs a host, a TCP
    port and ``/p2p/<peer id>``)."""


class HomeError(UsageError):
    """Raised when a node home directory is missing, not initialised, or already initialised."""


class KeystoreError(UsageError):
    """Raised when the agent keystore cannot be created or opened."""


class WrongPassphrase(KeystoreError):
    """Raised when the passphrase does not decrypt the keystore."""


class KeystoreCorrupted(KeystoreError):
    """Raised when the keystore file is not a keystore this node wrote (truncated, edited)."""


class PassphraseRequired(KeystoreError):
    """Raised when the keystore is encrypted and no passphrase was supplied."""


class ZomeCallError(UsageError):
    """Raised when a zome call names an unknown zome or function, or its input does not parse."""


class InvalidHash(UsageError):
    """Raised when a printable hash is malformed, of the wrong kind, or fails its checksum."""


# --- remote misbehaviour ------------------------------------------------------------------


class RemoteError(NodeError):
    """Raised when bytes or behaviour from a peer break the protocol."""


class RemoteCallFailed(RemoteError):
    """Raised when a peer could not be reached for a remote zome call, or it answered that
    the call failed (the message says which, and the peer's reason)."""


class MalformedData(RemoteError):
    """Raised when bytes do not decode into the expected structure (bad CBOR, wrong shape)."""


# --- validation ---------------------------------------------------------------------------


class ValidationError(NodeError):
    """Raised when an action or entry breaks a rule; ``rule`` names the rule."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


class SysValidationError(ValidationError):
    """Raised when system validation (signature, seq, prev, timestamp, hashes, sizes,
    entry type) rejects an action. ``rule`` is one of ``nodeapp._core.sys_validation.RULES``."""


class AppValidationError(ValidationError):
    """Raised when an integrity zome's ``validate`` returns ``Invalid`` for one of our own ops."""


class UnresolvedDependencies(ValidationError):
    """Raised when validation needs data that is not (yet) held locally; ``deps`` lists it."""

    def __init__(self, deps: list[str]) -> None:
        super().__init__("unresolved", "missing " + ", ".join(deps))
        self.deps = deps


# --- storage ------------------------------------------------------------------------------


class StorageError(NodeError):
    """Raised when the local SQLite store fails or holds something it should not."""


class ChainHeadMoved(StorageError):
    """Raised when another writer committed to the agent's chain between a call's start and its
    commit, and retrying did not succeed. Nothing from the failed call was written."""


class SchemaVersionError(StorageError):
    """Raised when the store's schema is newer than this program understands."""


class StoreCorrupted(StorageError):
    """Raised when stored bytes fail to decode or do not match their stored hash, or SQLite
    finds the file damaged (a running node stops on it: nothing it reads can be trusted)."""


class StoreUnavailable(StorageError):
    """Raised when SQLite cannot do what was asked right now: the file stayed locked past the
    busy timeout, the disk is full, or an I/O error. Nothing of the failed step was written."""
