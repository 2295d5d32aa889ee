// Referral page: the Copy button copies the link and says so with a toast (and on the button).
(function () {
  "use strict";
  function toast(message, level) {
    document.dispatchEvent(new CustomEvent("toast", { detail: { message: message, level: level } }));
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var input = document.querySelector(button.getAttribute("data-copy"));
    if (!input) { return; }
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied ✓";
      window.setTimeout(function () { button.textContent = label; }, 2000);
      toast(button.getAttribute("data-copied") || "Copied", "success");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        input.select();
        toast("Select the link and copy it (Ctrl+C).", "info");
      });
    } else {
      input.focus();
      input.select();
      try {
        document.execCommand("copy");
        done();
      } catch (e) {
        toast("Select the link and copy it (Ctrl+C).", "info");
      }
    }
  });
}());
