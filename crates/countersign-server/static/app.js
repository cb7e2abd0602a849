// Countersign pages' only script (the CSP allows no inline script and no javascript: links).
// "Go back" links return to the previous page when there is one; without script they lead home.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-back]");
  if (link && history.length > 1) {
    event.preventDefault();
    history.back();
  }
});

// A form with `data-confirm` ("Delete" of a sign-in method) asks first; it runs before the
// guard below (capture phase), so a "Cancel" leaves the form as it was. Without script the
// form posts at once.
document.addEventListener("submit", (event) => {
  const ask = event.target.dataset.confirm;
  if (ask && !window.confirm(ask)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

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

// "Approve sign-in request" and "Sign in with a passkey on another device": wait for the answer
// on the device, then continue without a reload (the page's form posts; without script the
// person presses its button). The status request waits on the server until the device answered
// or some seconds pass ("pending"/"waiting": ask again).
const waiting = document.querySelector("[data-wait-status]");
if (waiting) {
  const form = document.getElementById("wait-continue");
  const go = () => (form.requestSubmit ? form.requestSubmit() : form.submit());
  const poll = async () => {
    try {
      const r = await fetch(waiting.dataset.waitStatus, { cache: "no-store" });
      if (r.ok) {
        const body = await r.json();
        if (body.state === "pending" || body.state === "waiting") {
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

// Passkeys (WebAuthn). The server's options carry binary fields as base64url; the answers go
// back the same way, in a hidden form field, as a normal form post.
const b64u = {
  dec: (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)),
  enc: (buf) => {
    let s = "";
    for (const byte of new Uint8Array(buf)) s += String.fromCharCode(byte);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};
const withIds = (list) => (list || []).map((c) => ({ ...c, id: b64u.dec(c.id) }));
const credentialJSON = (c) => {
  const r = c.response;
  const out = {
    id: c.id,
    rawId: b64u.enc(c.rawId),
    type: c.type,
    extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
    response: { clientDataJSON: b64u.enc(r.clientDataJSON) },
  };
  if (r.attestationObject) {
    out.response.attestationObject = b64u.enc(r.attestationObject);
    if (r.getTransports) out.response.transports = r.getTransports();
  } else {
    out.response.authenticatorData = b64u.enc(r.authenticatorData);
    out.response.signature = b64u.enc(r.signature);
    if (r.userHandle && r.userHandle.byteLength) out.response.userHandle = b64u.enc(r.userHandle);
  }
  return JSON.stringify(out);
};
const showPasskeyError = (text) => {
  const p = document.getElementById("passkey-error");
  if (p) {
    p.textContent = text;
    p.hidden = false;
  }
};
const PASSKEY_CANCELLED =
  "The passkey request was cancelled or timed out, or no passkey for this account was found. Try again, or sign in another way.";
const PASSKEY_UNSUPPORTED = "This browser can't use passkeys. Sign in another way.";

// Security info: "Create a passkey".
const creating = document.querySelector("form[data-passkey-create]");
if (creating) {
  creating.addEventListener(
    "submit",
    async (event) => {
      if (creating.elements.credential.value) return; // the answer is in: post it
      event.preventDefault();
      event.stopImmediatePropagation();
      if (!window.PublicKeyCredential) {
        showPasskeyError(PASSKEY_UNSUPPORTED);
        return;
      }
      const pk = JSON.parse(creating.dataset.passkeyCreate).publicKey;
      pk.challenge = b64u.dec(pk.challenge);
      pk.user = { ...pk.user, id: b64u.dec(pk.user.id) };
      pk.excludeCredentials = withIds(pk.excludeCredentials);
      try {
        const c = await navigator.credentials.create({ publicKey: pk });
        creating.elements.credential.value = credentialJSON(c);
        creating.submit();
      } catch (e) {
        showPasskeyError(
          e && e.name === "InvalidStateError"
            ? "This device or security key already has a passkey for your account."
            : "The passkey wasn't created: the request was cancelled or timed out. Try again.",
        );
      }
    },
    true,
  );
}

// Sign-in: a passkey with no name (the name field's autofill, or "Sign-in options"), or the
// passkey step after the name. Each attempt gets fresh options: a challenge is answered once.
const answering = document.getElementById("passkey-form");
if (answering) {
  let pending = null; // the autofill request, aborted before a modal one starts
  let prompting = false; // a modal request is open: a second click waits for it
  const getOptions = async () => {
    const body = new URLSearchParams({ csrf: answering.elements.csrf.value });
    const r = await fetch(answering.dataset.options, { method: "POST", body, cache: "no-store" });
    const o = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(o.message || "The server refused the passkey request. Reload the page and try again.");
    const pk = o.publicKey;
    pk.challenge = b64u.dec(pk.challenge);
    pk.allowCredentials = withIds(pk.allowCredentials);
    return { ceremony: o.ceremony, publicKey: pk };
  };
  const answer = (ceremony, c) => {
    answering.elements.ceremony.value = ceremony;
    answering.elements.credential.value = credentialJSON(c);
    answering.submit();
  };
  const modal = async () => {
    if (!window.PublicKeyCredential) {
      showPasskeyError(PASSKEY_UNSUPPORTED);
      return;
    }
    if (prompting) return;
    prompting = true;
    if (pending) pending.abort();
    try {
      const o = await getOptions();
      const c = await navigator.credentials.get({ publicKey: o.publicKey });
      answer(o.ceremony, c);
    } catch (e) {
      showPasskeyError(e && e.name === "NotAllowedError" ? PASSKEY_CANCELLED : String(e.message || e));
    } finally {
      prompting = false;
    }
  };
  for (const b of document.querySelectorAll("[data-passkey-start]")) {
    b.addEventListener("click", modal);
  }
  if (answering.dataset.autostart !== undefined) {
    modal();
  } else if (
    window.PublicKeyCredential &&
    PublicKeyCredential.isConditionalMediationAvailable &&
    document.querySelector("input[autocomplete~=webauthn]")
  ) {
    PublicKeyCredential.isConditionalMediationAvailable().then(async (yes) => {
      if (!yes) return;
      pending = new AbortController();
      try {
        const o = await getOptions();
        const c = await navigator.credentials.get({
          publicKey: o.publicKey,
          mediation: "conditional",
          signal: pending.signal,
        });
        answer(o.ceremony, c);
      } catch (e) {
        // aborted for a modal request, or nothing chosen: the page stays as it is
      }
    });
  }
}
