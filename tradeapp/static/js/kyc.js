// Identity verification page: show the back-side upload only for documents that have one (it
// shows without JS), and let the form's fragment replace itself when the server answers 422.
(function () {
  "use strict";

  var TWO_SIDED = ["drivers_license", "national_id"];

  function sync(form) {
    var select = form.querySelector('select[name="document_type"]');
    var back = form.querySelector(".kyc-back");
    if (!select || !back) { return; }
    back.hidden = TWO_SIDED.indexOf(select.value) === -1;
  }

  function init() {
    var form = document.getElementById("kyc-form");
    if (form) { sync(form); }
  }

  document.addEventListener("change", function (event) {
    if (event.target.name === "document_type" && event.target.form) { sync(event.target.form); }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt.id !== "kyc-form") { return; }
    var status = event.detail.xhr.status;
    if (status === 422 || status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    } else if (status === 413) {
      var box = document.createElement("div");
      box.className = "alert alert-error";
      box.setAttribute("role", "alert");
      box.textContent = "The files are too large to send together. Please use smaller files.";
      elt.prepend(box);
    }
  });

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", init);
})();
