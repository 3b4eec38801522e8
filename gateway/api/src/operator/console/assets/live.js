// Live refresh for the console: every few seconds, fetch this page again and swap in its
// element marked data-live. Without this script the page has a refresh link instead. A
// checkbox pauses it; it stops when the session has ended or the element says data-live-done.
(function () {
  "use strict";
  var script = document.currentScript;
  var seconds = parseInt((script && script.getAttribute("data-seconds")) || "10", 10);
  document.addEventListener("DOMContentLoaded", function () {
    var region = document.querySelector("[data-live]");
    if (!region || region.hasAttribute("data-live-done")) { return; }
    var control = document.querySelector(".live-toggle");
    var toggle = document.getElementById("live-toggle");
    if (control) { control.hidden = false; }
    var timer = setInterval(function () {
      if (toggle && !toggle.checked) { return; }
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (res) {
          if (!res.ok || res.redirected) { throw new Error("status " + res.status); }
          return res.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live]");
          if (!fresh) { return; }
          region.replaceWith(fresh);
          region = fresh;
          if (fresh.hasAttribute("data-live-done")) { clearInterval(timer); }
        })
        .catch(function () {
          // The session ended or the node is away: stop; the refresh link still works.
          clearInterval(timer);
          if (toggle) { toggle.checked = false; toggle.disabled = true; }
        });
    }, Math.max(1, seconds) * 1000);
  });
})();
