// The CFP registry pages' proofs, checked in this browser (WebCrypto) with the explorer's
// receipt verifier: "was this certificate valid at T?" and a scanned mark.
// Everything is written with textContent: nothing from the node is ever parsed as HTML.

import { bytesToHex, canonicalJson, parseJson, verifyReceipt } from "./receipt.js";
import { showChecks, showVerdict } from "./check-list.js";

const PIN_STORAGE_KEY = "consortia.pinnedNodeKey"; // the key pinned on /explorer/verify
const ANSWER_CHARS_MAX = 1_000_000; // real answers are ~8 KB
const MARK_DOMAIN = "consortia/cfp-mark/v1";
const PUBLISH_KIND = "certification.publish_mark";
const utf8 = new TextEncoder();

const $ = (id) => document.getElementById(id);

class ProofError extends Error {}

// -- the node key -------------------------------------------------------------------------------

function setUpKey(onChange) {
  const input = $("node-key");
  let pinned = null;
  try { pinned = localStorage.getItem(PIN_STORAGE_KEY); } catch { /* storage disabled */ }
  if (pinned !== null && /^[0-9a-f]{64}$/.test(pinned)) {
    input.value = pinned;
    $("key-hint").textContent = pinned === input.dataset.nodeKey
      ? "The key you pinned in this browser; it is also the key this node says it signs with."
      : "The key you pinned in this browser. This node says it signs with another key.";
  }
  input.addEventListener("input", onChange);
  return () => input.value.trim().toLowerCase();
}

// -- checks -------------------------------------------------------------------------------------

async function fetchAnswer(url) {
  const response = await fetch(url, { cache: "no-store" });
  const text = await response.text();
  if (!response.ok) throw new ProofError(`the node answered ${response.status}`);
  if (text.length > ANSWER_CHARS_MAX) throw new ProofError("the answer is too large");
  return parseJson(text);
}

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/** One check line for a receipt: verified against the key, and what its result must say. */
async function receiptCheck(name, receipt, key, expect) {
  if (!isObject(receipt)) return { name, ok: false, detail: "no receipt in the answer" };
  const outcome = await verifyReceipt(receipt, key);
  if (!outcome.ok) {
    const failed = outcome.checks.find((c) => !c.ok);
    return { name, ok: false, detail: `${failed.name}: ${failed.detail}` };
  }
  const result = receipt.result;
  if (result.status !== "accepted") {
    return { name, ok: false, detail: "the transaction was not accepted" };
  }
  const wrong = expect(result);
  if (wrong) return { name, ok: false, detail: wrong };
  const size = receipt.signed_tree_head.tree_size;
  return {
    name, ok: true,
    detail: `tx ${String(receipt.tx_id).slice(0, 16)}… (${result.kind}) is in the signed tree of ${size} leaves`,
  };
}

/** The checks of a valid-at answer: its transition's receipt, and that it gives the status. */
async function statusCheck(answer, key, status) {
  const name = "Receipt of the change in effect";
  if (!isObject(answer) || !isObject(answer.transition)) {
    return { name, ok: false, detail: "the answer names no change in effect" };
  }
  const transition = answer.transition;
  const check = await receiptCheck(name, answer.receipt, key, (result) => {
    if (answer.receipt.tx_id !== transition.tx_id) return "the receipt is not the change's tx";
    const data = isObject(result.data) ? result.data : {};
    if (data.status !== undefined && data.status !== transition.to) {
      return "the receipt does not give the change's status";
    }
    if (answer.status !== status) return `the proof gives ${answer.status}, not ${status}`;
    return null;
  });
  if (check.ok) check.detail = `${transition.action} → ${transition.to}: ${check.detail}`;
  return check;
}

function fromBase64Url(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - text.length % 4) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function hexToBytes(hex) {
  if (typeof hex !== "string" || !/^([0-9a-f]{2})*$/.test(hex)) throw new ProofError("not hex");
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** Does the mark's signature verify with the body key the answer names (Ed25519)? */
async function markSignatureCheck(answer, signature) {
  const name = "Mark signed by the issuing body";
  const message = utf8.encode(MARK_DOMAIN + canonicalJson({
    number: answer.number, vendor: answer.vendor, body_key: answer.body_key,
  }));
  let ok = false;
  try {
    const key = await crypto.subtle.importKey("raw", hexToBytes(answer.body_key),
      { name: "Ed25519" }, false, ["verify"]);
    ok = await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    ok = false;
  }
  return {
    name, ok,
    detail: ok ? `Ed25519 by ${answer.body} (${String(answer.body_key).slice(0, 16)}…)`
      : "the signature does not verify with the body's key",
  };
}

function finish(section, checks) {
  showChecks(checks);
  const bad = checks.find((c) => !c.ok);
  if (bad) showVerdict("bad", `Proof INVALID: ${bad.name}`);
  else showVerdict("ok", "Proof verified");
  section.dataset.checked = "true";
}

function broken(section, message) {
  showChecks([]);
  showVerdict("bad", `Cannot check the proof: ${message}`);
  section.dataset.checked = "true";
}

// -- the certificate page: was it valid at T? ---------------------------------------------------

async function validAtPage(section) {
  let answer = null;
  const run = async () => {
    if (answer === null) return;
    try {
      finish(section, [await statusCheck(answer, nodeKey(), section.dataset.status)]);
    } catch (err) {
      broken(section, err.message);
    }
  };
  const nodeKey = setUpKey(run);
  try {
    answer = await fetchAnswer(section.dataset.url);
  } catch (err) {
    broken(section, err.message);
    return;
  }
  await run();
}

// -- the mark check page ------------------------------------------------------------------------

async function markPage(section) {
  let answer = null;
  const run = async () => {
    if (answer === null) return;
    try {
      const proof = isObject(answer.proof) ? answer.proof : {};
      const checks = [];
      const claims = answer.number === section.dataset.number
        && String(answer.genuine) === section.dataset.genuine
        && (answer.status ?? "") === section.dataset.status;
      checks.push({
        name: "The node's answer is what this page shows",
        ok: claims,
        detail: claims ? `${answer.number}: ${answer.genuine ? "genuine" : "not genuine"}, ${answer.status ?? "no status"}`
          : "the answer differs from the page",
      });
      if (answer.genuine) {
        const s = new URL(location.href).searchParams.get("s") ?? "";
        const signature = fromBase64Url(s);
        checks.push(await markSignatureCheck(answer, signature));
        const hex = bytesToHex(signature);
        checks.push(await receiptCheck("Receipt of the mark's publication", proof.publication,
          nodeKey(), (result) => {
            const data = isObject(result.data) ? result.data : {};
            if (result.kind !== PUBLISH_KIND || data.certificate !== answer.number || data.mark !== hex) {
              return "the receipt is not this mark's publication";
            }
            return null;
          }));
      }
      if (answer.status !== null && answer.status !== undefined) {
        checks.push(await statusCheck(proof.valid_at, nodeKey(), answer.status));
      }
      finish(section, checks);
    } catch (err) {
      broken(section, err.message);
    }
  };
  const nodeKey = setUpKey(run);
  try {
    answer = await fetchAnswer(section.dataset.checkUrl);
  } catch (err) {
    broken(section, err.message);
    return;
  }
  await run();
}

const validAt = $("valid-at");
const markProof = $("mark-proof");
if (validAt && $("verdict")) {
  validAtPage(validAt);
} else if (markProof) {
  markPage(markProof);
}
