// Wires the browser receipt verifier (receipt.js) to the tx page and the verify page.
// Everything is written with textContent: nothing from a receipt is ever parsed as HTML.

import { parseJson, verifyReceipt } from "./receipt.js";
import { showChecks, showVerdict } from "./check-list.js";

const PIN_STORAGE_KEY = "consortia.pinnedNodeKey";
// A pasted or opened receipt larger than this is refused before parsing (real ones are ~3 KB).
const RECEIPT_CHARS_MAX = 1_000_000;

const $ = (id) => document.getElementById(id);

async function check(receiptText, nodeKey) {
  if (receiptText.length > RECEIPT_CHARS_MAX) {
    showChecks([]);
    showVerdict("bad", `Receipt INVALID: larger than ${RECEIPT_CHARS_MAX} characters`);
    return null;
  }
  let receipt;
  try {
    receipt = parseJson(receiptText);
  } catch (err) {
    showChecks([]);
    showVerdict("bad", `Receipt INVALID: not JSON (${err.message})`);
    return null;
  }
  let outcome;
  try {
    outcome = await verifyReceipt(receipt, nodeKey);
  } catch (err) {
    showChecks([]);
    showVerdict("bad", `Cannot check receipts here: ${err.message}`);
    return null;
  }
  showChecks(outcome.checks);
  if (outcome.ok) {
    showVerdict("ok", "Receipt verified");
  } else {
    showVerdict("bad", `Receipt INVALID: ${outcome.failed}`);
  }
  return outcome;
}

// -- the node key: prefilled with the node's own, or the one this browser pinned ----------------

function setUpKey(onChange) {
  const input = $("node-key");
  const hint = $("key-hint");
  const pin = $("pin-key");
  const unpin = $("unpin-key");
  const served = input.dataset.nodeKey;
  let stored = null;
  try { stored = localStorage.getItem(PIN_STORAGE_KEY); } catch { /* storage disabled */ }

  const describe = () => {
    const pinned = (() => { try { return localStorage.getItem(PIN_STORAGE_KEY); } catch { return null; } })();
    const value = input.value.trim().toLowerCase();
    unpin.hidden = pinned === null;
    pin.hidden = pinned !== null && pinned === value;
    if (pinned !== null && pinned === value) {
      hint.textContent = value === served
        ? "Your pinned key. It is also the key this node says it signs with."
        : "Your pinned key. This node says it signs with another key: a receipt from it fails the signature check.";
    } else if (value === served) {
      hint.textContent = "The key this node says it signs with. Paste a key you trust, then pin it so this browser keeps using it.";
    } else {
      hint.textContent = "A key you entered. Pin it to keep using it in this browser.";
    }
  };

  if (stored !== null && /^[0-9a-f]{64}$/.test(stored)) input.value = stored;
  describe();
  pin.addEventListener("click", () => {
    const value = input.value.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(value)) {
      hint.textContent = "A node key is 64 hex characters; nothing pinned.";
      return;
    }
    try { localStorage.setItem(PIN_STORAGE_KEY, value); } catch { /* storage disabled */ }
    describe();
  });
  unpin.addEventListener("click", () => {
    try { localStorage.removeItem(PIN_STORAGE_KEY); } catch { /* storage disabled */ }
    input.value = served;
    describe();
    onChange();
  });
  input.addEventListener("input", () => { describe(); onChange(); });
  return () => input.value;
}

// -- the tx page: fetch this tx's receipt, check it, offer it for download -----------------------

async function txPage(section) {
  const txId = section.dataset.txId;
  let text = null;
  const nodeKey = setUpKey(() => { if (text !== null) check(text, nodeKey()); });
  try {
    const response = await fetch(`/v1/tx/${encodeURIComponent(txId)}/receipt`, { cache: "no-store" });
    if (!response.ok) {
      showVerdict("bad", `No receipt: the node answered ${response.status}`);
      return;
    }
    text = await response.text();
  } catch (err) {
    showVerdict("bad", `No receipt: ${err.message}`);
    return;
  }
  const download = $("download-receipt");
  download.disabled = false;
  download.addEventListener("click", () => {
    const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `receipt-${txId}.json`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  await check(text, nodeKey());
  section.dataset.checked = "true";
}

// -- the verify page: a pasted or opened receipt ---------------------------------------------------

function verifyPage(form) {
  const area = $("receipt-text");
  const nodeKey = setUpKey(() => { if (area.value.trim()) run(); });
  const run = async () => {
    showVerdict("idle", "Checking…");
    await check(area.value, nodeKey());
    $("receipt").dataset.checked = "true";
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  $("receipt-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    if (file.size > RECEIPT_CHARS_MAX) {
      showVerdict("bad", "Receipt INVALID: file too large");
      return;
    }
    area.value = await file.text();
    run();
  });
}

const form = $("verify-form");
const section = $("receipt");
if (form) {
  verifyPage(form);
} else if (section && section.dataset.txId) {
  txPage(section);
}
