"""Published EMVCo codes, copied character for character, each with where it was published.

Every CRC below was checked with consortia.qr.crc; the two that do not match are kept as they
were published and say so.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    name: str
    payload: str
    source: str
    warnings: tuple[str, ...] = ()  # start of each warning the lenient decoder must give


# --- merchant-presented, readable -----------------------------------------------------------

EMVCO_MPM = Sample(
    "EMVCo MPM specification example (UnionPay GUIDs D156…, a Chinese name in template 64)",
    "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678"
    "520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京"
    "540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988"
    "770708123456786304A13A",
    "EMVCo QRCPS-MPM v1.0 example; as in mvallim/emv-qrcode README.md and "
    "src/test/java/com/emv/qrcode/core/CRCTest.java, mercari/go-emv-code "
    "mpm/jpqr/jpqr_test.go")

MPM_SAMPLES = [
    EMVCO_MPM,
    Sample(
        "EMVCo example re-ordered, with unreserved templates 80 and 81",
        "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678"
        "520441115303156540523.725502015802CN5914BEST TRANSPORT6007BEIJING6233030412340603"
        "***0708A60086670902ME64200002ZH0104最佳运输0202北京8036003239401ff0c21a4543a8ed5fb"
        "aa30ab02e81360032c2fbf6dd646f4f36b617f10747c0b96163046F32",
        "mercari/go-emv-code mpm/emv_test.go (emvSamplePayload)"),
    Sample(
        "JPQR (Japan), Mercari's merpay, city and name redacted to 'xxx', katakana in 64",
        "0002016003xxx01021129300012D156000000000510A93FO3230Q31280012D156000000010308123456"
        "7826680019jp.or.paymentsjapan01130000000000001020400010306000001040600000153033925"
        "903xxx64180002JA0108メルペイ カフェ520441115802JP610710661436304DEE9",
        "mercari/go-emv-code mpm/jpqr/jpqr_test.go"),
    Sample(
        "SGQR (Singapore), SOBA EXPRESS: NETS in 26 and the SGQR id in 51",
        "00020101021126810011SG.COM.NETS01231198500065G9912312359000211111686614000308686614"
        "019908604108C251800007SG.SGQR01121809072DD85C020701.0001030607902704020105020606040"
        "000070820180915520458125303702580" "2SG5912SOBA EXPRESS6009Singapore630457B3",
        "zionsg/sgqr-parser test/SgQr/ParserTest.php (from a Channel NewsAsia article, 2018)"),
    Sample(
        "SGQR (Singapore), President's Challenge charity, an apostrophe in the name",
        "00020101021126810011SG.COM.NETS01231198500065G9912312359000211111895264000308895264"
        "019908735A43CF51800007SG.SGQR01121809172E1FE7020701.000103062796210402010502020604"
        "0000070820180917520400005303702580" "2SG5925PRESIDENT'S CHALLENGE NO16009Singapore"
        "63048DCC",
        "zionsg/sgqr-parser test/SgQr/ParserTest.php (from nets.com.sg, 2018)"),
    Sample(
        "PayNow (Singapore) from the POSB app, modified, with a template 62.50",
        "00020101021126500009SG.PAYNOW010100211+6512345678030100408203012315204000053037025"
        "4071234.565802SG5902ME6009Singapore62290106BILLNO50150004TEST0103ABC6304B301",
        "zionsg/sgqr-parser test/SgQr/ParserTest.php; its comment says 'hence CRC invalid', "
        "but B301 is the right CRC of this text"),
    Sample(
        "PromptPay (Thailand), phone number, static: no 52, 59 or 60",
        "00020101021129370016A000000677010111011300668012345675802TH530376463046197",
        "dtinth/promptpay-qr index.test.js",
        ("ID 52 (MCC) is missing", "ID 59 (merchant name) is missing",
         "ID 60 (merchant city) is missing")),
    Sample(
        "PromptPay (Thailand), with an amount (dynamic)",
        "00020101021229370016A000000677010111011300660000000005802TH530376454044.226304E469",
        "dtinth/promptpay-qr index.test.js",
        ("ID 52 (MCC) is missing", "ID 59 (merchant name) is missing",
         "ID 60 (merchant city) is missing")),
    Sample(
        "PromptPay (Thailand), a person's code with amount 6000.00",
        "00020101021129370016A000000677010111011300669245317755802TH54076000.0053037646304"
        "9B3B",
        "tanat44/useful-script node/thaiqrpayment/crcgen.js ('original')",
        ("ID 52 (MCC) is missing", "ID 59 (merchant name) is missing",
         "ID 60 (merchant city) is missing")),
    Sample(
        "QRIS (Indonesia), ShopeePay, dynamic: no 52",
        "00020101021226380016ID.CO.SHOPEE.WWW010201020815863724530336054061440005802ID5921PT."
        " SHOPPEE INDONESIA6007JAKARTA62180814gen by go-qris63049635",
        "sunary/qris README.md",
        ("ID 52 (MCC) is missing",)),
    Sample(
        "VietQR (Vietnam), NAPAS IBFT v1.5.2 specification's dynamic example",
        "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA53037045406"
        "1800005802VN62340107NPS68690819thanh toan don hang63042E2E",
        "binhnguyenduc/vietqr-ts tests/compliance/napas-dynamic-account.test.ts (quoting the "
        "NAPAS spec)",
        ("ID 52 (MCC) is missing", "ID 59 (merchant name) is missing",
         "ID 60 (merchant city) is missing")),
    Sample(
        "VietQR (Vietnam), NAPAS specification's static example as printed (its nested 38.01 "
        "length is off by one inside NAPAS's own sub-template; EMVCo levels and CRC are right)",
        "00020101021138570010A00000072701270006970403011200110123456780208QRIBFTTA5303704580"
        "2VN6304F4E5",
        "binhnguyenduc/vietqr-ts tests/compliance/napas-static-account.test.ts (header)",
        ("ID 52 (MCC) is missing", "ID 59 (merchant name) is missing",
         "ID 60 (merchant city) is missing")),
    Sample(
        "DuitNow (Malaysia), RHB P2P RM1.00: format indicator 02, template 82 a bare signature",
        "00020201021226580014A000000615000101065641600226221217000072525RHBQR00000052040000530"
        "3458540115802MY5912HOH HUN YUEN6002MY82649574E3E39536D3AEA8B570F607C5BCCB489EFDCBB0F"
        "B1EFCB0FFA8D86E38A30263044C49",
        "jaronhoh/Dynamics-DuitNow-QR-study-material samples/rhb-p2p-official-samples.md",
        ("template 82 is not made of data objects",
         "ID 00 (payload format indicator) is '02'")),
    Sample(
        "DuitNow (Malaysia), RHB P2P RM0.05",
        "00020201021226580014A000000615000101065641600226221217000072525RHBQR00000052040000530"
        "345854040.055802MY5912HOH HUN YUEN6002MY826467CD0FED69A253E4A50378658CFDF0E5059614C"
        "F31B5957AF0F91B8D2CD07C67630423F3",
        "jaronhoh/Dynamics-DuitNow-QR-study-material samples/rhb-p2p-official-samples.md",
        ("template 82 is not made of data objects",
         "ID 00 (payload format indicator) is '02'")),
    Sample(
        "FPS (Hong Kong), phone proxy, HKD 100, bill INV/TEST/0001",
        "00020101021226330012hk.com.hkicl0313+852-6789123452040000530334454031005802HK5914"
        "company_1_data6002HK62170513INV/TEST/00016304A154",
        "odoo/odoo addons/l10n_hk/tests/test_l10n_hk_emv_qr.py"),
    Sample(
        "Bharat QR (India): Visa, Mastercard, RuPay, IFSC/account and two UPI templates",
        "000201010212021643926300000000850415540461000000008061661005900000000890827YESB0CMSN"
        "OC222333004882700126430010A0000005240117razorpaybqr@icici02041.1027350010A000000524"
        "0117RZPGT8ildsFTgS5Sp52047531530335654041.105802IN5906zxcbmn6005Delhi61061100856230"
        "0514GT8ildsFTgS5Sp070838R004506304B6A9",
        "Razorpay QR code API documentation ('For Bharat QR'), as copied in public GitHub "
        "files (found by exact-string search)"),
    Sample(
        "Pix (Brazil), Banco Central's static example: no point of initiation",
        "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865"
        "802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D",
        "Banco Central do Brasil, Manual de Padrões para Iniciação do Pix (BR Code example)",
        ("the point of initiation (ID 01) is missing",)),
]

# --- merchant-presented, unreadable as published ---------------------------------------------

STALE_FPS = Sample(
    "FPS (Hong Kong) sample, FPS ID 9999999, HKD 123: its CRC is stale",
    "00020101021226270012hk.com.hkicl0207999999952040000530334454031235802HK5902NA6002HK"
    "630484E1",
    "circulates in public FPS QR libraries as a template; a public FPS test script notes its "
    "CRC 84E1 is stale and the right one is D1A3 (our decoder agrees)")

# --- consumer-presented ----------------------------------------------------------------------

EMVCO_CPM = Sample(
    "EMVCo CPM specification example: two applications, common data template 62 with 64",
    "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDk"
    "NBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==",
    "EMVCo QRCPS-CPM example; as in mvallim/emv-qrcode "
    "src/test/java/com/emv/qrcode/decoder/cpm/ConsumerPresentedModeDecoderTest.java")

UNIONPAY_CPM = Sample(
    "UnionPay International CPQRC: track 2 (57) and a transparent template 63",
    "hQVDUFYwMWFYTwigAAADMwEBAVcTYpJhA1hEQzVkHSIQIBAAABiAH180AQBjM58mCFaLEtnaC9l/nycBgJ8QEQ"
    "cAAQOgAAABCDM5OTk5OTk5nzYCAAGCAgAAnzcE6gZYyA==",
    "emvCpqrcPayload of a UnionPay QRC API test (AdditionalProcessingResultTest) in a public "
    "GitHub file found by exact-string search")

BAD_LENGTH_CPM = Sample(
    "QRIS CPM sample whose template 61 has length byte 93 (not valid BER: 147 needs 81 93)",
    "hQVDUFYwMWGTTwegAAAGAiAgUAdxcmlzY3BtWgqTYAUDMSNFZ4mfXyALUmlraSBEZXJpYW5fLQRpZGVuX1AXcm"
    "lraS5kZXJpYW5AcXJpc2NwbS5jb22fJQJ4mWM/n3Q8MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIz"
    "NDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw",
    "a Go QRIS test (cpmTestData) in a public GitHub file found by exact-string search")
