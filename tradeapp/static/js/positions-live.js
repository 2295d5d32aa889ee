// Live profit and loss of position rows ([data-position="BTC-USD"]) from Socket.IO "ticker" events.
// Rows are marked at the bid, like services.trading.positions.valuation; the server's figures are the record,
// this only keeps them moving between reloads. Used by the trade page and the dashboard.
(function () {
  "use strict";

  var QUOTE_PLACES = { USD: 2, EUR: 2, GBP: 2, USDT: 6, BTC: 8, ETH: 8 };

  var fmt = window.tradeapp.money;

  function signed(value, places) {
    return (value > 0 ? "+" : "") + fmt(value, places);
  }

  function setText(root, selector, text) {
    var el = root.querySelector(selector);
    if (el) { el.textContent = text; }
    return el;
  }

  function tone(el, value) {
    if (!el) { return; }
    el.classList.toggle("up", value >= 0);
    el.classList.toggle("down", value < 0);
  }

  function updateRow(row, bid) {
    var qty = parseFloat(row.getAttribute("data-qty"));
    var entry = parseFloat(row.getAttribute("data-entry"));
    if (!(qty > 0)) { return; }
    var pricePlaces = parseInt(row.getAttribute("data-price-precision"), 10) || 2;
    var quote = row.getAttribute("data-quote") || "USD";
    var places = QUOTE_PLACES[quote] === undefined ? 2 : QUOTE_PLACES[quote];
    var value = qty * bid;
    var pnl = qty * (bid - entry);
    row.setAttribute("data-value", String(value));
    row.setAttribute("data-pnl", String(pnl));
    setText(row, "[data-pos-price]", fmt(bid, pricePlaces));
    setText(row, "[data-pos-value]", fmt(value, places));
    var cell = row.querySelector("[data-pos-pnl]");
    if (cell) {
      var pct = entry > 0 ? ((bid - entry) / entry) * 100 : null;
      cell.textContent = signed(pnl, places);
      if (pct !== null) {
        var span = document.createElement("span");
        span.className = "pnl-pct";
        span.textContent = signed(pct, 2) + "%";
        cell.appendChild(span);
      }
      tone(cell, pnl);
    }
  }

  // Totals are in USD: only recomputed while every row is quoted in USD.
  function updateTotals(box) {
    var rows = box.querySelectorAll("[data-position]");
    if (!rows.length) { return; }
    var value = 0, pnl = 0;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-quote") !== "USD") { return; }
      value += parseFloat(rows[i].getAttribute("data-value")) || 0;
      pnl += parseFloat(rows[i].getAttribute("data-pnl")) || 0;
    }
    box.querySelectorAll("[data-total-value]").forEach(function (el) { el.textContent = "$" + fmt(value, 2); });
    box.querySelectorAll("[data-total-pnl]").forEach(function (el) { el.textContent = signed(pnl, 2); tone(el, pnl); });
  }

  function onTicker(t) {
    if (!t || !t.symbol) { return; }
    var bid = parseFloat(t.bid);
    if (!isFinite(bid)) { return; }
    var symbol = t.symbol.replace("/", "-");
    var rows = document.querySelectorAll('[data-position="' + symbol + '"]');
    if (!rows.length) { return; }
    rows.forEach(function (row) { updateRow(row, bid); });
    document.querySelectorAll("[data-live-positions]").forEach(updateTotals);
  }

  function subscribeRows() {
    if (!window.tradeapp) { return; }
    var symbols = [];
    document.querySelectorAll("[data-position]").forEach(function (row) {
      var s = row.getAttribute("data-position");
      if (s && symbols.indexOf(s) === -1) { symbols.push(s); }
    });
    if (symbols.length) { window.tradeapp.subscribe(symbols); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.tradeapp) { return; }
    window.tradeapp.on("ticker", onTicker);
    subscribeRows();
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.querySelector && event.target.querySelector("[data-position]")) { subscribeRows(); }
  });
})();
