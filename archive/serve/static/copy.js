// Progressive enhancement: show a Copy button next to each citation (the text is
// always visible and selectable without this script).
document.querySelectorAll("button.copy").forEach(function (b) {
  if (!navigator.clipboard) return;
  b.hidden = false;
  b.addEventListener("click", function () {
    var el = document.getElementById(b.dataset.copy);
    navigator.clipboard.writeText(el.textContent).then(function () { b.textContent = "Copied"; });
  });
});
