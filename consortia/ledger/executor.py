"""Deterministic execution of an ordered batch: every node computes the same results.

Per tx, in order:
1. drop (no leaf, no result) what no node can attribute to a signer: undecodable bytes, another
   chain's tx, a bad signature. Dropping rather than recording keeps a forged copy from using up
   the tx id of a genuine tx (tx ids do not cover the signature);
2. skip a tx id already executed (a tx submitted twice executes once);
3. reject an expired tx, one valid for longer than ``tx_validity_ms_max``, an unknown kind, a
   payload of the wrong shape, or a device that is not admitted;
4. otherwise apply the module action on a tx overlay, kept only if the action accepted it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from consortia.ledger.genesis import Genesis
from consortia.ledger.module import Action, Module, action_table
from consortia.ledger.params import read_param
from consortia.ledger.result import ACCEPTED, REJECTED, Rejected, TxResult
from consortia.ledger.state import GOVERNANCE_SIGNER, Context, Overlay
from consortia.ledger.tx import DeviceCredential, Envelope, MalformedTx

log = logging.getLogger(__name__)

GENESIS_SIGNER = "genesis"
CODE_CHARS_MAX = 64
MESSAGE_CHARS_MAX = 300

# Decides whether a device credential may act at this block; raises Rejected if not.
DeviceAdmission = Callable[[Context, DeviceCredential], None]


class Executed(NamedTuple):
    envelope: Envelope
    result: TxResult


class ExecutedBatch(NamedTuple):
    executed: list[Executed]
    dropped: int


class Executor:
    def __init__(self, chain_id: str, modules: list[Module],
                 device_admission: DeviceAdmission | None = None) -> None:
        self.chain_id = chain_id
        self.modules = modules
        self.actions: dict[str, Action] = action_table(modules)
        # The module that certifies devices (certification) provides the admission rule.
        hooks = [m.admit_device for m in modules if hasattr(m, "admit_device")]
        assert len(hooks) <= 1, "only one module may admit devices"
        self.device_admission = device_admission or (hooks[0] if hooks else None)

    def genesis(self, overlay: Overlay, genesis: Genesis) -> None:
        ctx = Context(overlay=overlay, chain_id=self.chain_id, height=0, time_ms=genesis.time_ms,
                      seed=genesis.digest(), tx_id=genesis.digest(), signer=GENESIS_SIGNER,
                      kind="genesis", invoker=self._invoke)
        for module in self.modules:
            module.init_genesis(ctx, genesis)

    def execute(self, block: Overlay, items: list[Envelope | bytes], *, height: int,
                time_ms: int, seed: bytes, already_executed: Callable[[bytes, int], bool],
                ) -> ExecutedBatch:
        """Execute ``items`` in order over the block overlay ``block``."""
        executed: list[Executed] = []
        seen: set[bytes] = set()
        dropped = 0
        validity_ms_max: int = read_param(block, "tx_validity_ms_max")
        for item in items:
            envelope = self._admit(item)
            if envelope is None:
                dropped += 1
                continue
            tx_id = envelope.tx_id
            tx = envelope.tx
            if tx_id in seen or already_executed(tx_id, tx.valid_until_ms):
                continue
            seen.add(tx_id)

            def rejected(code: str, message: str, kind: str = tx.kind) -> TxResult:
                return TxResult(REJECTED, code, message, kind, height, time_ms)

            if tx.valid_until_ms < time_ms:
                result = rejected("expired", f"tx expired at {tx.valid_until_ms} ms, "
                                  f"block time is {time_ms} ms")
            elif tx.valid_until_ms - time_ms > validity_ms_max:
                result = rejected("validity_too_long", f"valid_until_ms may be at most "
                                  f"{validity_ms_max} ms after block time")
            else:
                result = self._apply(block, envelope, height, time_ms, seed)
            executed.append(Executed(envelope, result))
        return ExecutedBatch(executed, dropped)

    def _invoke(self, parent: Context, kind: str, payload: dict[str, Any], dry_run: bool,
                ) -> dict[str, Any] | None:
        """Run ``kind`` as the consortium on a nested overlay of ``parent``'s."""
        action = self.actions.get(kind)
        if action is None:
            raise Rejected("unknown_kind", f"no action {kind!r} on this chain")
        try:
            typed: Any = msgspec.convert(payload, action.payload_type)
        except msgspec.ValidationError as exc:
            raise Rejected("bad_payload", str(exc)[:MESSAGE_CHARS_MAX]) from None
        overlay = Overlay(parent.overlay)
        child = Context(overlay=overlay, chain_id=parent.chain_id, height=parent.height,
                        time_ms=parent.time_ms, seed=parent.seed, tx_id=parent.tx_id,
                        signer=GOVERNANCE_SIGNER, kind=kind, invoker=self._invoke)
        data = action.apply(child, typed)
        if not dry_run:
            overlay.merge_into_base()
        return data

    def _admit(self, item: Envelope | bytes) -> Envelope | None:
        if isinstance(item, bytes):
            try:
                item = Envelope.from_msgpack(item)
            except MalformedTx:
                return None
        if item.tx.chain_id != self.chain_id or not item.verify_signature():
            return None
        return item

    def _apply(self, block: Overlay, envelope: Envelope, height: int, time_ms: int,
               seed: bytes) -> TxResult:
        tx = envelope.tx
        action = self.actions.get(tx.kind)
        if action is None:
            return TxResult(REJECTED, "unknown_kind", f"no action {tx.kind!r} on this chain",
                            tx.kind, height, time_ms)
        try:
            payload: Any = msgspec.convert(tx.payload, action.payload_type)
        except msgspec.ValidationError as exc:
            return TxResult(REJECTED, "bad_payload", str(exc)[:MESSAGE_CHARS_MAX], tx.kind,
                            height, time_ms)
        overlay = Overlay(block)
        ctx = Context(overlay=overlay, chain_id=self.chain_id, height=height, time_ms=time_ms,
                      seed=seed, tx_id=envelope.tx_id, signer=tx.signer, kind=tx.kind,
                      device=tx.device, invoker=self._invoke)
        try:
            if tx.device is not None:
                if self.device_admission is None:
                    raise Rejected("device_not_admitted",
                                   "this chain admits no device credentials yet")
                self.device_admission(ctx, tx.device)
            data = action.apply(ctx, payload)
        except Rejected as exc:
            # Messages land in every receipt; bound them so input echoed back stays small.
            return TxResult(REJECTED, exc.code[:CODE_CHARS_MAX], exc.message[:MESSAGE_CHARS_MAX],
                            tx.kind, height, time_ms)
        except Exception as exc:
            # A bug in module logic must not halt the chain; the same code fails the same way
            # on every node, so recording it keeps them in agreement.
            log.exception("action %s failed on tx %s", tx.kind, envelope.tx_id.hex())
            return TxResult(REJECTED, "internal_error", exc.__class__.__name__, tx.kind, height,
                            time_ms)
        overlay.merge_into_base()
        return TxResult(ACCEPTED, "ok", "", tx.kind, height, time_ms, data or {})

