// Consortia receipt verifier for the browser: WebCrypto only, no server round trip.
//
// The same checks as consortia.ledger.receipts.verify_receipt (the reference verifier):
//   1. the Merkle leaf starts with the tx id;
//   2. the leaf ends with SHA-256(b"consortia/result/v1" ‖ canonical JSON of the result);
//   3. the signed tree head is signed (Ed25519) by the node key the user trusts;
//   4. the audit path leads from the leaf to that signed root (RFC 9162 inclusion proof).
// Every check runs even when an earlier one fails, so the page can show each mark; the
// receipt is valid only if all pass.

export const CHECKS = Object.freeze({
  leaf: "Leaf matches tx id",
  result: "Leaf matches result",
  signature: "Tree head signed by node key",
  inclusion: "Audit path leads to signed root",
});

const RESULT_DOMAIN = "consortia/result/v1";
const STH_DOMAIN = "consortia/sth/v1";
const HASH_BYTES = 32;
const U64_MAX = (1n << 64n) - 1n;
// A tree of at most 2^64 leaves has audit paths of at most 64 hashes.
const AUDIT_PATH_MAX = 64;
// Bounds the recursion of parseJson and canonicalJson on hostile input.
const JSON_DEPTH_MAX = 256;

const utf8 = new TextEncoder();

class CheckError extends Error {}

/** This browser cannot check receipts (no WebCrypto, or no Ed25519 in it): not a verdict. */
export class VerifierUnavailable extends Error {}

/** A JSON number with a fraction or exponent, kept apart from integers: receipts hold none. */
export class JsonFloat {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

// -- bytes and hex ------------------------------------------------------------------------------

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function hexToBytes(value, field, size) {
  if (typeof value !== "string") throw new CheckError(`${field} is not a hex string`);
  if (value.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(value)) {
    throw new CheckError(`${field} is not hex`);
  }
  const out = new Uint8Array(value.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(value.substr(2 * i, 2), 16);
  if (size !== undefined && out.length !== size) {
    throw new CheckError(`${field} must be ${size} bytes`);
  }
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function u64(value) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value);
  return out;
}

function subtle() {
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    throw new VerifierUnavailable(
      "this browser gives WebCrypto only to pages opened over https or from localhost");
  }
  return globalThis.crypto.subtle;
}

async function sha256(...parts) {
  return new Uint8Array(await subtle().digest("SHA-256", concat(...parts)));
}

// -- JSON ---------------------------------------------------------------------------------------

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    && !(value instanceof JsonFloat);
}

/**
 * Parse JSON text exactly: integers beyond 2^53 become BigInt instead of losing digits, and
 * numbers written with a fraction or exponent become JsonFloat, so "5.0" is not taken for 5.
 * Throws SyntaxError with the offending position.
 */
export function parseJson(text) {
  let at = 0;
  const fail = (what) => { throw new SyntaxError(`${what} at position ${at}`); };
  const space = () => { while (at < text.length && " \t\n\r".includes(text[at])) at++; };
  const number = () => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(at, at + 4096));
    if (!m || m[0] === "-") fail("bad number");
    at += m[0].length;
    if (m[2] !== undefined || m[3] !== undefined) return new JsonFloat(m[0]);
    const n = Number(m[0]);
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  };
  const string = () => {
    at++; // opening quote
    let out = "";
    for (;;) {
      if (at >= text.length) fail("unterminated string");
      const c = text[at++];
      if (c === '"') return out;
      if (c < " ") fail("control character in string");
      if (c !== "\\") { out += c; continue; }
      const e = text[at++];
      const simple = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
      if (e in simple) { out += simple[e]; continue; }
      if (e !== "u" || !/^[0-9a-fA-F]{4}$/.test(text.slice(at, at + 4))) fail("bad escape");
      out += String.fromCharCode(parseInt(text.slice(at, at + 4), 16));
      at += 4;
    }
  };
  const value = (depth) => {
    if (depth > JSON_DEPTH_MAX) fail("nesting too deep");
    space();
    const c = text[at];
    if (c === "{") {
      at++;
      // No prototype: a "__proto__" key stays an ordinary key.
      const obj = Object.create(null);
      space();
      if (text[at] === "}") { at++; return obj; }
      for (;;) {
        space();
        if (text[at] !== '"') fail("expected a key");
        const key = string();
        space();
        if (text[at++] !== ":") fail("expected ':'");
        obj[key] = value(depth + 1);
        space();
        const sep = text[at++];
        if (sep === "}") return obj;
        if (sep !== ",") fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      at++;
      const arr = [];
      space();
      if (text[at] === "]") { at++; return arr; }
      for (;;) {
        arr.push(value(depth + 1));
        space();
        const sep = text[at++];
        if (sep === "]") return arr;
        if (sep !== ",") fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, at)) { at += word.length; return v; }
    }
    if (c === "-" || (c >= "0" && c <= "9")) return number();
    return fail(at >= text.length ? "unexpected end" : `unexpected '${c}'`);
  };
  const out = value(0);
  space();
  if (at !== text.length) fail("trailing characters");
  return out;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// Object keys in Unicode code point order, as the node's encoder (msgspec, order="sorted")
