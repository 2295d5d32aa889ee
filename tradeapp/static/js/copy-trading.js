/* The trader page's equity curve (lightweight-charts): loads the stored curve for a window and draws it. */
(function () {
  "use strict";
  var box = document.querySelector("[data-copy-chart]");
  if (!box) { return; }
  var LWC = window.LightweightCharts;
  if (!LWC) { return; }
  var chart = LWC.createChart(box, {
    autoSize: true,
    layout: { background: { type: "solid", color: "#ffffff" }, textColor: "#475569", fontSize: 11, attributionLogo: false },
    grid: { vertLines: { color: "#f1f5f9" }, horzLines: { color: "#f1f5f9" } },
    rightPriceScale: { borderColor: "#e2e8f0" },
    timeScale: { borderColor: "#e2e8f0", timeVisible: true, secondsVisible: false },
    crosshair: { mode: 0 }
  });
  var series = chart.addSeries(LWC.AreaSeries, {
    lineColor: "#2563eb", topColor: "rgba(37, 99, 235, 0.25)", bottomColor: "rgba(37, 99, 235, 0.02)", lineWidth: 2,
    priceFormat: { type: "price", precision: 2, minMove: 0.01 }
  });
  var url = box.getAttribute("data-curve-url");

  function message(text) {
    var el = box.querySelector(".chart-empty");
    if (!el) {
      el = document.createElement("p");
      el.className = "chart-empty muted";
      box.appendChild(el);
    }
    el.textContent = text;
    el.hidden = !text;
  }

  function load(windowName) {
    fetch(url + "?window=" + encodeURIComponent(windowName), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        var seen = {};
        var data = [];
        (body.points || []).forEach(function (p) {
          // one value per second: the chart needs strictly increasing times
          if (seen[p.time]) { data[data.length - 1].value = Number(p.equity); return; }
          seen[p.time] = true;
          data.push({ time: p.time, value: Number(p.equity) });
        });
        series.setData(data);
        chart.timeScale().fitContent();
        message(data.length ? "" : "No history in this window yet.");
      })
      .catch(function () { message("The curve could not be loaded; try again in a moment."); });
  }

  document.querySelectorAll("[data-window]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      document.querySelectorAll("[data-window]").forEach(function (other) { other.classList.toggle("active", other === link); });
      load(link.getAttribute("data-window"));
    });
  });
  load("all");
}());
