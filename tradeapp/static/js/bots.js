/* Backtest charts: the price with entries/exits and the equity curve, drawn whenever a backtest fragment arrives. */
(function () {
  "use strict";

  function baseOptions() {
    return {
      autoSize: true,
      layout: { background: { type: "solid", color: "#ffffff" }, textColor: "#475569", fontSize: 11, attributionLogo: false },
      grid: { vertLines: { color: "#f1f5f9" }, horzLines: { color: "#f1f5f9" } },
      rightPriceScale: { borderColor: "#e2e8f0" },
      timeScale: { borderColor: "#e2e8f0", timeVisible: true, secondsVisible: false },
      crosshair: { mode: 0 }
    };
  }

  function seconds(iso) { return Math.floor(Date.parse(iso) / 1000); }

  function draw(root) {
    var LWC = window.LightweightCharts;
    var holder = root.querySelector("[data-backtest-json]");
    if (!LWC || !holder || root.dataset.drawn) { return; }
    root.dataset.drawn = "1";
    var data = JSON.parse(holder.textContent);
    var priceBox = root.querySelector("[data-price-chart]");
    var equityBox = root.querySelector("[data-equity-chart]");
    if (priceBox && data.candles.length) {
      var chart = LWC.createChart(priceBox, baseOptions());
      var candles = chart.addSeries(LWC.CandlestickSeries, {
        upColor: "#059669", downColor: "#dc2626", borderVisible: false, wickUpColor: "#059669", wickDownColor: "#dc2626"
      });
      candles.setData(data.candles);
      var first = data.candles[0].time;
      var markers = [];
      data.trades.forEach(function (t) {
        var entry = seconds(t.entry_time), exit = seconds(t.exit_time);
        if (entry >= first) { markers.push({ time: entry, position: "belowBar", color: "#059669", shape: "arrowUp", text: "B" }); }
        if (exit >= first) { markers.push({ time: exit, position: "aboveBar", color: "#dc2626", shape: "arrowDown", text: t.exit_reason === "signal" ? "S" : t.exit_reason.replace("_", " ") }); }
      });
      markers.sort(function (a, b) { return a.time - b.time; });
      if (LWC.createSeriesMarkers) { LWC.createSeriesMarkers(candles, markers); }
      chart.timeScale().fitContent();
    }
    if (equityBox && data.equity.length) {
      var eq = LWC.createChart(equityBox, baseOptions());
      var line = eq.addSeries(LWC.LineSeries, { color: "#2563eb", lineWidth: 2, priceLineVisible: false });
      var points = [], last = null;
      data.equity.forEach(function (p) {
        var t = seconds(p.time);
        if (t !== last) { points.push({ time: t, value: p.equity }); last = t; }
      });
      line.setData(points);
      eq.timeScale().fitContent();
    }
  }

  function scan() { document.querySelectorAll("[data-backtest]").forEach(draw); }

  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSettle", scan);
})();
