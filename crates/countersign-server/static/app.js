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
