"""App validation dispatch: which integrity zome judges an op, and with what view of it.

Rules:
* Create/Update ops go to the zome that declares the entry type, with the entry decoded into its
  model when the op carries it (StoreRecord, StoreEntry); a private entry only on its author's
  node, the one place it exists. An entry that does not decode into its
  model is Invalid without asking the zome.
* CreateLink goes to the zome that declares the link type; Delete and DeleteLink go to the zome
  of the action they remove (so the dependency must be fetched: Unresolved until it is).
* Genesis actions are shown to every zome; the first non-Valid answer stands.
* A zome sees only the op types it declares in ``validated_ops`` (all by default).
* A zome's ``validate`` that raises is Invalid, naming the exception: deterministic code fails
  the same way on every node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nodeapp._core.actions import (
    ENTRY_ACTIONS,
    Create,
    CreateLink,
    Delete,
    DeleteLink,
    SignedAction,
    Update,
    Visibility,
)
from nodeapp._core.integrity import (
    VALID,
    IntegrityZome,
    Invalid,
    MissingDependency,
    Op,
    Unresolved,
    Valid,
    ValidateContext,
    ValidateResult,
    decode_entry,
)
from nodeapp._core.ops import OpType
from nodeapp.errors import MalformedData

_OPS_WITH_ENTRY = (OpType.STORE_RECORD, OpType.STORE_ENTRY)
# read once: an enum member read through its class costs ~70 ns in Python 3.11, and these
# are compared for every record received
_PUBLIC = Visibility.PUBLIC


def app_validate(op_types: Sequence[OpType], signed: SignedAction, entry: bytes | None,
                 zomes: Sequence[IntegrityZome], ctx: ValidateContext) -> ValidateResult:
    """Run the right zome's ``validate`` on each of an action's ops (the entry is decoded once);
    the first answer that is not Valid stands."""
    try:
        action = signed.action
        if isinstance(action, ENTRY_ACTIONS):
            return _validate_entry_action(op_types, signed, action, entry, zomes, ctx)
        for op_type in op_types:
            result = _dispatch(op_type, signed, zomes, ctx)
            if type(result) is not Valid:
                return result
        return VALID
    except MissingDependency as missing:
        dep = missing.dep  # a zome may raise it too, with anything
        if type(dep) is bytes and len(dep) == 32:
            return Unresolved((dep,))
        return Invalid("a MissingDependency raised in validation names no 32-byte hash")


def _validate_entry_action(op_types: Sequence[OpType], signed: SignedAction,
                           action: Create | Update, entry: bytes | None,
                           zomes: Sequence[IntegrityZome], ctx: ValidateContext
                           ) -> ValidateResult:
    """Create/Update: the zome that declares the entry type judges the ops it validates."""
    zome = zomes[action.zome_index]
    entry_def = zome.entry_defs[action.entry_type_index]
    model = None
    if entry is not None:  # decoded even if no op is judged: it must be a valid entry
        try:
            model = decode_entry(entry, entry_def)
        except MalformedData as exc:
            return Invalid(f"entry is not a valid {entry_def.name}: {exc}")
    for op_type in op_types:
        # a private entry never travels: peers judge its record without it, and only its
        # author's node (which holds it) can check its content. A public entry's record is
        # held with its entry, whether or not the zome looks at it: a record that only
        # claims an entry hash must not pass for one whose bytes are held
        with_entry = op_type in _OPS_WITH_ENTRY and (action.visibility == _PUBLIC
                                                     or model is not None)
        if with_entry and model is None:
            return Unresolved((action.entry_hash,))
        if op_type not in zome.validated_ops:
            continue
        if with_entry:
            op = Op(op_type, signed, entry=model, entry_def=entry_def)
        else:
            op = Op(op_type, signed, entry_def=entry_def)
        result = _call(zome, op, ctx)
        if type(result) is not Valid:
            return result
    return VALID


def _dispatch(op_type: OpType, signed: SignedAction, zomes: Sequence[IntegrityZome],
              ctx: ValidateContext) -> ValidateResult:
    action = signed.action
    if isinstance(action, CreateLink):
        zome = zomes[action.zome_index]
        return _run(zome, Op(op_type, signed, link_def=zome.link_defs[action.link_type_index]),
                    ctx)
    if isinstance(action, Delete | DeleteLink):
        target = action.deletes_action if isinstance(action, Delete) else action.link_add_address
        removed = ctx.must_get_action(target).action
        if isinstance(action, Delete) and not isinstance(removed, Create | Update):
            return Invalid("a Delete must remove a Create or Update")
        if isinstance(action, DeleteLink) and not isinstance(removed, CreateLink):
            return Invalid("a DeleteLink must remove a CreateLink")
        return _run(zomes[removed.zome_index], Op(op_type, signed), ctx)  # type: ignore[attr-defined]
    for zome in zomes:  # genesis and CloseChain/OpenChain: every zome may object
        result = _run(zome, Op(op_type, signed), ctx)
        if type(result) is not Valid:
            return result
    return VALID


def _run(zome: IntegrityZome, op: Op, ctx: ValidateContext) -> ValidateResult:
    if op.op_type not in zome.validated_ops:
        return VALID
    return _call(zome, op, ctx)


def _call(zome: IntegrityZome, op: Op, ctx: ValidateContext) -> ValidateResult:
    # called untyped: the compiled build would otherwise turn a wrong answer into a TypeError
    validate: Any = zome.validate
    try:
        result: object = validate(op, ctx)
    except MissingDependency:
        raise
    except Exception as exc:  # noqa: BLE001 - zome code is untrusted for its failure mode
        return Invalid(f"{zome.name}.validate raised {type(exc).__name__}: {exc}")
    if type(result) is Valid:  # the usual answer: no need to build the name the others cite
        return VALID
    return _checked(f"{zome.name}.validate", result)


def _checked(source: str, result: Any) -> ValidateResult:
    """A zome's answer as a verdict every node reads alike. A malformed one (no verdict, a
    reason that is not text, deps that are not 32-byte hashes) is the zome's bug, judged as if
    it had raised: Invalid. Read untyped, so the compiled build sees what the source build
    sees (docs/architecture.md)."""
    kind = type(result)
    if kind is Valid:
        return VALID
    if kind is Invalid:
        if type(result.reason) is str:
            return Invalid(result.reason)
        return Invalid(f"{source} gave an Invalid whose reason is not text")
    if kind is Unresolved:
        deps = result.deps
        if type(deps) is tuple and deps and all(type(d) is bytes and len(d) == 32 for d in deps):
            return Unresolved(deps)
        return Invalid(f"{source} gave an Unresolved whose deps are not 32-byte hashes")
    return Invalid(f"{source} returned {kind.__name__}, not Valid, Invalid or Unresolved")
