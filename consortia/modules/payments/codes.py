"""What Consortia puts in EMVCo QR codes, and how it reads them back.

Merchant-presented (MPM): a merchant's static code, or an order's dynamic code, names the
merchant in merchant account template 26 = {00: "ORG.CONSORTIA", 01: merchant id}; an order's
code adds the amount (54), the order id as bill number (62.01) and the expiry (62.50). A wallet
that scans a code of another scheme reads it (names, amount) but cannot pay it here.

Consumer-presented (CPM): the wallet shows a single-use, short-lived payment token: one
application (AID ``F0434F4E534F5254``, label CONSORTIA) whose issuer data (template 63) carries
the wallet id (DF01), the expiry (DF02, ms, 8 bytes), the signer's public key (DF03), the
token counter (9F36) and, as the cryptogram (9F26), the signer's Ed25519 signature over
``b"consortia/cpm/v1" ‖ canonical_json({chain_id, wallet_id, expires_ms, counter, signer})``.
The signer is the wallet's owner key or a certified device bound to the wallet; the merchant's
terminal submits the token with the amount (``payments.charge_cpm``) and the ledger checks the
signature, the expiry and that the token was never used.
"""

from __future__ import annotations

from dataclasses import dataclass

from consortia.crypto.hashing import canonical_json, sha256
from consortia.crypto.keys import SigningKey, verify
from consortia.modules.currency.amounts import format_amount
from consortia.modules.payments.types import Merchant, Order
from consortia.qr import CONSORTIA_GUID, CpmApplication, QrError, decode, encode_cpm, encode_mpm
from consortia.qr.mpm import merchant_code
from consortia.qr.types import MerchantCode

CPM_AID = "F0434F4E534F5254"  # F0 (proprietary) + "CONSORT"
CPM_LABEL = "CONSORTIA"
CPM_DOMAIN = b"consortia/cpm/v1"
CPM_TTL_MS_MAX = 5 * 60_000  # a payment code lives at most 5 minutes
TAG_WALLET = "DF01"
TAG_EXPIRES = "DF02"
TAG_SIGNER = "DF03"


# -- merchant-presented ---------------------------------------------------------------------------

def merchant_payload(merchant: Merchant, currency_numeric: str, exponent: int,
                     order: Order | None = None) -> str:
    """The MPM payload of a merchant's static code, or of one order's dynamic code."""
    return encode_mpm(MerchantCode(
        merchant_name=merchant.name, merchant_city=merchant.city, country=merchant.country,
        mcc=merchant.mcc, currency=currency_numeric,
        amount=None if order is None else format_amount(order.amount_minor, exponent),
        account=(CONSORTIA_GUID, merchant.id),
        bill_number=None if order is None else order.order_id,
        expires_ms=None if order is None else order.expires_ms))


RECEIVE_PREFIX = "wallet:"  # a person's receive code: account id "wallet:<wallet id>"
RECEIVE_MCC = "0000"  # no merchant category: a person


def receive_payload(wallet_id: str, name: str, city: str, country: str,
                    currency_numeric: str) -> str:
    """A person's receive code (a static MPM naming a wallet instead of a merchant): whoever
    scans it sends a transfer. ``name`` and ``city`` are shown to the sender (ASCII)."""
    return encode_mpm(MerchantCode(
        merchant_name=name[:25] or wallet_id[:25], merchant_city=city[:15],
        country=country, mcc=RECEIVE_MCC, currency=currency_numeric,
        account=(CONSORTIA_GUID, RECEIVE_PREFIX + wallet_id)))


@dataclass(frozen=True)
class ScannedCode:
    """What a wallet learns from a merchant-presented code it scanned."""

    merchant_name: str
    merchant_city: str
    currency_numeric: str
    amount: str | None  # None: the payer enters it (a static code)
    merchant_id: str | None  # None: a person's code, or another scheme's (not payable here)
    order_id: str | None
    expires_ms: int | None
    warnings: tuple[str, ...]
    wallet_id: str | None = None  # a person's receive code: send a transfer to this wallet


def read_merchant_code(payload: str) -> ScannedCode:
    """Read a scanned MPM code; QrError (one clear line) when it is unreadable or not MPM."""
    decoded = decode(payload.strip())
    code = merchant_code(decoded)
    merchant_id = wallet_id = None
    if code.account is not None and code.account[0].upper() == CONSORTIA_GUID:
        if code.account[1].startswith(RECEIVE_PREFIX):
            wallet_id = code.account[1][len(RECEIVE_PREFIX):]
        else:
            merchant_id = code.account[1]
    return ScannedCode(code.merchant_name, code.merchant_city, code.currency, code.amount,
                       merchant_id, code.bill_number, code.expires_ms,
                       tuple(decoded.warnings), wallet_id)


# -- consumer-presented ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CpmToken:
    wallet_id: str
    expires_ms: int
    counter: int
    signer: str  # hex public key
    signature: bytes

    @property
    def digest(self) -> str:
        """What makes the token single-use on the ledger: the hash of its signature."""
        return sha256(CPM_DOMAIN, self.signature).hex()


def cpm_message(chain_id: str, wallet_id: str, expires_ms: int, counter: int,
                signer: str) -> bytes:
    return CPM_DOMAIN + canonical_json({"chain_id": chain_id, "wallet_id": wallet_id,
                                        "expires_ms": expires_ms, "counter": counter,
                                        "signer": signer})


def make_cpm(key: SigningKey, chain_id: str, wallet_id: str, expires_ms: int,
             counter: int) -> str:
    """A wallet's payment code, signed by ``key`` (the owner key or a bound device's)."""
    signer = key.public_key_hex
    signature = key.sign(cpm_message(chain_id, wallet_id, expires_ms, counter, signer))
    return encode_cpm(CpmApplication(
        aid=CPM_AID, label=CPM_LABEL, pan=f"{counter % 10**16:016d}", cryptogram=signature,
        atc=counter % 65_536,
        issuer_data=((TAG_WALLET, wallet_id.encode()),
                     (TAG_EXPIRES, expires_ms.to_bytes(8, "big")),
                     (TAG_SIGNER, bytes.fromhex(signer)))))


def read_cpm(payload: str) -> CpmToken:
    """The token in a scanned CPM code; QrError when it is not a Consortia payment code."""
    decoded = decode(payload.strip())
    if decoded.mode != "cpm":
        raise QrError("not a consumer-presented code")
    app = next((a for a in decoded.applications if a.aid == CPM_AID), None)
    if app is None:
        raise QrError("not a Consortia payment code (no Consortia application)")
    data = dict(app.issuer_data)
    wallet, expires, signer = data.get(TAG_WALLET), data.get(TAG_EXPIRES), data.get(TAG_SIGNER)
    if (wallet is None or expires is None or len(expires) != 8 or signer is None
            or len(signer) != 32 or app.cryptogram is None or len(app.cryptogram) != 64
            or app.pan is None or not app.pan.isdigit()):
        raise QrError("the Consortia payment code lacks its wallet, expiry, signer or "
                      "signature")
    try:
        wallet_id = wallet.decode()
    except UnicodeDecodeError:
        raise QrError("the wallet id in the payment code is not text") from None
    return CpmToken(wallet_id, int.from_bytes(expires, "big"), int(app.pan), signer.hex(),
                    app.cryptogram)


def cpm_signature_ok(token: CpmToken, chain_id: str) -> bool:
    return verify(bytes.fromhex(token.signer),
                  cpm_message(chain_id, token.wallet_id, token.expires_ms, token.counter,
                              token.signer), token.signature)
