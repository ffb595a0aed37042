/* admin-campaigns.js — the campaign create/edit page only (spec 50 §6.2, decision 11).
 *
 * Live preview of an entry's image URL in the Add Entry and Edit Entry forms.
 * Markup contract:
 *   <img class="image-preview" data-image-preview-for="{input id}" hidden>
 *       shown only once the typed URL has loaded; hidden again when the field is empty, the
 *       URL is not allowed, or the image fails to load.
 *   [data-image-preview-status-for="{input id}"]  (optional) a short note, set with textContent.
 * Only URLs the server accepts (and the page's CSP allows) are ever requested: `https://…`, or a
 * path under /static/ without "..", "%2e", backslashes or "//" after the prefix.
 */
(function () {
  "use strict";

  var HTTPS_RE = /^https:\/\/[^\s\/?#\\]+[^\s\\]*$/i;
  var STATIC_PREFIX = "/static/";
  var STATIC_RE = /^\/static\/[^\s?#]+$/;
  var DELAY_MS = 250;
  var NOT_ALLOWED = "No preview: the URL must start with https:// or /static/.";
  var FAILED = "No preview: the image could not be loaded.";

  function allowedImageUrl(url) {
    if (url.length > 2048) return false;
    if (HTTPS_RE.test(url)) return true;
    if (!STATIC_RE.test(url)) return false;
    var rest = url.slice(STATIC_PREFIX.length);
    return !(
      rest.indexOf("..") !== -1 ||
      rest.toLowerCase().indexOf("%2e") !== -1 ||
      rest.indexOf("\\") !== -1 ||
      rest.indexOf("//") !== -1 ||
      rest.charAt(0) === "/"
    );
  }

  function setup(img) {
    var inputId = img.getAttribute("data-image-preview-for");
    var input = inputId ? document.getElementById(inputId) : null;
    if (!input) return;
    var status = null;
    var notes = document.querySelectorAll("[data-image-preview-status-for]");
    for (var i = 0; i < notes.length; i++) {
      if (notes[i].getAttribute("data-image-preview-status-for") === inputId) status = notes[i];
    }
    var wanted = "";
    var timer = null;

    function note(text) {
      if (status) status.textContent = text;
    }

    function hide() {
      img.hidden = true;
    }

    img.addEventListener("load", function () {
      if (wanted && img.getAttribute("src") === wanted) {
        img.hidden = false;
        note("");
      }
    });
    img.addEventListener("error", function () {
      if (wanted && img.getAttribute("src") === wanted) {
        hide();
        note(FAILED);
      }
    });

    function update() {
      timer = null;
      var url = input.value.trim();
      if (!url) {
        wanted = "";
        hide();
        img.removeAttribute("src");
        note("");
        return;
      }
      if (!allowedImageUrl(url)) {
        wanted = "";
        hide();
        img.removeAttribute("src");
        note(NOT_ALLOWED);
        return;
      }
      if (url === wanted) return;
      wanted = url;
      hide();
      note("");
      img.setAttribute("src", url);
    }

    input.addEventListener("input", function () {
      var url = input.value.trim();
      if (!url || !allowedImageUrl(url)) {
        if (timer) clearTimeout(timer);
        update(); // hide at once
        return;
      }
      if (url !== wanted) hide();
      if (timer) clearTimeout(timer);
      timer = setTimeout(update, DELAY_MS);
    });
    update(); // an existing value (Edit Entry, or a re-rendered form) previews at once
  }

  function init() {
    var previews = document.querySelectorAll("img.image-preview[data-image-preview-for]");
    for (var i = 0; i < previews.length; i++) setup(previews[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
