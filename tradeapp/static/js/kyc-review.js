// Compliance review page: click (or Enter/Space) on a document image toggles an enlarged view.
(function () {
  "use strict";

  function toggle(img) {
    var zoomed = img.classList.toggle("kyc-zoomed");
    img.setAttribute("aria-pressed", zoomed ? "true" : "false");
  }

  document.addEventListener("click", function (event) {
    var img = event.target.closest("img[data-zoomable]");
    if (img) toggle(img);
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" && event.key !== " ") return;
    var img = event.target.closest && event.target.closest("img[data-zoomable]");
    if (img) {
      event.preventDefault();
      toggle(img);
    }
  });
})();