// writes them. RFC 8785 says UTF-16 order; the two differ only for keys mixing characters
// above U+FFFF with ones in U+E000..U+FFFF, and the node's bytes are what the leaf commits to.
function byCodePoint(a, b) {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * RFC 8785 canonical JSON of a result: keys sorted, no whitespace, UTF-8, integers only.
 * Throws CheckError for values a result never holds (floats, lone surrogates, undefined).
 */
export function canonicalJson(value, depth = 0) {
  if (depth > JSON_DEPTH_MAX) throw new CheckError("result is nested too deeply");
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw new CheckError("result holds a lone surrogate");
    // JSON.stringify escapes exactly as the node does: \" \\ \b \f \n \r \t, other controls as
    // \u00xx (lower case), everything else as is.
    return JSON.stringify(value);
  }
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new CheckError("result holds a non-integer number");
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v, depth + 1)).join(",")}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort(byCodePoint);
    const parts = keys.map((k) => {
      if (LONE_SURROGATE.test(k)) throw new CheckError("result holds a lone surrogate");
      return `${JSON.stringify(k)}:${canonicalJson(value[k], depth + 1)}`;
    });
    return `{${parts.join(",")}}`;
  }
  throw new CheckError("result holds a value JSON cannot carry");
}

/** SHA-256(b"consortia/result/v1" ‖ canonical JSON of ``result``). */
export async function resultDigest(result) {
  return sha256(utf8.encode(RESULT_DOMAIN), utf8.encode(canonicalJson(result)));
}

// -- fields -------------------------------------------------------------------------------------

function field(receipt, path) {
  let value = receipt;
  for (const name of path) {
    if (!isObject(value) || !Object.prototype.hasOwnProperty.call(value, name)) {
      throw new CheckError(`receipt has no field ${path.join(".")}`);
    }
    value = value[name];
  }
  return value;
}

function hexField(receipt, path, size) {
  return hexToBytes(field(receipt, path), path.join("."), size);
}

function countField(receipt, path) {
  const value = field(receipt, path);
  const ok = (typeof value === "number" && Number.isSafeInteger(value) && value >= 0)
    || (typeof value === "bigint" && value >= 0n);
  if (!ok) throw new CheckError(`${path.join(".")} is not a non-negative integer`);
  const n = BigInt(value);
  if (n > U64_MAX) throw new CheckError(`${path.join(".")} does not fit in 64 bits`);
  return n;
}

// -- Merkle (RFC 9162) --------------------------------------------------------------------------

const leafHash = (data) => sha256(new Uint8Array([0]), data);
const nodeHash = (left, right) => sha256(new Uint8Array([1]), left, right);

/** RFC 9162 section 2.1.3.2: does ``path`` lead from the leaf at ``index`` to ``root``? */
export async function verifyInclusion(leaf, index, size, path, root) {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(r, root);
}

// -- the checks ---------------------------------------------------------------------------------

async function checkLeaf(receipt) {
  const txId = hexField(receipt, ["tx_id"], HASH_BYTES);
  const leaf = hexField(receipt, ["leaf"], 2 * HASH_BYTES);
  if (!equalBytes(leaf.subarray(0, HASH_BYTES), txId)) {
    throw new CheckError("leaf does not start with tx_id");
  }
  return `leaf starts with tx ${bytesToHex(txId).slice(0, 16)}…`;
}

async function checkResult(receipt) {
  const leaf = hexField(receipt, ["leaf"], 2 * HASH_BYTES);
  const result = isObject(receipt) ? receipt.result : undefined;
  if (!isObject(result)) throw new CheckError("receipt has no result object");
  const digest = await resultDigest(result);
  if (!equalBytes(leaf.subarray(HASH_BYTES), digest)) {
    throw new CheckError("result does not match the leaf (result digest differs)");
  }
  return `result digest ${bytesToHex(digest).slice(0, 16)}… is in the leaf`;
}

