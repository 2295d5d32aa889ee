// Account forms (login, register, password, profile): HTMX swaps 2xx only, so let forms marked
// data-swap-errors show the fragments the server sends with 4xx (e.g. 429 "account locked"), and
// turn a full-page error (a rate limit) into a message above the form instead of doing nothing.
(function () {
  "use strict";

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    var source = (event.detail.requestConfig && event.detail.requestConfig.elt) || event.detail.elt;
    var form = source && source.closest("[data-swap-errors]");
    if (!xhr || xhr.status < 400 || xhr.status >= 500 || !form) { return; }
    if (/<html[\s>]/i.test(xhr.responseText)) {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var text = doc.querySelector(".error-page p");
      var box = form.querySelector("[data-form-alert]");
      if (box) {
        box.textContent = xhr.status === 429
          ? "Too many attempts from your network. Please wait a minute and try again."
          : (text ? text.textContent.trim() : "The request was refused. Please reload the page and try again.");
        box.classList.remove("hidden");
      }
      event.detail.shouldSwap = false;
      return;
    }
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  });
})();
