// Address book: show only the destination fields of the chosen type (all show without JS).
(function () {
  "use strict";

  function sync(form) {
    var select = form && form.querySelector('select[name="destination_type"]');
    if (!select) { return; }
    form.querySelectorAll("fieldset[data-destination]").forEach(function (set) {
      set.hidden = set.getAttribute("data-destination") !== select.value;
    });
  }

  function init() { sync(document.getElementById("address-form")); }

  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (!form || form.id !== "address-form") { return; }
    if (event.target.name === "currency") {
      var crypto = ["BTC", "ETH", "USDT"].indexOf(event.target.value) !== -1;
      form.querySelector('select[name="destination_type"]').value = crypto ? "crypto_wallet" : "bank_account";
    }
    sync(form);
  });
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", init);
})();
