"""Tests for the agent keystore (nodeapp.keystore)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodeapp.errors import KeystoreCorrupted, KeystoreError, PassphraseRequired, WrongPassphrase
from nodeapp.keystore import (
    AgentKey,
    KdfCost,
    change_passphrase,
    generate_agent_key,
    is_encrypted,
    keystore_permissions_ok,
    read_keystore,
    read_public_key,
    resolve_passphrase,
    write_keystore,
)

FAST = KdfCost.MIN
PW = "correct horse battery staple"


@pytest.fixture
def key() -> AgentKey:
    return generate_agent_key()


@pytest.fixture
def ks(tmp_path: Path, key: AgentKey) -> Path:
    path = tmp_path / "agent.key"
    write_keystore(path, key, PW, cost=FAST)
    return path


def _edit(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- AgentKey ------------------------------------------------------------------------------


def test_agent_key_properties(key: AgentKey) -> None:
    assert len(key.seed) == 32
    assert isinstance(key.signing_key, nacl.signing.SigningKey)
    assert key.public_key == bytes(nacl.signing.SigningKey(key.seed).verify_key)
    assert len(key.public_key) == 32
    assert generate_agent_key() != key


def test_repr_does_not_show_seed(key: AgentKey) -> None:
    text = repr(key) + str(key)
    for form in (key.seed.hex(), _b64(key.seed), repr(key.seed)):
        assert form not in text
    assert _b64(key.public_key) in text


def test_agent_key_rejects_bad_seed() -> None:
    with pytest.raises(KeystoreError):
        AgentKey(b"\x00" * 31)


# --- round trips ---------------------------------------------------------------------------


def test_round_trip_encrypted(ks: Path, key: AgentKey) -> None:
    assert read_keystore(ks, PW) == key
    assert read_keystore(ks, PW.encode()) == key
    assert read_public_key(ks) == key.public_key
    assert is_encrypted(ks)
    doc = json.loads(ks.read_text(encoding="utf-8"))
    assert doc["format"] == "nodeapp-keystore" and doc["version"] == 1
    assert doc["kdf"]["alg"] == "argon2id" and doc["cipher"]["alg"] == "xsalsa20poly1305"
    assert (doc["kdf"]["opslimit"], doc["kdf"]["memlimit"]) == (FAST.opslimit, FAST.memlimit)
    assert "seed" not in doc and _b64(key.seed) not in ks.read_text()


def test_round_trip_unencrypted(tmp_path: Path, key: AgentKey) -> None:
    path = tmp_path / "agent.key"
    write_keystore(path, key, None, encrypted=False)
    assert not is_encrypted(path)
    assert read_keystore(path, None) == key
    assert read_keystore(path, "ignored") == key
    assert "kdf" not in json.loads(path.read_text())


def test_unicode_passphrase(tmp_path: Path, key: AgentKey) -> None:
    path = tmp_path / "k"
    write_keystore(path, key, "pässwörd ✓", cost=FAST)
    assert read_keystore(path, "pässwörd ✓".encode()) == key


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_file_mode_is_0600(ks: Path) -> None:
    assert stat.S_IMODE(ks.stat().st_mode) == 0o600
    assert keystore_permissions_ok(ks)
    assert [p.name for p in ks.parent.iterdir()] == [ks.name]  # no temp file left behind


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_loose_permissions_are_reported_but_open(ks: Path, key: AgentKey) -> None:
    ks.chmod(0o644)
    assert not keystore_permissions_ok(ks)
    assert read_keystore(ks, PW) == key


def test_empty_passphrase_refused(tmp_path: Path, key: AgentKey) -> None:
    for pw in ("", b"", None):
        with pytest.raises(KeystoreError) as exc:
            write_keystore(tmp_path / "k", key, pw, cost=FAST)
        assert "--insecure-no-passphrase" in str(exc.value)
    assert not (tmp_path / "k").exists()


# --- refusing to open ----------------------------------------------------------------------


def test_wrong_passphrase(ks: Path) -> None:
    with pytest.raises(WrongPassphrase, match="wrong passphrase for keystore"):
        read_keystore(ks, "nope")


def test_passphrase_required(ks: Path) -> None:
    with pytest.raises(PassphraseRequired):
        read_keystore(ks, None)


def test_missing_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.key"
    for call in (lambda: read_keystore(path, PW), lambda: read_public_key(path),
                 lambda: is_encrypted(path)):
        with pytest.raises(KeystoreError, match="missing.key") as exc:
            call()
        assert type(exc.value) is KeystoreError


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError):
        read_keystore(tmp_path, PW)


def test_truncated_file(ks: Path) -> None:
    ks.write_bytes(ks.read_bytes()[:40])
    with pytest.raises(KeystoreCorrupted, match="not a JSON"):
        read_keystore(ks, PW)


def test_not_json(ks: Path) -> None:
    ks.write_bytes(b"\xff\xfe not json at all")
    with pytest.raises(KeystoreCorrupted):
        read_public_key(ks)


def test_flipped_ciphertext_byte(ks: Path) -> None:
    """A flipped ciphertext byte fails the MAC exactly like a wrong passphrase does, so it
    is reported as WrongPassphrase, with a message that mentions the other possibility."""

    def flip(doc: dict) -> None:
        ct = bytearray(base64.b64decode(doc["cipher"]["ciphertext"]))
        ct[5] ^= 0x01
        doc["cipher"]["ciphertext"] = _b64(bytes(ct))

    _edit(ks, flip)
    with pytest.raises(WrongPassphrase, match="or the keystore was altered"):
        read_keystore(ks, PW)


def test_public_key_mismatch(ks: Path) -> None:
    other = generate_agent_key().public_key
    _edit(ks, lambda d: d.update(public_key=_b64(other)))
    assert read_public_key(ks) == other  # shape is fine; only decryption can tell
    with pytest.raises(KeystoreCorrupted, match="public key"):
        read_keystore(ks, PW)


def test_public_key_mismatch_unencrypted(tmp_path: Path, key: AgentKey) -> None:
    path = tmp_path / "k"
    write_keystore(path, key, None, encrypted=False)
    _edit(path, lambda d: d.update(public_key=_b64(generate_agent_key().public_key)))
    with pytest.raises(KeystoreCorrupted):
        read_keystore(path, None)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda d: d.update(public_key=_b64(b"x" * 31)), "public_key"),
        (lambda d: d["kdf"].update(salt=_b64(b"x" * 15)), "salt"),
        (lambda d: d["cipher"].update(nonce=_b64(b"x" * 23)), "nonce"),
        (lambda d: d["cipher"].update(ciphertext=_b64(b"x" * 47)), "ciphertext"),
        (lambda d: d["cipher"].update(nonce="not base64!"), "base64"),
        (lambda d: d["cipher"].update(nonce=123), "nonce"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(version=True), "version"),
        (lambda d: d.update(format="something-else"), "nodeapp-keystore"),
        (lambda d: d.update(encrypted="yes"), "encrypted"),
        (lambda d: d.pop("kdf"), "kdf"),
        (lambda d: d.pop("cipher"), "cipher"),
        (lambda d: d["kdf"].update(alg="scrypt"), "argon2id"),
        (lambda d: d["cipher"].update(alg="aes"), "xsalsa20poly1305"),
        (lambda d: d["kdf"].update(memlimit=8 * 1024**3), "out of range"),
        (lambda d: d["kdf"].update(memlimit=1024), "out of range"),
        (lambda d: d["kdf"].update(opslimit=0), "out of range"),
        (lambda d: d["kdf"].update(opslimit=10**12), "out of range"),
        # above libsodium's SENSITIVE cost, which is the most a keystore we write asks for:
        # opening such a file would take minutes and gigabytes before the passphrase is tried
        (lambda d: d["kdf"].update(opslimit=5), "out of range"),
        (lambda d: d["kdf"].update(memlimit=2 * 1024**3), "out of range"),
        (lambda d: d["kdf"].update(opslimit=2.0), "opslimit"),
        (lambda d: d["kdf"].update(memlimit="8192"), "memlimit"),
    ],
)
def test_corrupted_fields(ks: Path, change, words: str) -> None:
    _edit(ks, change)
    for call in (lambda: read_keystore(ks, PW), lambda: read_public_key(ks)):
        with pytest.raises(KeystoreCorrupted, match=words):
            call()


def test_unencrypted_bad_seed_length(tmp_path: Path, key: AgentKey) -> None:
    path = tmp_path / "k"
    write_keystore(path, key, None, encrypted=False)
    _edit(path, lambda d: d.update(seed=_b64(key.seed[:16])))
    with pytest.raises(KeystoreCorrupted, match="seed"):
        read_keystore(path, None)


def test_bad_kdf_cost_rejected() -> None:
    with pytest.raises(KeystoreError):
        KdfCost(0, 8192)
    with pytest.raises(KeystoreError):
        KdfCost(1, 8 * 1024**3)
    assert KdfCost.INTERACTIVE.memlimit < KdfCost.MODERATE.memlimit


# --- writing -------------------------------------------------------------------------------


def test_refuse_overwrite(ks: Path, key: AgentKey) -> None:
    before = ks.read_bytes()
    with pytest.raises(KeystoreError, match="already exists"):
        write_keystore(ks, generate_agent_key(), PW, cost=FAST)
    assert ks.read_bytes() == before
    assert [p.name for p in ks.parent.iterdir()] == [ks.name]
    other = generate_agent_key()
    write_keystore(ks, other, PW, cost=FAST, overwrite=True)
    assert read_keystore(ks, PW) == other


def test_refuse_overwrite_when_file_appears_late(ks: Path, monkeypatch) -> None:
    """The final step links the temp file into place, so a keystore created by someone else
    after the early existence check is still not replaced."""
    before = ks.read_bytes()
    monkeypatch.setattr(os.path, "lexists", lambda p: False)
    with pytest.raises(KeystoreError, match="already exists"):
        write_keystore(ks, generate_agent_key(), PW, cost=FAST)
    monkeypatch.undo()
    assert ks.read_bytes() == before
    assert [p.name for p in ks.parent.iterdir()] == [ks.name]


def test_write_without_hard_links(tmp_path: Path, key: AgentKey, monkeypatch) -> None:
    def no_link(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    path = tmp_path / "k"
    write_keystore(path, key, PW, cost=FAST)
    assert read_keystore(path, PW) == key
    with pytest.raises(KeystoreError, match="already exists"):
        write_keystore(path, key, PW, cost=FAST)
    assert [p.name for p in tmp_path.iterdir()] == ["k"]


def test_write_into_missing_directory(tmp_path: Path, key: AgentKey) -> None:
    with pytest.raises(KeystoreError, match="cannot write"):
        write_keystore(tmp_path / "nope" / "k", key, PW, cost=FAST)


def test_change_passphrase(ks: Path, key: AgentKey) -> None:
    with pytest.raises(WrongPassphrase):
        change_passphrase(ks, "bad", "new", cost=FAST)
    assert read_keystore(ks, PW) == key
    change_passphrase(ks, PW, "new one", cost=FAST)
    assert read_keystore(ks, "new one") == key
    with pytest.raises(WrongPassphrase):
        read_keystore(ks, PW)
    with pytest.raises(KeystoreError):
        change_passphrase(ks, "new one", "", cost=FAST)
    if os.name == "posix":
        assert stat.S_IMODE(ks.stat().st_mode) == 0o600


# --- resolve_passphrase --------------------------------------------------------------------


class Prompt:
    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, text: str) -> str:
        self.calls += 1
        return self.answers.pop(0)


def test_resolve_passphrase_precedence(tmp_path: Path) -> None:
    pf = tmp_path / "pw"
    pf.write_text("from-file\nsecond line\n")
    env = {"NODEAPP_PASSPHRASE": "from-env"}
    prompt = Prompt("from-prompt", "from-prompt")
    assert resolve_passphrase(passphrase_file=pf, env=env, prompt=prompt, confirm=True) \
        == "from-file"
    assert resolve_passphrase(passphrase_file=None, env=env, prompt=prompt, confirm=True) \
        == "from-env"
    assert prompt.calls == 0
    assert resolve_passphrase(passphrase_file=None, env={}, prompt=prompt, confirm=True) \
        == "from-prompt"
    assert prompt.calls == 2
    with pytest.raises(PassphraseRequired):
        resolve_passphrase(passphrase_file=None, env={}, prompt=None, confirm=False)


def test_resolve_passphrase_file_details(tmp_path: Path) -> None:
    pf = tmp_path / "pw"
    pf.write_bytes(b"crlf secret \r\n")
    assert resolve_passphrase(passphrase_file=pf, env={}, prompt=None, confirm=False) \
        == "crlf secret "
    pf.write_bytes(b"no newline")
    assert resolve_passphrase(passphrase_file=pf, env={}, prompt=None, confirm=False) \
        == "no newline"
    with pytest.raises(KeystoreError, match="missing"):
        resolve_passphrase(passphrase_file=tmp_path / "missing", env={}, prompt=None,
                           confirm=False)
    pf.write_bytes(b"first\n" + b"\xff" * 10)  # only the first line is read
    assert resolve_passphrase(passphrase_file=pf, env={}, prompt=None, confirm=False) == "first"
    # a "file" with no end of line in sight is refused after 64 KiB, not read to the end
    with pytest.raises(KeystoreError, match="over 65536 bytes"):
        resolve_passphrase(passphrase_file=Path("/dev/zero"), env={}, prompt=None,
                           confirm=False)


def test_resolve_passphrase_prompt(tmp_path: Path) -> None:
    one = Prompt("a")
    assert resolve_passphrase(passphrase_file=None, env={"NODEAPP_PASSPHRASE": ""},
                              prompt=one, confirm=False) == "a"
    assert one.calls == 1
    with pytest.raises(KeystoreError, match="passphrases do not match"):
        resolve_passphrase(passphrase_file=None, env={}, prompt=Prompt("a", "b"), confirm=True)


# --- fuzz ----------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)


def _keystore_like(draw_doc: dict, mutations: dict) -> bytes:
    doc = json.loads(json.dumps(draw_doc))
    for dotted, value in mutations.items():
        target = doc
        *parents, last = dotted.split(".")
        for p in parents:
            target = target.get(p) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[last] = value
    return json.dumps(doc).encode()


_FIELDS = ["format", "version", "public_key", "encrypted", "seed", "kdf", "kdf.alg",
           "kdf.opslimit", "kdf.memlimit", "kdf.salt", "cipher", "cipher.alg", "cipher.nonce",
           "cipher.ciphertext"]


def _check_only_keystore_errors(path: Path) -> None:
    for call in (lambda: read_keystore(path, PW), lambda: read_keystore(path, None),
                 lambda: read_public_key(path), lambda: is_encrypted(path)):
        try:
            call()
        except KeystoreError:
            pass


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_random_bytes_only_keystore_errors(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.key"
    path.write_bytes(data)
    _check_only_keystore_errors(path)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.dictionaries(st.sampled_from(_FIELDS), _json_values, max_size=3),
       encrypted=st.booleans())
def test_mutated_keystore_only_keystore_errors(tmp_path: Path, mutations: dict,
                                               encrypted: bool) -> None:
    path = tmp_path / f"base-{encrypted}.key"
    if not path.exists():
        write_keystore(path, generate_agent_key(), PW, cost=FAST, encrypted=encrypted)
    base = json.loads(path.read_text())
    fuzz = tmp_path / "mutated.key"
    fuzz.write_bytes(_keystore_like(base, mutations))
    _check_only_keystore_errors(fuzz)


def test_deeply_nested_json(tmp_path: Path) -> None:
    path = tmp_path / "deep.key"
    path.write_bytes(b"[" * 30_000 + b"]" * 30_000)
    with pytest.raises(KeystoreCorrupted):
        read_keystore(path, PW)
