// Countersign pages' only script: prevent double submission of a form (a second POST would be
// refused anyway, but the person would see a confusing error).
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
