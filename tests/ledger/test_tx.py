"""The transaction envelope: canonical bytes, domain separation, ids."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consortia.crypto.keys import SigningKey, verify
from consortia.ledger.tx import TX_DOMAIN, Envelope, MalformedTx, Tx, sign, signing_message

KEY = SigningKey(bytes(range(32)))


def make_tx(**overrides: object) -> Tx:
    fields: dict[str, object] = dict(chain_id="c1", kind="notary.attest",
                                     payload={"digest": "ab" * 32, "label": "x"},
                                     signer=KEY.public_key_hex, nonce=7, valid_until_ms=1000)
    fields.update(overrides)
    return Tx(**fields)  # type: ignore[arg-type]


def test_signing_message_is_domain_separated_and_names_the_chain() -> None:
    message = signing_message(make_tx())
    assert message.startswith(TX_DOMAIN + bytes([2]) + b"c1")
    assert signing_message(make_tx(chain_id="c2")) != message


def test_tx_id_is_pinned_by_a_known_answer() -> None:
    # Changing the canonical encoding would silently change every tx id and signature:
    # this known answer makes such a change a visible test failure.
    env = Envelope(sign(make_tx(), KEY))
    assert env.tx_id.hex() == KNOWN_TX_ID
    assert env.verify_signature()


def test_json_and_msgpack_forms_give_the_same_tx_id() -> None:
    stx = sign(make_tx(payload={"z": 1, "a": [True, None, "é"], "m": {"y": 2, "b": 3}}), KEY)
    from_json = Envelope.from_json(msgspec.json.encode(stx))
    from_msgpack = Envelope.from_msgpack(msgspec.msgpack.encode(stx))
    assert from_json.tx_id == from_msgpack.tx_id
    assert from_json.verify_signature() and from_msgpack.verify_signature()


def test_payload_key_order_does_not_change_the_tx_id() -> None:
    a = Envelope(sign(make_tx(payload={"a": 1, "b": 2}), KEY))
    b = Envelope(sign(make_tx(payload={"b": 2, "a": 1}), KEY))
    assert a.tx_id == b.tx_id


def test_tampered_field_breaks_the_signature() -> None:
    stx = sign(make_tx(), KEY)
    forged = msgspec.structs.replace(stx, tx=msgspec.structs.replace(stx.tx, nonce=8))
    assert not Envelope(forged).verify_signature()


def test_signature_from_another_key_fails() -> None:
    other = SigningKey(bytes(32))
    stx = sign(make_tx(), KEY)
    wrong = msgspec.structs.replace(stx, signature=other.sign(signing_message(stx.tx)).hex())
    assert not Envelope(wrong).verify_signature()


@pytest.mark.parametrize("body", [b"", b"\x93\x01\x02", b"not msgpack", b"\xc1"])
def test_malformed_bytes_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedTx):
        Envelope.from_msgpack(body)


def test_unknown_field_is_refused() -> None:
    raw = msgspec.to_builtins(sign(make_tx(), KEY))
    raw["tx"]["extra"] = 1
    with pytest.raises(MalformedTx):
        Envelope.from_json(msgspec.json.encode(raw))


@pytest.mark.parametrize("kind", ["", "noaction", "x" * 65])
def test_bad_kind_is_refused(kind: str) -> None:
    with pytest.raises(MalformedTx):
        Envelope(sign(make_tx(kind=kind), KEY))


def test_integers_beyond_64_bits_are_refused_as_malformed() -> None:
    stx = sign(make_tx(), KEY)
    raw = msgspec.to_builtins(stx)
    raw["tx"]["payload"] = {"amount": 2**70}
    with pytest.raises(MalformedTx, match="64 bits"):
        Envelope.from_json(msgspec.json.encode(raw))


INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(st.dictionaries(st.text(max_size=8), st.one_of(INT64, st.text(max_size=8),
                                                      st.booleans(), st.none()), max_size=6),
       st.integers(min_value=0, max_value=2**63 - 1))
def test_every_payload_round_trips_with_the_same_id(payload: dict[str, object],
                                                    nonce: int) -> None:
    stx = sign(make_tx(payload=payload, nonce=nonce), KEY)
    env = Envelope(stx)
    again = Envelope.from_json(msgspec.json.encode(stx))
    assert again.tx_id == env.tx_id
    assert verify(KEY.public_key, again.message, bytes.fromhex(stx.signature))


KNOWN_TX_ID = "f11b2ba903facdaa09dde3ab6881d2c7cb114596176f33959002efa85690421e"
