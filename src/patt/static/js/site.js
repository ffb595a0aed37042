/* site.js — small helpers loaded on every page (spec 50 §1, §9; 60 §1.2).
 *
 *   PATT.csrfToken()                      → value of the `patt_csrf` cookie ("" if absent)
 *   PATT.fetchJSON(url, {method, body})   → parsed JSON; throws Error(server `error` text) on non-2xx
 *   PATT.flash(kind, text)                → show a flash bar in the page's flash area (textContent only)
 *   PATT.clearFlash()                     → remove client-side flash bars
 *
 * Automatic behaviours:
 *   - Register page: #password / #password2 → "✓ Passwords match" / "✗ Passwords do not match" in
 *     #password-match.
 *   - Bars: any element with data-bar-width="42.5" gets style.width = 42.5% (the CSP forbids inline
 *     style attributes, CSSOM writes are allowed). Used for .score-bar__fill and .progress__bar.
 *   - Images: <img data-fallback="hide"> is hidden if it fails to load; <img data-fallback="placeholder">
 *     is replaced by a 🖼 placeholder (<span class="img-placeholder">), keeping the img's other classes.
 */
(function () {
  "use strict";

  var PATT = (window.PATT = window.PATT || {});

  /* ---- CSRF ------------------------------------------------------------- */

  function readCookie(name) {
    var pairs = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < pairs.length; i++) {
      var pair = pairs[i].trim();
      var eq = pair.indexOf("=");
      if (eq === -1) continue;
      if (pair.slice(0, eq) === name) {
        try {
          return decodeURIComponent(pair.slice(eq + 1));
        } catch (err) {
          return pair.slice(eq + 1);
        }
      }
    }
    return "";
  }

  PATT.csrfToken = function () {
    var token = readCookie("patt_csrf");
    if (token) return token;
    // Fallback: the hidden form field rendered by the server carries the same value.
    var field = document.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  };

  /* ---- JSON fetch ------------------------------------------------------- */

  var SAFE_METHODS = { GET: true, HEAD: true, OPTIONS: true };

  PATT.fetchJSON = function (url, options) {
    var opts = options || {};
    var method = (opts.method || "GET").toUpperCase();
    var headers = { Accept: "application/json" };
    var init = { method: method, headers: headers, credentials: "same-origin" };

    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    }
    if (!SAFE_METHODS[method]) {
      headers["X-CSRF-Token"] = PATT.csrfToken();
    }
    if (opts.signal) init.signal = opts.signal;

    return window.fetch(url, init).then(
      function (response) {
        return response.text().then(function (text) {
          var data = null;
          if (text) {
            try {
              data = JSON.parse(text);
            } catch (err) {
              data = null;
            }
          }
          if (!response.ok) {
            var message =
              (data && typeof data.error === "string" && data.error) ||
              "Request failed (HTTP " + response.status + ").";
            var error = new Error(message);
            error.status = response.status;
            error.data = data;
            throw error;
          }
          return data;
        });
      },
      function (networkError) {
        if (networkError && networkError.name === "AbortError") throw networkError;
        var error = new Error("Network error — check your connection and try again.");
        error.status = 0;
        error.cause = networkError;
        throw error;
      }
    );
  };

  /* ---- Client-side flash bars ------------------------------------------ */

  var FLASH_ICONS = { success: "✓", error: "⚠", info: "ℹ", warning: "⚠" };

  PATT.flash = function (kind, text) {
    var safeKind = FLASH_ICONS.hasOwnProperty(kind) ? kind : "info";
    var area = document.getElementById("flash-area");
    if (!area) return null;
    PATT.clearFlash();
    var bar = document.createElement("div");
    bar.className = "flash flash--" + safeKind;
    bar.setAttribute("data-client-flash", "");
    var icon = document.createElement("span");
    icon.className = "flash__icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = FLASH_ICONS[safeKind];
    var body = document.createElement("span");
    body.className = "flash__text";
    body.textContent = String(text);
    bar.appendChild(icon);
    bar.appendChild(body);
    area.appendChild(bar);
    if (bar.scrollIntoView && bar.getBoundingClientRect().top < 0) {
      bar.scrollIntoView({ block: "nearest" });
    }
    return bar;
  };

  PATT.clearFlash = function () {
    var bars = document.querySelectorAll("[data-client-flash]");
    for (var i = 0; i < bars.length; i++) bars[i].remove();
  };

  /* ---- Register page: password match indicator ------------------------- */

  function initPasswordMatch() {
    var first = document.getElementById("password");
    var second = document.getElementById("password2");
    var indicator = document.getElementById("password-match");
    if (!first || !second || !indicator) return;
    indicator.classList.add("password-match");
    indicator.setAttribute("aria-live", "polite");

    function update() {
      indicator.classList.remove("password-match--ok", "password-match--bad");
      if (!second.value) {
        indicator.textContent = "";
        return;
      }
      if (first.value === second.value) {
        indicator.textContent = "✓ Passwords match";
        indicator.classList.add("password-match--ok");
      } else {
        indicator.textContent = "✗ Passwords do not match";
        indicator.classList.add("password-match--bad");
      }
    }

    first.addEventListener("input", update);
    second.addEventListener("input", update);
    update();
  }

  /* ---- Bars (score/progress) ------------------------------------------- */

  function applyBarWidths(root) {
    var bars = (root || document).querySelectorAll("[data-bar-width]");
    for (var i = 0; i < bars.length; i++) {
      var value = parseFloat(bars[i].getAttribute("data-bar-width"));
      if (!isFinite(value)) continue;
      bars[i].style.width = Math.min(100, Math.max(0, value)) + "%";
    }
  }
  PATT.applyBarWidths = applyBarWidths;

  /* ---- Image fallbacks -------------------------------------------------- */

  function handleBrokenImage(img) {
    var mode = img.getAttribute("data-fallback");
    if (mode === "hide") {
      img.hidden = true;
    } else if (mode === "placeholder") {
      var placeholder = document.createElement("span");
      placeholder.className = (img.className ? img.className + " " : "") + "img-placeholder";
      placeholder.setAttribute("role", "img");
      placeholder.setAttribute("aria-label", img.getAttribute("alt") || "Image unavailable");
      placeholder.textContent = "🖼";
      img.replaceWith(placeholder);
    }
  }

  function initImageFallbacks() {
    // Errors that happen after this script runs (error events do not bubble: use capture).
    document.addEventListener(
      "error",
      function (event) {
        var target = event.target;
        if (target && target.tagName === "IMG" && target.hasAttribute("data-fallback")) {
          handleBrokenImage(target);
        }
      },
      true
    );
    // Errors that already happened before this deferred script ran.
    var images = document.querySelectorAll("img[data-fallback]");
    for (var i = 0; i < images.length; i++) {
      var img = images[i];
      if (!img.getAttribute("src") || (img.complete && img.naturalWidth === 0)) {
        handleBrokenImage(img);
      }
    }
  }

  /* ---- Init ------------------------------------------------------------- */

  function init() {
    initPasswordMatch();
    applyBarWidths(document);
    initImageFallbacks();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
