// Signals pages: a toast when a signal arrives (the My signals list reloads itself through HTMX on the
// same Socket.IO event), and a signal's chart with its entry, stop-loss and take-profit lines.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    document.body.addEventListener("socket:trading_signal", function (event) {
      var s = event.detail || {};
      var text = "New signal: " + String(s.type || "").toUpperCase() + " " + (s.trading_pair || "") +
        " at " + (s.entry_price || "—") + (s.provider ? " (" + s.provider + ")" : "");
      document.dispatchEvent(new CustomEvent("toast", { detail: { message: text, level: "info" } }));
    });
    initChart();
  });

  function initChart() {
    var box = document.getElementById("signal-chart");
    var LWC = window.LightweightCharts;
    if (!box || !LWC) { return; }
    var card = box.closest(".card");
    var status = card ? card.querySelector("[data-chart-status]") : null;
    function say(text) { if (status) { status.textContent = text; } }
    var places = parseInt(box.getAttribute("data-price-places") || "2", 10);
    var chart = LWC.createChart(box, {
      autoSize: true,
      layout: { background: { type: "solid", color: "#ffffff" }, textColor: "#475569", fontSize: 11, attributionLogo: false },
      grid: { vertLines: { color: "#f1f5f9" }, horzLines: { color: "#f1f5f9" } },
      rightPriceScale: { borderColor: "#e2e8f0" },
      timeScale: { borderColor: "#e2e8f0", timeVisible: true, secondsVisible: false }
    });
    // The levels stay in view even when the market is far from them.
    var levels = ["data-entry", "data-stop", "data-target"].map(function (a) { return parseFloat(box.getAttribute(a)); })
      .filter(function (v) { return !isNaN(v); });
    var series = chart.addSeries(LWC.CandlestickSeries, {
      upColor: "#059669", downColor: "#dc2626", borderVisible: false, wickUpColor: "#059669", wickDownColor: "#dc2626",
      priceFormat: { type: "price", precision: places, minMove: Math.pow(10, -places) },
      autoscaleInfoProvider: function (original) {
        var res = original();
        if (!res || !res.priceRange || !levels.length) { return res; }
        res.priceRange.minValue = Math.min.apply(null, [res.priceRange.minValue].concat(levels));
        res.priceRange.maxValue = Math.max.apply(null, [res.priceRange.maxValue].concat(levels));
        return res;
      }
    });
    var lines = [["data-entry", "#2563eb", "Entry", 0], ["data-stop", "#dc2626", "SL", 2], ["data-target", "#059669", "TP", 2]];
    lines.forEach(function (l) {
      var value = box.getAttribute(l[0]);
      if (value) {
        series.createPriceLine({ price: parseFloat(value), color: l[1], lineWidth: 2, lineStyle: l[3], axisLabelVisible: true, title: l[2] });
      }
    });
    var url = box.getAttribute("data-candles-url") + "?timeframe=" + encodeURIComponent(box.getAttribute("data-timeframe")) + "&limit=200";
    say("Loading candles…");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        var bars = (data.candles || []).map(function (c) {
          return { time: Math.floor(c[0] / 1000), open: parseFloat(c[1]), high: parseFloat(c[2]), low: parseFloat(c[3]), close: parseFloat(c[4]) };
        });
        series.setData(bars);
        var published = parseInt(box.getAttribute("data-published") || "0", 10);
        if (bars.length && published && LWC.createSeriesMarkers) {
          var at = bars.filter(function (b) { return b.time <= published; }).pop() || bars[0];
          LWC.createSeriesMarkers(series, [{ time: at.time, position: "aboveBar", color: "#2563eb", shape: "arrowDown", text: "published" }]);
        }
        chart.timeScale().fitContent();
        say(bars.length ? "" : "No candles for this pair yet.");
      })
      .catch(function () { say("Could not load the chart."); });
  }
})();
