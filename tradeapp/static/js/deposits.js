// Deposit page: mounts Stripe's payment element when the page offers it (Stripe.js loaded from
// js.stripe.com only on this page). The sandbox form needs no script.
(function () {
  "use strict";

  function mount() {
    var el = document.getElementById("payment-element");
    if (!el || el.dataset.mounted || typeof window.Stripe !== "function") { return; }
    el.dataset.mounted = "1";
    var stripe = window.Stripe(el.dataset.stripeKey);
    var elements = stripe.elements({ clientSecret: el.dataset.clientSecret });
    elements.create("payment").mount(el);
    var button = document.getElementById("payment-submit");
    var error = document.getElementById("payment-error");
    button.addEventListener("click", function () {
      button.disabled = true;
      error.textContent = "";
      stripe.confirmPayment({ elements: elements, confirmParams: { return_url: el.dataset.returnUrl } })
        .then(function (result) {
          // Only reached on an immediate error; success redirects to return_url.
          if (result.error) { error.textContent = result.error.message; }
          button.disabled = false;
        });
    });
  }

  document.addEventListener("DOMContentLoaded", mount);
  document.addEventListener("htmx:afterSettle", mount);
  window.addEventListener("load", mount);
})();
