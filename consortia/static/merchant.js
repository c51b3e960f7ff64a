// The merchant's page, live: each payment event from the node (server-sent events) refreshes
// the payment list, totals and the shown order's status in place; polling every few seconds
// takes over when the event stream is unavailable. The webhook list follows a moment later,
// once the node has had time to deliver the event, so its last delivery shows the outcome.
"use strict";
(() => {
  const panel = document.getElementById("payments-panel");
  if (!panel) return;
  const merchant = panel.dataset.merchant;
  const order = document.getElementById("order");
  const live = () => document.getElementById("live-status");
  const hooks = document.getElementById("webhook-list-panel");
  // Deliveries to a live receiver take milliseconds; retries take longer and show on reload.
  const HOOKS_DELAY_MS = 1500;

  async function refreshHooks() {
    // Not while the merchant is confirming a delete or working in the list.
    if (!hooks || hooks.querySelector("details[open]") || hooks.contains(document.activeElement)) return;
    const response = await fetch("/merchant/webhooks", { credentials: "same-origin" });
    if (response.ok) hooks.innerHTML = await response.text();
  }

  let hooksTimer = null;
  function refreshHooksSoon() {
    if (!hooks || !hooks.querySelector(".webhook")) return;
    window.clearTimeout(hooksTimer);
    hooksTimer = window.setTimeout(refreshHooks, HOOKS_DELAY_MS);
  }

  async function refresh() {
    refreshHooksSoon();
    const response = await fetch("/merchant/payments", { credentials: "same-origin" });
    if (response.ok) panel.innerHTML = await response.text();
    if (order) {
      const path = `/v1/payments/merchants/${merchant}/orders/${encodeURIComponent(order.dataset.order)}`;
      const shown = await fetch(path, { credentials: "same-origin" });
      if (shown.ok) {
        const body = await shown.json();
        const status = document.getElementById("order-status");
        status.textContent = body.status;
        status.dataset.status = body.status;
      }
    }
  }

  let polling = null;
  function poll() {
    if (polling === null) {
      polling = window.setInterval(refresh, 3000);
      if (live()) live().textContent = "refreshing every 3 s";
    }
  }
  if (!("EventSource" in window)) { poll(); return; }
  const source = new EventSource(`/v1/payments/merchants/${merchant}/events`);
  source.onmessage = refresh;
  ["payment", "refund", "order_created", "order_cancelled"].forEach((type) => source.addEventListener(type, refresh));
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) poll(); };
})();