async function checkSignature(receipt, nodeKeyHex) {
  const path = (name) => ["signed_tree_head", name];
  const size = countField(receipt, path("tree_size"));
  const root = hexField(receipt, path("root_hash"), HASH_BYTES);
  const height = countField(receipt, path("height"));
  const timeMs = countField(receipt, path("time_ms"));
  const signature = hexField(receipt, path("signature"), 64);
  const sthKey = hexField(receipt, path("node_key"), 32);
  let nodeKey;
  try {
    nodeKey = hexToBytes(String(nodeKeyHex ?? "").trim(), "node key", 32);
  } catch {
    throw new CheckError("the node key to verify against must be 64 hex characters");
  }
  if (!equalBytes(sthKey, nodeKey)) {
    throw new CheckError(`signed tree head is from another node key (${bytesToHex(sthKey).slice(0, 16)}…)`);
  }
  const message = concat(utf8.encode(STH_DOMAIN), u64(size), root, u64(height), u64(timeMs));
  let ok = false;
  try {
    const key = await subtle().importKey("raw", nodeKey, { name: "Ed25519" }, false, ["verify"]);
    ok = await subtle().verify({ name: "Ed25519" }, key, signature, message);
  } catch (err) {
    if (err instanceof VerifierUnavailable) throw err;
    if (err && err.name === "NotSupportedError") {
      throw new VerifierUnavailable("this browser's WebCrypto has no Ed25519");
    }
    // Otherwise the key is not a valid point: no signature verifies under it.
    ok = false;
  }
  if (!ok) throw new CheckError("signed tree head signature is invalid");
  return `tree of ${size} leaves at height ${height}, signed by ${bytesToHex(nodeKey).slice(0, 16)}…`;
}

async function checkInclusion(receipt) {
  const sthSize = countField(receipt, ["signed_tree_head", "tree_size"]);
  const sthRoot = hexField(receipt, ["signed_tree_head", "root_hash"], HASH_BYTES);
  const size = countField(receipt, ["tree_size"]);
  const root = hexField(receipt, ["root_hash"], HASH_BYTES);
  if (size !== sthSize || !equalBytes(root, sthRoot)) {
    throw new CheckError("tree_size/root_hash differ from the signed tree head");
  }
  const index = countField(receipt, ["leaf_index"]);
  const pathHex = field(receipt, ["audit_path"]);
  if (!Array.isArray(pathHex) || !pathHex.every((p) => typeof p === "string")) {
    throw new CheckError("audit_path is not a list of hex strings");
  }
  const hashes = pathHex.map((p) => hexToBytes(p, "audit_path"));
  const leaf = hexField(receipt, ["leaf"], 2 * HASH_BYTES);
  const fail = "audit path does not lead to the signed root (inclusion proof fails)";
  if (hashes.length > AUDIT_PATH_MAX || hashes.some((h) => h.length !== HASH_BYTES)) {
    throw new CheckError(fail);
  }
  if (!(await verifyInclusion(await leafHash(leaf), index, size, hashes, root))) {
    throw new CheckError(fail);
  }
  return `leaf ${index} of ${size}: ${hashes.length} hashes to root ${bytesToHex(root).slice(0, 16)}…`;
}

async function run(name, fn) {
  try {
    return { name, ok: true, detail: await fn() };
  } catch (err) {
    if (err instanceof CheckError) return { name, ok: false, detail: err.message };
    throw err;
  }
}

/**
 * Verify a receipt (a parsed JSON object; see parseJson) against the hex Ed25519 key of the
 * node that should have signed it. Resolves to {ok, checks: [{name, ok, detail}], failed}
 * where ``failed`` names the first failing check (null when ok). Rejects with
 * VerifierUnavailable when this browser cannot check receipts at all.
 */
export async function verifyReceipt(receipt, nodeKeyHex) {
  subtle();
  let checks;
  if (!isObject(receipt)) {
    checks = Object.values(CHECKS).map((name) => ({
      name, ok: false, detail: "receipt is not a JSON object",
    }));
  } else {
    checks = [
      await run(CHECKS.leaf, () => checkLeaf(receipt)),
      await run(CHECKS.result, () => checkResult(receipt)),
      await run(CHECKS.signature, () => checkSignature(receipt, nodeKeyHex)),
      await run(CHECKS.inclusion, () => checkInclusion(receipt)),
    ];
  }
  const firstBad = checks.find((c) => !c.ok);
  return { ok: firstBad === undefined, checks, failed: firstBad ? firstBad.name : null };
}
