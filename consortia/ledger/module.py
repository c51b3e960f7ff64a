"""How the executor sees a module: named actions with typed payloads, and a genesis hook."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

from consortia.ledger.genesis import Genesis
from consortia.ledger.state import Context


class Action(NamedTuple):
    """One ``module.action``: its payload type and the pure function that applies it.

    ``apply`` returns result data (JSON-compatible, no floats) or None, and raises
    ``Rejected(code, message)`` to refuse the tx.
    """

    payload_type: type[Any]
    apply: Callable[[Context, Any], dict[str, Any] | None]


class Module(Protocol):
    """A module. One whose txs are private (``private = True``, e.g. currency) also has
    ``may_view(state, tx, viewer_key) -> bool`` for parties other than the signer and the
    regulator (an operator bank viewing its wallets' txs, say)."""

    name: str
    actions: Mapping[str, Action]

    def init_genesis(self, ctx: Context, genesis: Genesis) -> None: ...


def action_table(modules: list[Module]) -> dict[str, Action]:
    """``{"module.action": Action}`` for every action of every module."""
    table: dict[str, Action] = {}
    for module in modules:
        for name, action in module.actions.items():
            kind = f"{module.name}.{name}"
            assert kind not in table, f"duplicate action {kind}"
            table[kind] = action
    return table
