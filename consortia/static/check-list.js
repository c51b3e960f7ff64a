// The verdict and check list of an in-browser proof (the explorer's receipts, the CFP
// registry's proofs). Everything is written with textContent: nothing is parsed as HTML.

const $ = (id) => document.getElementById(id);

export function showVerdict(state, text) {
  const verdict = $("verdict");
  verdict.dataset.state = state;
  verdict.textContent = text;
}

export function showChecks(checks) {
  $("checks").replaceChildren(...checks.map((c) => {
    const item = document.createElement("li");
    item.className = c.ok ? "pass" : "fail";
    item.dataset.ok = String(c.ok);
    const mark = document.createElement("span");
    mark.className = "mark";
    mark.textContent = c.ok ? "✓" : "✗";
    mark.setAttribute("aria-label", c.ok ? "passed" : "failed");
    const name = document.createElement("strong");
    name.className = "check-name";
    name.textContent = c.name;
    const detail = document.createElement("span");
    detail.className = "detail";
    detail.textContent = c.detail;
    item.append(mark, name, detail);
    return item;
  }));
}
