// tradeapp page behaviour: dismissable alerts, confirm prompts, the live Socket.IO connection.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-dismiss]");
    if (close) { close.parentElement.remove(); }
    var toggle = event.target.closest("[data-menu-toggle]");
    if (toggle) {
      // the phone menu button: folds the customer top bar's links or the staff sidebar open and shut
      var menu = toggle.closest("[data-menu]");
      var open = menu.classList.toggle("menu-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
    var confirmer = event.target.closest("[data-confirm]");
    if (confirmer && !window.confirm(confirmer.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Actions answer with a toast: HX-Trigger-After-Settle {"toast": {"message": …, "level": …}} (web.toast).
  var TOAST_MS = 6000;
  function showToast(detail) {
    var region = document.getElementById("toasts");
    if (!region || !detail || !detail.message) { return; }
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (detail.level || "info");
    toast.setAttribute("role", detail.level === "error" ? "alert" : "status");
    var text = document.createElement("span");
    text.textContent = detail.message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.setAttribute("aria-label", "Dismiss");
    close.setAttribute("data-dismiss", "");
    close.textContent = "\u00d7";
    toast.append(text, close);
    region.append(toast);
    window.setTimeout(function () { toast.classList.add("toast-leaving"); }, TOAST_MS);
    toast.addEventListener("animationend", function (event) {
      if (event.animationName === "toast-out") { toast.remove(); }
    });
  }
  document.addEventListener("toast", function (event) { showToast(event.detail); });

  // One socket per page; pages listen with tradeapp.on(event, handler).
  var handlers = {};
  // The browser's side of the money filter (templating.money): fixed decimals, thousands separators.
  function money(value, places) {
    return Number(value).toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places });
  }

  var tradeapp = window.tradeapp = {
    socket: null,
    toast: showToast,
    money: money,
    on: function (event, handler) {
      (handlers[event] = handlers[event] || []).push(handler);
      if (tradeapp.socket) { tradeapp.socket.on(event, handler); }
    },
    subscribe: function (symbols) {
      tradeapp._symbols = (tradeapp._symbols || []).concat(symbols);
      if (tradeapp.socket && tradeapp.socket.connected) { tradeapp.socket.emit("subscribe", { symbols: symbols }); }
    }
  };

  function updateCounters(data) {
    Object.keys(data || {}).forEach(function (name) {
      document.querySelectorAll('[data-counter="' + name + '"]').forEach(function (el) {
        el.textContent = data[name];
      });
    });
  }

  function connect() {
    if (typeof window.io !== "function") { return; }
    var socket = tradeapp.socket = window.io({ transports: ["websocket", "polling"] });
    Object.keys(handlers).forEach(function (event) {
      handlers[event].forEach(function (h) { socket.on(event, h); });
    });
    socket.on("connect", function () {
      document.documentElement.dataset.live = "1";
      if (tradeapp._symbols && tradeapp._symbols.length) { socket.emit("subscribe", { symbols: tradeapp._symbols }); }
    });
    socket.on("disconnect", function () { document.documentElement.dataset.live = "0"; });
    socket.on("queue_counters", updateCounters);
    socket.on("notification", function (data) {
      if (!data || !data.message) { return; }
      var box = document.querySelector(".flashes") || document.body;
      var div = document.createElement("div");
      div.className = "alert alert-" + (data.level || "info");
      div.setAttribute("role", "status");
      div.textContent = data.message;
      box.prepend(div);
    });
    // Let HTMX widgets refresh themselves on server events: hx-trigger="balanceChanged from:body".
    socket.onAny(function (event, data) {
      document.body.dispatchEvent(new CustomEvent("socket:" + event, { detail: data }));
    });
  }

  document.addEventListener("DOMContentLoaded", connect);
})();
