"""Declaring coordinator functions: one typed input, one output.

A coordinator module builds ``COORDINATOR = Coordinator(integrity_zome)`` and decorates its
functions with ``@COORDINATOR.function``. Each function takes the :class:`~nodeapp.zome_api.ZomeApi`
and at most one input, a pydantic model; the conductor parses the caller's JSON into that model,
so a wrong input is refused before the function runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from nodeapp._core.hashing import Hash
from nodeapp._core.integrity import IntegrityZome
from nodeapp.errors import ZomeCallError


@dataclass(frozen=True)
class ZomeFunction:
    """A callable zome function and its input model (None when it takes no input)."""

    name: str
    fn: Callable[..., Any]
    input_model: type[BaseModel] | None
    remote: bool = False  # peers may call it (read-only; ``api.caller`` names them)

    def parse_input(self, payload: Any) -> BaseModel | None:
        """Turn the caller's JSON-like payload into the typed input, or refuse it clearly."""
        if self.input_model is None:
            if payload not in (None, {}):
                raise ZomeCallError(f"{self.name} takes no input")
            return None
        if isinstance(payload, self.input_model):
            return payload
        try:
            # the compiled validator, called directly: model_validate wraps the same call
            # in ~1.5 us of Python, once per zome call
            return self.input_model.__pydantic_validator__.validate_python(payload)  # type: ignore[no-any-return]
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
            )
            raise ZomeCallError(f"bad input for {self.name}: {problems}") from exc


class Coordinator:
    """The callable functions of one zome."""

    def __init__(self, integrity: IntegrityZome) -> None:
        self.integrity = integrity
        self.functions: dict[str, ZomeFunction] = {}

    @property
    def name(self) -> str:
        """Same name as the integrity zome it writes through."""
        return self.integrity.name

    def function(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``fn(api[, input])`` as callable by this node's own user."""
        return self._register(fn, remote=False)

    def remote(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``fn(api[, input])`` as callable by peers too. It runs on this node with
        ``api.caller`` set to the calling agent and may not write: a peer can ask this node a
        question (say, for private data it was granted), never act as its agent."""
        return self._register(fn, remote=True)

    def _register(self, fn: Callable[..., Any], *, remote: bool) -> Callable[..., Any]:
        params = list(inspect.signature(fn).parameters)
        if not 1 <= len(params) <= 2:
            raise TypeError(f"{fn.__name__} must take (api) or (api, input)")
        model = None
        if len(params) == 2:
            model = get_type_hints(fn).get(params[1])
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise TypeError(f"{fn.__name__}'s input must be annotated with a pydantic model")
        self.functions[fn.__name__] = ZomeFunction(fn.__name__, fn, model, remote)
        return fn

    def get(self, name: str) -> ZomeFunction:
        """A function by name, or ZomeCallError listing what exists."""
        found = self.functions.get(name)
        if found is None:
            known = ", ".join(sorted(self.functions)) or "none"
            raise ZomeCallError(f"zome {self.name!r} has no function {name!r} (it has: {known})")
        return found


def to_jsonable(value: Any) -> Any:
    """A zome function's output as plain JSON data (hashes as their printable form)."""
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="python"))
    if isinstance(value, Hash):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value
