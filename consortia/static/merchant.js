// The merchant's page, live: each payment event from the node (server-sent events) refreshes
// the payment list, totals and the shown order's status in place; polling every few seconds
// takes over when the event stream is unavailable.
"use strict";
(() => {
  const panel = document.getElementById("payments-panel");
  if (!panel) return;
  const merchant = panel.dataset.merchant;
  const order = document.getElementById("order");
  const live = () => document.getElementById("live-status");

  async function refresh() {
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
  ["payment", "refund", "order"].forEach((type) => source.addEventListener(type, refresh));
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) poll(); };
})();
