// The trade page: live prices in the market list and header, the candlestick chart (lightweight-charts)
// with its last candle moving on each tick, the order book from "orderbook" events, the order form's
// helpers (percent buttons, book prices into the limit field, live summary) and the stale-market banner.
// Everything that changes money goes through the server's HTMX forms; this file only displays.
(function () {
  "use strict";

  var TIMEFRAME_SECONDS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };
  var CANDLE_LIMIT = 300;
  var page, symbol, pricePlaces, qtyPlaces, staleAfterMs;
  var lastTickAt = 0, lastBookAt = 0, serverStale = false, clientStale = false;

  var fmt = window.tradeapp.money;

  function num(text) {
    return parseFloat(String(text).replace(/,/g, ""));
  }

  function flash(el, up) {
    el.classList.remove("flash-up", "flash-down");
    void el.offsetWidth; // restart the animation
    el.classList.add(up ? "flash-up" : "flash-down");
  }

  function setChange(el, change) {
    if (!el || !isFinite(change)) { return; }
    el.textContent = (change >= 0 ? "+" : "") + change.toFixed(2) + "%";
    el.classList.toggle("up", change >= 0);
    el.classList.toggle("down", change < 0);
  }

  // -- market list -------------------------------------------------------------------------------

  function updatePairRow(t) {
    var row = document.querySelector('[data-pair="' + t.symbol.replace("/", "-") + '"]');
    if (!row) { return; }
    var places = parseInt(row.getAttribute("data-price-precision"), 10) || 2;
    var px = row.querySelector("[data-last]");
    var last = num(t.last);
    if (px && isFinite(last)) {
      var prev = num(px.textContent);
      px.textContent = fmt(last, places);
      if (isFinite(prev) && prev !== last) { flash(row, last > prev); }
    }
    setChange(row.querySelector("[data-change]"), num(t.change_24h));
  }

  function initSearch() {
    var input = document.querySelector("[data-pair-search]");
    if (!input) { return; }
    var rows = document.querySelectorAll(".pair-row");
    var none = document.querySelector("[data-pair-none]");
    function filter() {
      var needle = input.value.trim().toUpperCase().replace("-", "/");
      var shown = 0;
      rows.forEach(function (row) {
        var match = !needle || row.getAttribute("data-search").toUpperCase().indexOf(needle) !== -1;
        row.classList.toggle("hidden", !match);
        if (match) { shown++; }
      });
      if (none) { none.classList.toggle("hidden", shown > 0); }
    }
    input.addEventListener("input", filter);
    input.form.addEventListener("submit", function (event) {
      // Enter opens the first market that matches (the server filters when JavaScript is off).
      event.preventDefault();
      var first = document.querySelector(".pair-row:not(.hidden)");
      if (first) { window.location.href = first.href; }
    });
    filter();
  }

  // -- market header -----------------------------------------------------------------------------

  function updateHeader(t) {
    var last = num(t.last);
    var px = page.querySelector("[data-market-last]");
    if (px && isFinite(last)) {
      var prev = num(px.textContent);
      px.textContent = fmt(last, pricePlaces);
      if (isFinite(prev) && prev !== last) { flash(px, last > prev); }
    }
    setChange(page.querySelector("[data-market-change]"), num(t.change_24h));
    var fields = { "[data-market-high]": t.high_24h, "[data-market-low]": t.low_24h };
    Object.keys(fields).forEach(function (sel) {
      var el = page.querySelector(sel), v = num(fields[sel]);
      if (el && isFinite(v)) { el.textContent = fmt(v, pricePlaces); }
    });
    var vol = page.querySelector("[data-market-volume]"), v = num(t.volume);
    if (vol && isFinite(v)) { vol.textContent = fmt(v, 2) + " " + page.getAttribute("data-base"); }
    var mid = document.querySelector("[data-book-last]");
    if (mid && isFinite(last)) { mid.textContent = fmt(last, pricePlaces); }
  }

  // -- chart -------------------------------------------------------------------------------------

  var chart = null, candleSeries = null, volumeSeries = null, lastBar = null, timeframe = "1h", loadSeq = 0;

  function chartStatus(text) {
    var el = page.querySelector("[data-chart-status]");
    if (el) { el.textContent = text; }
  }

  function initChart() {
    var box = page.querySelector("[data-chart]");
    var LWC = window.LightweightCharts;
    if (!box || !LWC) { return; }
    timeframe = page.getAttribute("data-timeframe") || "1h";
    chart = LWC.createChart(box, {
      autoSize: true,
      // The library's own logo injects a <style> element, which the page's CSP refuses; the toolbar links
      // to TradingView instead (the attribution its licence notes ask for).
      layout: { background: { type: "solid", color: "#ffffff" }, textColor: "#475569", fontSize: 11, attributionLogo: false },
      grid: { vertLines: { color: "#f1f5f9" }, horzLines: { color: "#f1f5f9" } },
      rightPriceScale: { borderColor: "#e2e8f0" },
      timeScale: { borderColor: "#e2e8f0", timeVisible: true, secondsVisible: false },
      crosshair: { mode: 0 },
      // Prices on the axis read like everywhere else on the page (thousands separators).
      localization: { priceFormatter: function (price) { return fmt(price, pricePlaces); } }
    });
    var step = Math.pow(10, -pricePlaces);
    candleSeries = chart.addSeries(LWC.CandlestickSeries, {
      upColor: "#059669", downColor: "#dc2626", borderVisible: false,
      wickUpColor: "#059669", wickDownColor: "#dc2626",
      priceFormat: { type: "price", precision: pricePlaces, minMove: step }
    });
    candleSeries.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.24 } });
    volumeSeries = chart.addSeries(LWC.HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "", lastValueVisible: false, priceLineVisible: false });
    volumeSeries.priceScale().applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });

    page.querySelectorAll(".chart-toolbar [data-timeframe]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        setTimeframe(link.getAttribute("data-timeframe"));
      });
    });
    loadCandles();
  }

  function setTimeframe(tf) {
    if (!TIMEFRAME_SECONDS[tf] || tf === timeframe) { return; }
    timeframe = tf;
    page.querySelectorAll(".chart-toolbar [data-timeframe]").forEach(function (link) {
      var on = link.getAttribute("data-timeframe") === tf;
      link.classList.toggle("active", on);
      if (on) { link.setAttribute("aria-current", "true"); } else { link.removeAttribute("aria-current"); }
    });
    var url = new URL(window.location.href);
    url.searchParams.set("tf", tf);
    window.history.replaceState(null, "", url.toString());
    loadCandles();
  }

  function loadCandles() {
    var seq = ++loadSeq;
    chartStatus("Loading " + timeframe + " candles…");
    var url = page.getAttribute("data-candles-url") + "?timeframe=" + encodeURIComponent(timeframe) + "&limit=" + CANDLE_LIMIT;
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        if (seq !== loadSeq) { return; }
        var bars = [], volumes = [];
        (data.candles || []).forEach(function (c) {
          var bar = { time: Math.floor(c[0] / 1000), open: num(c[1]), high: num(c[2]), low: num(c[3]), close: num(c[4]) };
          bars.push(bar);
          volumes.push({ time: bar.time, value: num(c[5]), color: bar.close >= bar.open ? "rgba(5,150,105,.35)" : "rgba(220,38,38,.35)" });
        });
        candleSeries.setData(bars);
        volumeSeries.setData(volumes);
        lastBar = bars.length ? bars[bars.length - 1] : null;
        chart.timeScale().fitContent();
        if (bars.length > 120) { chart.timeScale().setVisibleLogicalRange({ from: bars.length - 120, to: bars.length + 2 }); }
        chartStatus(bars.length ? "" : "No candles for this timeframe yet.");
      })
      .catch(function () {
        if (seq === loadSeq) { chartStatus("Could not load the chart; pick a timeframe to try again."); }
      });
  }

  function tickChart(t) {
    if (!candleSeries || !lastBar) { return; }
    var price = num(t.last);
    if (!isFinite(price)) { return; }
    var at = Date.parse(t.timestamp);
    var seconds = (isFinite(at) ? at : Date.now()) / 1000;
    var size = TIMEFRAME_SECONDS[timeframe];
    var bucket = Math.floor(seconds / size) * size;
    if (bucket < lastBar.time) { return; }
    if (bucket === lastBar.time) {
      lastBar = { time: lastBar.time, open: lastBar.open, high: Math.max(lastBar.high, price), low: Math.min(lastBar.low, price), close: price };
    } else {
      lastBar = { time: bucket, open: lastBar.close, high: Math.max(lastBar.close, price), low: Math.min(lastBar.close, price), close: price };
    }
    candleSeries.update(lastBar);
  }

  // -- order book --------------------------------------------------------------------------------

  function applyDepth(root) {
    (root || document).querySelectorAll(".book-row[data-depth]").forEach(function (row) {
      var bar = row.querySelector(".depth");
      if (bar) { bar.style.width = Math.min(100, parseInt(row.getAttribute("data-depth"), 10) || 0) + "%"; }
    });
  }

  function bookRow(level, cls, top) {
    var price = num(level[0]), qty = num(level[1]);
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "book-row";
    btn.title = "Use this price for a limit order";
    btn.setAttribute("data-price", fmt(price, pricePlaces).replace(/,/g, ""));
    btn.setAttribute("data-depth", String(top ? Math.round((level[2] / top) * 100) : 0));
    var cells = [[fmt(price, pricePlaces), "px " + cls], [fmt(qty, qtyPlaces), "num"], [fmt(price * qty, 2), "num muted"]];
    cells.forEach(function (c) {
      var span = document.createElement("span");
      span.className = c[1];
      span.textContent = c[0];
      btn.appendChild(span);
    });
    var depth = document.createElement("i");
    depth.className = "depth";
    depth.setAttribute("aria-hidden", "true");
    btn.appendChild(depth);
    return btn;
  }

  function renderBook(book) {
    var asksBox = document.querySelector('[data-book-side="asks"]');
    var bidsBox = document.querySelector('[data-book-side="bids"]');
    if (!asksBox || !bidsBox) {
      // The page rendered the "no book yet" state: let the server draw the full fragment once.
      document.body.dispatchEvent(new CustomEvent("bookRefresh"));
      return;
    }
    var depth = asksBox.children.length || bidsBox.children.length || 12;
    function cumulate(levels) {
      var total = 0;
      return levels.slice(0, depth).map(function (l) { total += num(l[1]); return [l[0], l[1], total]; });
    }
    var asks = cumulate(book.asks || []), bids = cumulate(book.bids || []);
    var top = Math.max(asks.length ? asks[asks.length - 1][2] : 0, bids.length ? bids[bids.length - 1][2] : 0);
    asksBox.replaceChildren.apply(asksBox, asks.slice().reverse().map(function (l) { return bookRow(l, "down", top); }));
    bidsBox.replaceChildren.apply(bidsBox, bids.map(function (l) { return bookRow(l, "up", top); }));
    applyDepth(document.getElementById("orderbook"));
    var spread = document.querySelector("[data-book-spread]");
    if (spread && asks.length && bids.length) { spread.textContent = fmt(num(asks[0][0]) - num(bids[0][0]), pricePlaces); }
  }

  // -- order form --------------------------------------------------------------------------------

  function orderForm() { return document.getElementById("order-form"); }

  function checked(form, name) {
    var el = form.querySelector('input[name="' + name + '"]:checked');
    return el ? el.value : "";
  }

  function floorTo(value, places) {
    var f = Math.pow(10, places);
    return (Math.floor(value * f) / f).toFixed(places);
  }

  function refPrice(form) {
    var type = checked(form, "order_type");
    var field = form.querySelector(type === "limit" ? 'input[name="price"]' : 'input[name="stop_price"]');
    var typed = field && type !== "market" ? num(field.value) : NaN;
    if (isFinite(typed) && typed > 0) { return typed; }
    var book = document.querySelector(checked(form, "side") === "buy" ? '[data-book-side="asks"] .book-row:last-child' : '[data-book-side="bids"] .book-row:first-child');
    if (book) { return num(book.getAttribute("data-price")); }
    return num((page.querySelector("[data-market-last]") || {}).textContent);
  }

  function fillPercent(form, pct) {
    var balances = form.querySelector("#order-balances");
    if (!balances) { return; }
    var qtyField = form.querySelector('input[name="quantity"]');
    var qty;
    if (checked(form, "side") === "sell") {
      qty = num(balances.getAttribute("data-available-base")) * pct / 100;
    } else {
      var price = refPrice(form);
      var fee = num(page.getAttribute("data-taker-fee")) / 100;
      if (!(price > 0)) { return; }
      // Leave room for the fee and a little price movement on market orders.
      var margin = checked(form, "order_type") === "market" ? 0.995 : 1;
      qty = num(balances.getAttribute("data-available-quote")) * pct / 100 / (price * (1 + fee)) * margin;
    }
    if (!(qty > 0)) { qty = 0; }
    qtyField.value = floorTo(qty, qtyPlaces);
    qtyField.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function usePrice(price) {
    var form = orderForm();
    if (!form) { return; }
    var limit = form.querySelector('input[name="order_type"][value="limit"]');
    if (limit && !limit.checked) { limit.checked = true; limit.dispatchEvent(new Event("change", { bubbles: true })); }
    var field = form.querySelector('input[name="price"]');
    field.value = price;
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.focus();
  }

  var lastPreviewAt = 0;
  function maybeRefreshPreview() {
    // Market orders are priced off the book: keep their summary current, at most every 3 s.
    var form = orderForm();
    if (!form || checked(form, "order_type") !== "market") { return; }
    var qty = form.querySelector('input[name="quantity"]');
    if (!qty || !qty.value.trim() || Date.now() - lastPreviewAt < 3000) { return; }
    lastPreviewAt = Date.now();
    document.body.dispatchEvent(new CustomEvent("previewRefresh"));
  }

  // -- stale market --------------------------------------------------------------------------------

  function applyStale() {
    var stale = clientStale || (serverStale && !lastTickAt);
    var banner = document.getElementById("stale-banner");
    if (banner) { banner.classList.toggle("hidden", !stale); }
    var form = orderForm();
    var button = form && form.querySelector('button[type="submit"]');
    if (button && !button.classList.contains("htmx-request")) { button.disabled = stale; }
  }

  function watchStale() {
    window.setInterval(function () {
      var live = document.documentElement.dataset.live === "1";
      // Only a market that was ticking and went quiet is flagged here; the server judges the rest.
      var quiet = live && lastTickAt && Date.now() - lastTickAt > staleAfterMs;
      if (!!quiet !== clientStale) { clientStale = !!quiet; applyStale(); }
      if (live && Date.now() - lastBookAt > 10000 && lastTickAt && Date.now() - lastTickAt < 5000) {
        // Ticks but no book events: ask the server for the book now and then.
        lastBookAt = Date.now();
        document.body.dispatchEvent(new CustomEvent("bookRefresh"));
      }
    }, 2000);
  }

  // -- wiring ------------------------------------------------------------------------------------

  function onTicker(t) {
    if (!t || !t.symbol) { return; }
    updatePairRow(t);
    if (t.symbol.replace("/", "-") !== symbol) { return; }
    lastTickAt = Date.now();
    if (clientStale || serverStale) { clientStale = false; serverStale = false; applyStale(); }
    updateHeader(t);
    tickChart(t);
    maybeRefreshPreview();
  }

  function onBook(book) {
    if (!book || !book.symbol || book.symbol.replace("/", "-") !== symbol) { return; }
    lastBookAt = Date.now();
    renderBook(book);
  }

  function updateCounts() {
    document.querySelectorAll("[data-count-for]").forEach(function (box) {
      var badge = document.querySelector('[data-count-of="' + box.getAttribute("data-count-for") + '"]');
      if (badge) { badge.textContent = box.getAttribute("data-count"); }
    });
  }

  // A cancel answers with "orderCancelled": the form's "order placed" notice is about an order that is gone.
  document.addEventListener("orderCancelled", function () {
    document.querySelectorAll("[data-order-notice]").forEach(function (notice) { notice.remove(); });
  });

  document.addEventListener("DOMContentLoaded", function () {
    page = document.getElementById("trade");
    if (!page) { return; }
    symbol = page.getAttribute("data-symbol");
    pricePlaces = parseInt(page.getAttribute("data-price-precision"), 10) || 2;
    qtyPlaces = parseInt(page.getAttribute("data-quantity-precision"), 10) || 8;
    staleAfterMs = (parseFloat(page.getAttribute("data-stale-after")) || 15) * 1000;
    var form = orderForm();
    serverStale = !!(form && form.getAttribute("data-stale") === "1");

    initSearch();
    initChart();
    applyDepth(document);
    watchStale();

    document.addEventListener("click", function (event) {
      var pct = event.target.closest("[data-pct]");
      if (pct && pct.form) { fillPercent(pct.form, parseInt(pct.getAttribute("data-pct"), 10)); return; }
      var level = event.target.closest(".book-row[data-price]");
      if (level) { usePrice(level.getAttribute("data-price")); }
    });
    document.addEventListener("htmx:afterSwap", function (event) {
      var target = event.target;
      if (target.id === "orderbook" || (target.querySelector && target.querySelector("#orderbook"))) { applyDepth(document); }
      if (target.id === "order-form" || target.closest && target.closest("#order-form")) {
        var f = orderForm();
        if (f && f.getAttribute("data-stale") === "1" && !lastTickAt) { serverStale = true; }
        applyStale();
      }
      updateCounts();
    });

    if (window.tradeapp) {
      window.tradeapp.on("ticker", onTicker);
      window.tradeapp.on("orderbook", onBook);
      var symbols = [];
      document.querySelectorAll("[data-pair]").forEach(function (row) { symbols.push(row.getAttribute("data-pair")); });
      if (symbols.indexOf(symbol) === -1) { symbols.push(symbol); }
      window.tradeapp.subscribe(symbols);
    }
  });
})();
