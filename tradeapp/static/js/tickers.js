// Live prices for every [data-symbol] chip on the page, from Socket.IO "ticker" events.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var chips = document.querySelectorAll("[data-symbol]");
    if (!chips.length || !window.tradeapp) { return; }
    var symbols = Array.prototype.map.call(chips, function (c) { return c.getAttribute("data-symbol"); });
    window.tradeapp.on("ticker", function (t) {
      var chip = document.querySelector('[data-symbol="' + t.symbol.replace("/", "-") + '"]');
      if (!chip) { return; }
      var px = chip.querySelector("[data-price]");
      var prev = parseFloat(px.textContent.replace(/,/g, ""));
      var last = parseFloat(t.last);
      if (isNaN(last)) { return; }
      px.textContent = window.tradeapp.money(last, parseInt(chip.getAttribute("data-price-precision"), 10) || 2);
      chip.classList.remove("flash-up", "flash-down");
      void chip.offsetWidth;
      if (!isNaN(prev)) { chip.classList.add(last >= prev ? "flash-up" : "flash-down"); }
      var change = chip.querySelector("[data-change]");
      if (change && t.change_24h !== undefined) {
        var c = parseFloat(t.change_24h);
        change.textContent = (c >= 0 ? "+" : "") + c.toFixed(2) + "% 24h";
        change.className = "small " + (c >= 0 ? "up" : "down");
      }
    });
    window.tradeapp.subscribe(symbols);
  });
})();
