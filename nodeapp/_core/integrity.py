"""The integrity-zome interface: closed sets of types and a pure ``validate``.

Rules:
* An integrity zome declares its entry types (pydantic models, each public or private) and its
  link types, once and in order: actions refer to them by index, so the order is part of the DNA.
* ``validate(op, ctx)`` returns :class:`Valid`, :class:`Invalid` (a reason a person can read) or
  :class:`Unresolved` (hashes it needs but cannot see yet). It may read only through ``ctx``'s
  ``must_get_*`` methods, which are deterministic: the same op gives the same answer on every node.
* Before ``validate`` runs, system validation has already checked the signature, the chain
  position (seq, prev, timestamp), the entry hash and size, and that the types are declared; and
  the entry has been decoded into its model (a decode failure is Invalid without calling the zome).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from nodeapp._core.actions import Action, Create, DeleteLink, SignedAction, Update, Visibility
from nodeapp._core.canonical import contains_float, decode_hashed, encode
from nodeapp._core.limits import ENTRY_BYTES_MAX
from nodeapp._core.ops import OpType
from nodeapp.errors import MalformedData


@dataclass(frozen=True)
class Valid:
    """The op obeys the zome's rules."""


@dataclass(frozen=True)
class Invalid:
    """The op breaks a rule; ``reason`` names it."""

    reason: str


@dataclass(frozen=True)
class Unresolved:
    """Validation needs these hashes first; try again when they are held."""

    deps: tuple[bytes, ...]


ValidateResult = Valid | Invalid | Unresolved
VALID = Valid()


class MissingDependency(Exception):
    """Raised by ``must_get_*`` when the data is not held; the dispatcher turns it into
    :class:`Unresolved`. Zome code should let it propagate."""

    def __init__(self, dep: bytes) -> None:
        super().__init__(dep.hex() if isinstance(dep, bytes | bytearray) else repr(dep))
        # typed object: zome code may raise it with anything, and the dispatcher checks it
        self.dep: object = dep


@dataclass(frozen=True)
class Record:
    """An action with its entry bytes (None when it has none or the entry is not held)."""

    signed: SignedAction
    entry: bytes | None


class ValidateContext(Protocol):
    """Deterministic reads available to ``validate``; each raises MissingDependency."""

    def must_get_action(self, action_hash: bytes) -> SignedAction: ...

    def must_get_entry(self, entry_hash: bytes) -> bytes: ...

    def must_get_valid_record(self, action_hash: bytes) -> Record: ...

    def must_get_agent_activity(self, author: bytes, until_hash: bytes) -> Sequence[SignedAction]:
        """The author's chain from genesis up to and including ``until_hash``."""
        ...

    @property
    def dna_properties(self) -> dict[str, Any]: ...

    @property
    def zome_names(self) -> tuple[str, ...]:
        """The DNA's integrity zomes by index: which zome wrote an action a rule cites."""
        ...


@dataclass(frozen=True)
class EntryDef:
    """One entry type: its name, its model and whether it is published."""

    name: str
    model: type[BaseModel]
    visibility: Visibility = Visibility.PUBLIC


@dataclass(frozen=True)
class LinkDef:
    """One link type."""

    name: str


class Op(NamedTuple):
    """What ``validate`` sees: the op type, the action and (for entry ops) the decoded entry.
    A named tuple: immutable, and cheap to build (one per op judged)."""

    op_type: OpType
    signed: SignedAction
    entry: BaseModel | None = None
    entry_def: EntryDef | None = None
    link_def: LinkDef | None = None

    @property
    def action(self) -> Action:
        """The action behind the op."""
        return self.signed.action

    @property
    def author(self) -> bytes:
        """Who wrote it."""
        return self.signed.action.author


Validator = Callable[[Op, ValidateContext], ValidateResult]


@dataclass(frozen=True)
class IntegrityZome:
    """An integrity zome: types and validation, nothing callable."""

    name: str
    version: str
    entry_defs: tuple[EntryDef, ...]
    link_defs: tuple[LinkDef, ...]
    validate: Validator
    # the op types ``validate`` judges; others are valid for this zome without a call
    validated_ops: frozenset[OpType] = frozenset(OpType)
    _entry_index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._entry_index.update({d.name: i for i, d in enumerate(self.entry_defs)})
        for entry_def in self.entry_defs:
            _refuse_float_fields(entry_def.model)

    def entry_type_index(self, name: str) -> int:
        """Index of an entry type by name."""
        return self._entry_index[name]

    def link_type_index(self, name: str) -> int:
        """Index of a link type by name."""
        for index, link in enumerate(self.link_defs):
            if link.name == name:
                return index
        raise KeyError(name)


def must_get_entry_of(ctx: ValidateContext, action_hash: bytes, zome: IntegrityZome,
                      entry_type: str) -> tuple[SignedAction, BaseModel] | None:
    """The valid record at ``action_hash`` with its entry decoded, if that action wrote an entry
    of type ``entry_type`` of ``zome`` (which may be another zome of the DNA); None if it wrote
    anything else. For rules that cite evidence (a role assignment, a commitment): raises
    MissingDependency, so validation is Unresolved, until the record is held."""
    record = ctx.must_get_valid_record(action_hash)
    action = record.signed.action
    index = zome.entry_type_index(entry_type)
    if (not isinstance(action, Create | Update) or record.entry is None
            or action.zome_index >= len(ctx.zome_names)
            or ctx.zome_names[action.zome_index] != zome.name
            or action.entry_type_index != index):
        return None
    try:
        return record.signed, decode_entry(record.entry, zome.entry_defs[index])
    except MalformedData:
        return None


def deleted_by_link_creator(ctx: ValidateContext, action: DeleteLink) -> bool:
    """Whether a DeleteLink's author also created the link it removes (the usual rule: only
    a link's creator deletes it). MissingDependency until the CreateLink is held."""
    return ctx.must_get_action(action.link_add_address).action.author == action.author


def _refuse_float_fields(model: type[BaseModel]) -> None:
    """Validated state holds no floats: quantities are integers in declared units."""
    if "'type': 'float'" in repr(model.__pydantic_core_schema__):
        raise TypeError(f"{model.__name__} declares a float field; use an integer with a unit")


def _may_hold_float(data: bytes) -> bool:
    # CBOR floats start with 0xf9/0xfa/0xfb; without those bytes anywhere there is none, and
    # the search runs in C, so the walk below only runs when a byte string happens to hold one.
    # Byte values as ints: CPython 3.11 tries to read a needle as an int first, and a bytes
    # needle makes it raise and discard a TypeError (~130 ns each time, whatever the length)
    return 0xF9 in data or 0xFA in data or 0xFB in data


def encode_entry(model: BaseModel) -> bytes:
    """Canonical bytes of an entry model."""
    return encode(model.model_dump(mode="python"))


def decode_entry(data: bytes, entry_def: EntryDef) -> BaseModel:
    """Decode entry bytes into their model; anything wrong is MalformedData.

    Entry models may not declare floats (checked when the zome is built); a float offered for
    an int field is refused here rather than silently rounded."""
    value = decode_hashed(data, size_max=ENTRY_BYTES_MAX)
    if _may_hold_float(data) and contains_float(value):
        raise MalformedData(f"{entry_def.name} holds a float; ledger data holds integers")
    try:
        # the model's compiled validator, called directly: model_validate adds ~1.5 us of
        # Python around the same call, once per received entry
        return entry_def.model.__pydantic_validator__.validate_python(value)  # type: ignore[no-any-return]
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MalformedData(f"{entry_def.name}.{where}: {first['msg']}") from exc
