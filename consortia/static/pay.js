// Scan to pay: use the camera where the browser can read QR codes itself (BarcodeDetector),
// and fill the paste form with what it reads. Without it the page works by upload or paste.
"use strict";
(() => {
  const card = document.getElementById("camera-card");
  if (!card || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  card.hidden = false;
  const video = document.getElementById("camera");
  const status = document.getElementById("camera-status");
  const start = document.getElementById("camera-start");
  start.addEventListener("click", async () => {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (err) {
      status.textContent = "The camera is not available: upload a picture or paste the code.";
      return;
    }
    video.srcObject = stream;
    await video.play();
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    const tick = async () => {
      const found = await detector.detect(video).catch(() => []);
      if (found.length) {
        stream.getTracks().forEach((t) => t.stop());
        document.getElementById("payload").value = found[0].rawValue;
        document.getElementById("paste-form").submit();
        return;
      }
      window.setTimeout(tick, 250);
    };
    tick();
  });
})();
