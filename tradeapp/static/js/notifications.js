// The notification bell: the live unread count, the dropdown (HTMX loads it), a toast per live notification.
// Server events on the user's room: `notification` {id, title, body, link, unread, …} and
// `notification_count` {unread}. Pages that list notifications refresh on `socket:notification`.
(function () {
  "use strict";

  function setCount(unread) {
    if (typeof unread !== "number") { return; }
    document.querySelectorAll("[data-notification-count]").forEach(function (el) {
      el.textContent = unread > 99 ? "99+" : String(unread);
      el.classList.toggle("hidden", unread === 0);
    });
    document.querySelectorAll("[data-bell-toggle]").forEach(function (button) {
      button.setAttribute("aria-label", "Notifications, " + unread + " unread");
    });
  }

  function levelOf(data) {
    var level = data && data.data && data.data.level;
    return ["success", "error", "warning", "info"].indexOf(level) >= 0 ? level : "info";
  }

  function menu() { return document.getElementById("bell-menu"); }

  function close() {
    var m = menu();
    if (!m || m.classList.contains("hidden")) { return; }
    m.classList.add("hidden");
    document.querySelectorAll("[data-bell-toggle]").forEach(function (b) { b.setAttribute("aria-expanded", "false"); });
  }

  // The button's click loads the dropdown (hx-get); here it only opens and closes it.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-bell-toggle]");
    var m = menu();
    if (toggle && m) {
      var opening = m.classList.contains("hidden");
      m.classList.toggle("hidden", !opening);
      toggle.setAttribute("aria-expanded", opening ? "true" : "false");
      if (!opening) { event.preventDefault(); }
      return;
    }
    if (m && !event.target.closest("[data-bell]")) { close(); }
  });
  // A closing click must not reload the dropdown.
  document.addEventListener("htmx:confirm", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-bell-toggle]");
    var m = menu();
    if (toggle && m && !m.classList.contains("hidden")) { event.preventDefault(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { close(); }
  });

  function onNotification(data) {
    if (!data || data.id === undefined) { return; }
    setCount(data.unread);
    if (window.tradeapp && window.tradeapp.toast) {
      window.tradeapp.toast({ message: data.body ? data.title + " — " + data.body : data.title, level: levelOf(data) });
    }
    var m = menu();
    if (m && !m.classList.contains("hidden") && window.htmx) {
      window.htmx.ajax("GET", document.querySelector("[data-bell-toggle]").getAttribute("hx-get"), { target: "#bell-menu", swap: "innerHTML" });
    }
  }

  function onCount(data) { if (data) { setCount(data.unread); } }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.tradeapp) { return; }
    window.tradeapp.on("notification", onNotification);
    window.tradeapp.on("notification_count", onCount);
  });
  // Marking read on this page answers with the new count in the page's own fragments.
  document.addEventListener("notificationsRead", function (event) { setCount(event.detail && event.detail.unread); });
})();
