/* countdown.js — live countdowns for every `.countdown[data-end-ts]` on the page (spec 50 §9).
 *
 * Markup:
 *   <span class="countdown" data-end-ts="1772388000"            (Unix seconds, required)
 *         data-ended-text="Voting has ended"                    (optional, this is the default)
 *         data-reload="true">…</span>                           (optional: reload once after 3 s)
 *
 * Uses the browser clock. Format: days if > 0; hours if days or hours > 0; minutes if any larger
 * unit or minutes > 0; seconds always — "1d 1h 1m 1s", "1h 0m 5s", "59s".
 * At zero: ended text + class `countdown--ended`; with data-reload="true" the page reloads ONCE
 * after 3 s (hardened: never a reload loop, even if the server still renders the countdown).
 */
(function () {
  "use strict";

  var DEFAULT_ENDED_TEXT = "Voting has ended";
  var RELOAD_DELAY_MS = 3000;

  function formatRemaining(totalSeconds) {
    var total = Math.max(0, Math.floor(totalSeconds));
    var days = Math.floor(total / 86400);
    var hours = Math.floor((total % 86400) / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var seconds = total % 60;
    var parts = [];
    if (days > 0) parts.push(days + "d");
    if (days > 0 || hours > 0) parts.push(hours + "h");
    if (days > 0 || hours > 0 || minutes > 0) parts.push(minutes + "m");
    parts.push(seconds + "s");
    return parts.join(" ");
  }

  // One reload per page+deadline per browser tab: guards against loops when the server's
  // clock disagrees with the browser's and renders the same countdown again.
  function reloadOnce(endTs) {
    var key = "patt-countdown-reloaded:" + window.location.pathname + ":" + endTs;
    try {
      if (window.sessionStorage.getItem(key)) return false;
      window.sessionStorage.setItem(key, "1");
    } catch (err) {
      // Storage unavailable (privacy mode): still only one reload for this page view.
    }
    window.setTimeout(function () {
      window.location.reload();
    }, RELOAD_DELAY_MS);
    return true;
  }

  function start(root) {
    var elements = Array.prototype.slice.call(
      (root || document).querySelectorAll(".countdown[data-end-ts]")
    );
    var active = elements.filter(function (el) {
      return !el.classList.contains("countdown--ended") && !el.hasAttribute("data-countdown-running");
    });
    if (!active.length) return;
    active.forEach(function (el) {
      el.setAttribute("data-countdown-running", "");
    });

    var reloadScheduled = false;
    var timer = null;

    function tick() {
      var nowSeconds = Date.now() / 1000;
      active = active.filter(function (el) {
        var endTs = Number(el.getAttribute("data-end-ts"));
        if (!Number.isFinite(endTs)) return false;
        // Round up so "1s" stays visible until the deadline actually passes.
        var remaining = Math.ceil(endTs - nowSeconds);
        if (remaining > 0) {
          el.textContent = formatRemaining(remaining);
          return true;
        }
        el.textContent = el.getAttribute("data-ended-text") || DEFAULT_ENDED_TEXT;
        el.classList.add("countdown--ended");
        el.removeAttribute("data-countdown-running");
        if (el.getAttribute("data-reload") === "true" && !reloadScheduled) {
          reloadScheduled = reloadOnce(endTs);
        }
        return false;
      });
      if (!active.length && timer !== null) {
        window.clearInterval(timer);
        timer = null;
      }
    }

    tick();
    if (active.length) timer = window.setInterval(tick, 1000);
  }

  window.PATT = window.PATT || {};
  window.PATT.formatCountdown = formatRemaining;
  window.PATT.startCountdowns = start; // call again after inserting new countdowns

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      start(document);
    });
  } else {
    start(document);
  }
})();
