"""The agent keystore: one Ed25519 key per agent, kept in a small JSON file.

The 32-byte seed is what is stored; it is also the seed of the node's libp2p identity.
An encrypted keystore holds the seed in an XSalsa20-Poly1305 secretbox whose key comes from
Argon2id over the passphrase; the KDF parameters travel in the file. Every failure to open a
keystore is a :class:`~nodeapp.errors.KeystoreError` (or subclass), never a raw exception.
Passphrases are used exactly as given (``str`` is encoded UTF-8, no Unicode normalisation).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import json
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret
import nacl.signing

from nodeapp.errors import KeystoreCorrupted, KeystoreError, PassphraseRequired, WrongPassphrase

FORMAT = "nodeapp-keystore"
VERSION = 1
PASSPHRASE_ENV = "NODEAPP_PASSPHRASE"
SEED_SIZE = 32
_MAX_FILE_SIZE = 64 * 1024
# libsodium's SENSITIVE cost, the most any keystore we write asks for: a damaged or planted
# file asking for more would make every unlock take minutes (opslimit 32 at 1 GiB: 23 s here)
_MAX_OPSLIMIT = argon2id.OPSLIMIT_SENSITIVE
_MAX_MEMLIMIT = argon2id.MEMLIMIT_SENSITIVE
_PASSPHRASE_FILE_BYTES_MAX = 64 * 1024
_CIPHERTEXT_SIZE = SEED_SIZE + nacl.secret.SecretBox.MACBYTES


@dataclass(frozen=True)
class KdfCost:
    """Argon2id cost parameters (``opslimit`` passes, ``memlimit`` bytes)."""

    opslimit: int
    memlimit: int

    MODERATE: ClassVar[KdfCost]
    INTERACTIVE: ClassVar[KdfCost]
    MIN: ClassVar[KdfCost]

    def __post_init__(self) -> None:
        if not _cost_ok(self.opslimit, self.memlimit):
            raise KeystoreError(f"KDF cost out of range: opslimit={self.opslimit!r}, "
                                f"memlimit={self.memlimit!r}")


def _cost_ok(ops: object, mem: object) -> bool:
    if type(ops) is not int or type(mem) is not int:  # bools are not costs
        return False
    return (argon2id.OPSLIMIT_MIN <= ops <= min(argon2id.OPSLIMIT_MAX, _MAX_OPSLIMIT)
            and argon2id.MEMLIMIT_MIN <= mem <= min(argon2id.MEMLIMIT_MAX, _MAX_MEMLIMIT))


KdfCost.MODERATE = KdfCost(argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE)
KdfCost.INTERACTIVE = KdfCost(argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE)
KdfCost.MIN = KdfCost(argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)


@dataclass(frozen=True, repr=False)
class AgentKey:
    """An agent's Ed25519 key, held as its 32-byte seed. ``repr`` never shows the seed."""

    seed: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes) or len(self.seed) != SEED_SIZE:
            raise KeystoreError(f"an agent key seed must be {SEED_SIZE} bytes")

    @property
    def signing_key(self) -> nacl.signing.SigningKey:
        """The PyNaCl signing key built from the seed."""
        return nacl.signing.SigningKey(self.seed)

    @functools.cached_property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key (derived once: derivation costs a scalar product)."""
        return bytes(self.signing_key.verify_key)

    def __repr__(self) -> str:
        return f"AgentKey(public_key={_b64(self.public_key)})"


def generate_agent_key() -> AgentKey:
    """Make a fresh random agent key (OS randomness, via ``SigningKey.generate``)."""
    return AgentKey(bytes(nacl.signing.SigningKey.generate()))


def keystore_permissions_ok(path: Path) -> bool:
    """False if the keystore file is readable or writable by group or others (POSIX only)."""
    if os.name != "posix":
        return True
    try:
        return stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0
    except OSError as exc:
        raise KeystoreError(f"cannot stat keystore {path}: {exc.strerror}") from None


def write_keystore(path: Path, key: AgentKey, passphrase: str | bytes | None, *,
                   encrypted: bool = True, cost: KdfCost = KdfCost.MODERATE,
                   overwrite: bool = False) -> None:
    """Write ``key`` to ``path`` atomically with mode 0600; refuse to replace a keystore
    unless ``overwrite``. ``encrypted=False`` stores the seed in clear (demo opt-out)."""
    path = Path(path)
    if not overwrite and os.path.lexists(path):  # checked again atomically when linking
        raise _exists_error(path)
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION,
                           "public_key": _b64(key.public_key), "encrypted": encrypted}
    if encrypted:
        pw = b"" if passphrase is None else _passphrase_bytes(passphrase)
        if not pw:
            raise KeystoreError("an empty passphrase is not allowed; "
                                "use --insecure-no-passphrase to opt out of encryption")
        salt = os.urandom(argon2id.SALTBYTES)
        nonce = os.urandom(nacl.secret.SecretBox.NONCE_SIZE)
        box = nacl.secret.SecretBox(_derive(pw, salt, cost.opslimit, cost.memlimit))
        doc["kdf"] = {"alg": "argon2id", "opslimit": cost.opslimit, "memlimit": cost.memlimit,
                      "salt": _b64(salt)}
        doc["cipher"] = {"alg": "xsalsa20poly1305", "nonce": _b64(nonce),
                         "ciphertext": _b64(box.encrypt(key.seed, nonce).ciphertext)}
    else:
        doc["seed"] = _b64(key.seed)
    _atomic_write(path, (json.dumps(doc, indent=2) + "\n").encode(), overwrite)


def read_keystore(path: Path, passphrase: str | bytes | None) -> AgentKey:
    """Open the keystore and return the agent key (the passphrase is ignored if unencrypted)."""
    path = Path(path)
    doc = _load(path)
    if not doc["encrypted"]:
        seed = doc["seed"]
    else:
        if passphrase is None:
            raise PassphraseRequired(f"keystore {path} is encrypted; a passphrase is required")
        box = nacl.secret.SecretBox(_derive(_passphrase_bytes(passphrase), doc["salt"],
                                            doc["opslimit"], doc["memlimit"]))
        try:
            seed = box.decrypt(doc["ciphertext"], doc["nonce"])
        except nacl.exceptions.CryptoError:
            raise WrongPassphrase(f"wrong passphrase for keystore {path}, "
                                  "or the keystore was altered") from None
    key = AgentKey(seed)
    if key.public_key != doc["public_key"]:
        raise KeystoreCorrupted(f"keystore {path}: the stored public key does not match the key")
    return key


def read_public_key(path: Path) -> bytes:
    """The stored public key (no passphrase needed); the whole file shape is checked."""
    return _load(Path(path))["public_key"]


def is_encrypted(path: Path) -> bool:
    """Whether the keystore at ``path`` is passphrase-encrypted."""
    return _load(Path(path))["encrypted"]


def change_passphrase(path: Path, old: str | bytes | None, new: str | bytes, *,
                      cost: KdfCost = KdfCost.MODERATE) -> None:
    """Re-encrypt the keystore under ``new``; ``old`` must open it. Atomic."""
    key = read_keystore(path, old)
    write_keystore(path, key, new, encrypted=True, cost=cost, overwrite=True)


def resolve_passphrase(*, passphrase_file: Path | None, env: Mapping[str, str],
                       prompt: Callable[[str], str] | None, confirm: bool) -> str:
    """The CLI rule: ``--passphrase-file`` (first line), else ``$NODEAPP_PASSPHRASE`` (if
    non-empty), else ``prompt`` (twice if ``confirm``), else :class:`PassphraseRequired`."""
    if passphrase_file is not None:
        try:
            # only the first line counts: read no more than a line could be (the "file" may
            # be /dev/zero, or a device that never ends)
            with open(passphrase_file, "rb") as handle:
                line = handle.readline(_PASSPHRASE_FILE_BYTES_MAX + 1)
            if len(line) > _PASSPHRASE_FILE_BYTES_MAX:
                raise KeystoreError(f"the first line of passphrase file {passphrase_file} is "
                                    f"over {_PASSPHRASE_FILE_BYTES_MAX} bytes")
            text = line.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise KeystoreError(f"cannot read passphrase file {passphrase_file}: {why}") from None
        return text.removesuffix("\n").removesuffix("\r")
    if env.get(PASSPHRASE_ENV):
        return env[PASSPHRASE_ENV]
    if prompt is not None:
        first = prompt("Passphrase: ")
        if confirm and prompt("Repeat passphrase: ") != first:
            raise KeystoreError("passphrases do not match")
        return first
    raise PassphraseRequired(f"no passphrase: use --passphrase-file, set {PASSPHRASE_ENV}, "
                             "or run interactively")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _passphrase_bytes(passphrase: str | bytes | None) -> bytes:
    if isinstance(passphrase, bytes):
        return passphrase
    if isinstance(passphrase, str):
        try:
            return passphrase.encode("utf-8")
        except UnicodeEncodeError:
            raise KeystoreError("the passphrase is not valid Unicode text") from None
    raise KeystoreError("a passphrase (str or bytes) is required")


def _derive(pw: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    try:
        return argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, pw, salt,
                            opslimit=opslimit, memlimit=memlimit)
    except nacl.exceptions.CryptoError as exc:
        raise KeystoreError(f"key derivation failed: {exc}") from None


def _load(path: Path) -> dict[str, Any]:
    """Read and validate a keystore file; return its decoded fields."""
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_FILE_SIZE + 1)
    except FileNotFoundError:
        raise KeystoreError(f"no keystore at {path}") from None
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc.strerror}") from None

    def bad(what: str) -> KeystoreCorrupted:
        return KeystoreCorrupted(f"keystore {path} is corrupted: {what}")

    if len(raw) > _MAX_FILE_SIZE:
        raise bad("file is too large")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise bad("not a JSON document") from None

    def field(obj: Any, name: str, kind: type, where: str = "") -> Any:
        value = obj.get(name) if isinstance(obj, dict) else None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise bad(f"field {where}{name!r} is missing or not a {kind.__name__}")
        return value

    def b64(obj: Any, name: str, size: int, where: str = "") -> bytes:
        try:
            data = base64.b64decode(field(obj, name, str, where), validate=True)
        except (binascii.Error, ValueError):
            raise bad(f"field {where}{name!r} is not base64") from None
        if len(data) != size:
            raise bad(f"field {where}{name!r} is {len(data)} bytes, expected {size}")
        return data

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(f"not a {FORMAT} document")
    if (version := field(doc, "version", int)) != VERSION:
        raise bad(f"unsupported keystore version {version}")
    out: dict[str, Any] = {"public_key": b64(doc, "public_key", 32),
                           "encrypted": field(doc, "encrypted", bool)}
    if not out["encrypted"]:
        out["seed"] = b64(doc, "seed", SEED_SIZE)
        return out
    kdf, cipher = field(doc, "kdf", dict), field(doc, "cipher", dict)
    for where, obj, alg in (("kdf", kdf, "argon2id"), ("cipher", cipher, "xsalsa20poly1305")):
        if obj.get("alg") != alg:
            raise bad(f"{where}.alg is not {alg!r}")
    out["opslimit"] = field(kdf, "opslimit", int, "kdf.")
    out["memlimit"] = field(kdf, "memlimit", int, "kdf.")
    if not _cost_ok(out["opslimit"], out["memlimit"]):
        raise bad(f"kdf parameters out of range (opslimit={out['opslimit']}, "
                  f"memlimit={out['memlimit']})")
    out["salt"] = b64(kdf, "salt", argon2id.SALTBYTES, "kdf.")
    out["nonce"] = b64(cipher, "nonce", nacl.secret.SecretBox.NONCE_SIZE, "cipher.")
    out["ciphertext"] = b64(cipher, "ciphertext", _CIPHERTEXT_SIZE, "cipher.")
    return out


def _exists_error(path: Path) -> KeystoreError:
    return KeystoreError(f"a keystore already exists at {path}; refusing to overwrite it "
                         "(that would lose the agent's current key)")


def _atomic_write(path: Path, data: bytes, overwrite: bool) -> None:
    tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     0o600)
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), 0o600)  # independent of the umask
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic "create only if absent"
            except FileExistsError:
                raise _exists_error(path) from None
            except OSError:  # file system without hard links
                if os.path.lexists(path):
                    raise _exists_error(path) from None
                os.replace(tmp, path)
    except OSError as exc:
        raise KeystoreError(f"cannot write keystore {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
