"""Whatever a camera hands the decoder, it answers with a Decoded or a QrError, and quickly:
random text, random edits of real codes, random bytes behind base64."""

from __future__ import annotations

import base64
import contextlib
import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consortia.qr import Decoded, QrError, decode, decode_cpm, decode_mpm, encode_cpm, encode_mpm
from consortia.qr.mpm import PAYLOAD_CHARS_MAX
from tests.qr.samples import EMVCO_CPM, MPM_SAMPLES, UNIONPAY_CPM
from tests.qr.support import TEAHOUSE
from tests.qr.test_cpm import TOKEN

DEADLINE_MS = 250  # a decode takes well under a millisecond; this leaves room for a busy CI
FUZZ = settings(max_examples=400, deadline=DEADLINE_MS,
                suppress_health_check=[HealthCheck.too_slow])
VALID = [s.payload for s in MPM_SAMPLES] + [EMVCO_CPM.payload, UNIONPAY_CPM.payload,
                                             encode_mpm(TEAHOUSE), encode_cpm(TOKEN)]


def _read(payload: str) -> Decoded | None:
    """Decode in both modes; anything but QrError fails the test. The result must be JSON."""
    result = None
    for strict in (False, True):
        try:
            result = decode(payload, strict=strict)
        except QrError as exc:
            assert str(exc) and "\n" not in str(exc)
        else:
            json.dumps(result.to_json(), ensure_ascii=False)
    for decoder in (decode_mpm, decode_cpm):
        with contextlib.suppress(QrError):
            decoder(payload)
    return result


@FUZZ
@given(st.text(max_size=600))
def test_random_text(payload: str) -> None:
    _read(payload)


@FUZZ
@given(st.text(alphabet="0123456789ABCDEF.* ", max_size=300))
def test_random_digit_soup(payload: str) -> None:
    _read("0002" + payload)
    _read(payload)


@st.composite
def edited(draw: st.DrawFn) -> str:
    """A real code with a few characters flipped, inserted or deleted."""
    text = list(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["flip", "insert", "delete"]))
        char = draw(st.characters(codec="utf-8") | st.sampled_from("0123456789=+/hQ"))
        if kind == "insert" or not text:
            text.insert(at, char)
        elif kind == "flip":
            text[min(at, len(text) - 1)] = char
        else:
            del text[min(at, len(text) - 1)]
    return "".join(text)


@FUZZ
@given(edited())
def test_edited_real_codes(payload: str) -> None:
    decoded = _read(payload)
    if decoded is not None and decoded.mode == "mpm":
        # an MPM edit that still reads has a right CRC: only CRC-preserving edits get here
        assert decoded.crc is not None


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_behind_base64(data: bytes) -> None:
    _read(base64.b64encode(data).decode())
    _read(base64.b64encode(b"\x85\x05CPV01" + data).decode())


@st.composite
def ber_like(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Plausible BER-TLV: real CPM tags, lengths sometimes lying."""
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        tag = draw(st.sampled_from([b"\x4f", b"\x50", b"\x57", b"\x5a", b"\x5f\x20", b"\x61",
                                    b"\x62", b"\x63", b"\x64", b"\x9f\x26", b"\x9f\x36"]))
        if tag[0] & 0x20 and depth < 3:
            value = draw(ber_like(depth + 1))
        else:
            value = draw(st.binary(max_size=40))
        length = len(value) + draw(st.sampled_from([0, 0, 0, -1, 1, 200]))
        head = bytes([length]) if 0 <= length < 0x80 else bytes([0x81, max(0, length) % 256])
        out += tag + head + value
    return out


@FUZZ
@given(ber_like())
def test_plausible_ber_behind_cpv01(data: bytes) -> None:
    _read(base64.b64encode(b"\x85\x05CPV01" + data).decode())


def test_largest_inputs_are_read_or_refused_quickly() -> None:
    worst = [
        "0" * PAYLOAD_CHARS_MAX,  # one giant chain of 00-length… objects
        "0199" * (PAYLOAD_CHARS_MAX // 4),
        ("8104" + "0001") * (PAYLOAD_CHARS_MAX // 8),
        "hQ" + "A" * 2951,
        base64.b64encode(b"\x85\x05CPV01" + b"\x61\x02\x50\x00" * 550).decode(),
    ]
    for payload in worst:
        started = time.perf_counter()
        _read(payload)
        assert time.perf_counter() - started < 0.5, payload[:20]
