// Countersign pages' only script (the CSP allows no inline script and no javascript: links).
// "Go back" links return to the previous page when there is one; without script they lead home.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-back]");
  if (link && history.length > 1) {
    event.preventDefault();
    history.back();
  }
});

// Prevent double submission of a form (a second POST would be refused anyway, but the person
// would see a confusing error).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.submitted) {
    event.preventDefault();
    return;
  }
  form.dataset.submitted = "1";
  for (const b of form.querySelectorAll("button[type=submit]")) {
    setTimeout(() => { b.disabled = true; }, 0);
  }
});

// "Approve sign-in request": wait for the answer on the device, then continue without a reload
// (the page's form posts; without script the person presses its button). The status request
// waits on the server until the request is settled or some seconds pass.
const waiting = document.querySelector("[data-push-status]");
if (waiting) {
  const form = document.getElementById("push-continue");
  const go = () => (form.requestSubmit ? form.requestSubmit() : form.submit());
  const poll = async () => {
    try {
      const r = await fetch(waiting.dataset.pushStatus, { cache: "no-store" });
      if (r.ok) {
        const body = await r.json();
        if (body.state === "pending") {
          poll();
        } else {
          go();
        }
        return;
      }
      if (r.status < 500) {
        go(); // the sign-in is over: the next page says why
        return;
      }
    } catch (e) {
      // the server is restarting or the network is down: try again shortly
    }
    setTimeout(poll, 2000);
  };
  poll();
}
