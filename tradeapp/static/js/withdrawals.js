// Withdraw page: show only the destination fields of the chosen type (all show without JS).
(function () {
  "use strict";

  function sync(form) {
    var select = form.querySelector('select[name="destination_type"]');
    if (!select) { return; }
    form.querySelectorAll("fieldset[data-destination]").forEach(function (set) {
      set.hidden = set.getAttribute("data-destination") !== select.value;
    });
  }

  function init() {
    var form = document.getElementById("withdrawal-form");
    if (form) { sync(form); }
  }

  document.addEventListener("change", function (event) {
    if (event.target.name === "destination_type") { sync(event.target.form); }
    if (event.target.name === "currency") {
      var form = event.target.form;
      var crypto = ["BTC", "ETH", "USDT"].indexOf(event.target.value) !== -1;
      var type = form.querySelector('select[name="destination_type"]');
      if (type) { type.value = crypto ? "crypto_wallet" : "bank_account"; sync(form); }
    }
  });
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", init);
})();
