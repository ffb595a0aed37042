/* admin-forms.js — behaviours for the admin pages (spec 50 §9). Load it only on admin pages.
 *
 * Markup contract:
 *   data-confirm="Message?"           on a <form> or a submit button / link: window.confirm first.
 *   .preset-btn[data-hours="168"]     (type="button") sets #duration_hours; active one highlighted.
 *   [data-toggle-chars="{id}"]        toggles tr#chars-{id} (.open); label "▼ Characters" ⇄ "▲ Hide".
 *   [data-edit-discord="{id}"]        hides #discord-display-{id}, shows #discord-edit-{id}
 *                                     (starts with the `hidden` attribute) and focuses its input.
 *   [data-cancel-discord="{id}"]      swaps back and restores the input's original value.
 *   select[data-autosubmit]           submits its form on change.
 *   #roster-filter                    hides tr[data-filter-text] rows that don't contain the text,
 *                                     plus their character row (#chars-{data-member-id} or the next
 *                                     sibling tr.char-row). Optional #roster-filter-empty is shown
 *                                     when nothing matches.
 * Light client checks (the server stays authoritative): required fields, Discord ID
 * (^\d{17,20}$, empty allowed) on inputs named discord_id or marked data-discord-id, and min/max
 * on number inputs.
 */
(function () {
  "use strict";

  var DISCORD_ID_RE = /^\d{17,20}$/;
  var DISCORD_ID_MESSAGE = "Discord ID must be 17–20 digits.";

  /* ---- Light client-side checks ---------------------------------------- */

  function isDiscordIdInput(el) {
    return el.name === "discord_id" || el.hasAttribute("data-discord-id");
  }

  function checkField(el) {
    if (el.disabled || el.type === "hidden" || el.type === "submit" || el.type === "button") {
      return "";
    }
    var value = typeof el.value === "string" ? el.value.trim() : "";
    if (el.required && el.type !== "checkbox" && !value) {
      var label = el.labels && el.labels[0] ? el.labels[0].textContent.replace(/[*:]/g, "").trim() : "";
      return label ? label + " is required." : "This field is required.";
    }
    if (isDiscordIdInput(el) && value && !DISCORD_ID_RE.test(value)) {
      return DISCORD_ID_MESSAGE;
    }
    if (el.type === "number" && value) {
      var number = Number(value);
      if (!Number.isFinite(number)) return "Enter a number.";
      var min = el.getAttribute("min");
      var max = el.getAttribute("max");
      if (min !== null && min !== "" && number < Number(min)) return "Must be at least " + min + ".";
      if (max !== null && max !== "" && number > Number(max)) return "Must be at most " + max + ".";
    }
    return "";
  }

  function validateForm(form) {
    var firstInvalid = null;
    var fields = form.querySelectorAll("input, select, textarea");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (isDiscordIdInput(field) && typeof field.value === "string") {
        field.value = field.value.trim();
      }
      var message = checkField(field);
      if (field.setCustomValidity) field.setCustomValidity(message);
      field.classList.toggle("is-invalid", Boolean(message));
      if (message && !firstInvalid) firstInvalid = field;
    }
    if (firstInvalid) {
      if (firstInvalid.reportValidity) firstInvalid.reportValidity();
      firstInvalid.focus();
      return false;
    }
    return true;
  }

  // Clear a field's custom error as soon as the user edits it.
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (!el || !el.classList || !el.classList.contains("is-invalid")) return;
    var message = checkField(el);
    if (el.setCustomValidity) el.setCustomValidity(message);
    el.classList.toggle("is-invalid", Boolean(message));
  });

  // Discord ID inputs get a native pattern too, so the browser blocks bad values before submit.
  function initDiscordPatterns() {
    var inputs = document.querySelectorAll('input[name="discord_id"], input[data-discord-id]');
    for (var i = 0; i < inputs.length; i++) {
      if (!inputs[i].hasAttribute("pattern")) inputs[i].setAttribute("pattern", "\\s*\\d{17,20}\\s*");
      if (!inputs[i].hasAttribute("title")) inputs[i].setAttribute("title", DISCORD_ID_MESSAGE);
      inputs[i].setAttribute("inputmode", "numeric");
    }
  }

  /* ---- Submit: checks, then data-confirm -------------------------------- */

  // Confirm on a submit button or link (runs before the form's submit event).
  document.addEventListener("click", function (event) {
    var trigger = event.target.closest ? event.target.closest("button[data-confirm], input[data-confirm], a[data-confirm]") : null;
    if (!trigger || trigger.disabled) return;
    if (trigger.tagName === "A") {
      if (!window.confirm(trigger.getAttribute("data-confirm"))) event.preventDefault();
      return;
    }
    var form = trigger.form;
    if (!form) return;
    // Run the checks first so the user is not asked to confirm an invalid form.
    if (!form.noValidate && !trigger.formNoValidate && !validateForm(form)) {
      event.preventDefault();
      return;
    }
    if (!window.confirm(trigger.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    trigger.setAttribute("data-confirmed", "");
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || form.tagName !== "FORM") return;
    var submitter = event.submitter || null;
    var alreadyConfirmed = submitter && submitter.hasAttribute("data-confirmed");
    if (submitter) submitter.removeAttribute("data-confirmed");

    if (!alreadyConfirmed && !(submitter && submitter.formNoValidate) && !validateForm(form)) {
      event.preventDefault();
      return;
    }
    if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  /* ---- Duration presets -------------------------------------------------- */

  function initPresets() {
    var input = document.getElementById("duration_hours");
    var presets = document.querySelectorAll(".preset-btn[data-hours]");
    if (!presets.length) return;

    function highlight() {
      var current = input ? String(input.value).trim() : "";
      for (var i = 0; i < presets.length; i++) {
        var active = presets[i].getAttribute("data-hours") === current;
        presets[i].classList.toggle("preset-btn--active", active);
        presets[i].setAttribute("aria-pressed", active ? "true" : "false");
      }
    }

    for (var i = 0; i < presets.length; i++) {
      presets[i].addEventListener("click", function (event) {
        event.preventDefault();
        if (!input) return;
        input.value = this.getAttribute("data-hours");
        input.dispatchEvent(new Event("input", { bubbles: true }));
        input.dispatchEvent(new Event("change", { bubbles: true }));
        highlight();
      });
    }
    if (input) {
      input.addEventListener("input", highlight);
      input.addEventListener("change", highlight);
    }
    highlight();
  }

  /* ---- Character rows (admin roster) ------------------------------------ */

  var CHARS_SHOW = "▼ Characters";
  var CHARS_HIDE = "▲ Hide";

  function initCharToggles() {
    var toggles = document.querySelectorAll("[data-toggle-chars]");
    for (var i = 0; i < toggles.length; i++) {
      var toggle = toggles[i];
      var row = document.getElementById("chars-" + toggle.getAttribute("data-toggle-chars"));
      if (row) {
        toggle.setAttribute("aria-controls", row.id);
        toggle.setAttribute("aria-expanded", row.classList.contains("open") ? "true" : "false");
      }
      toggle.addEventListener("click", function (event) {
        event.preventDefault();
        var target = document.getElementById("chars-" + this.getAttribute("data-toggle-chars"));
        if (!target) return;
        var open = target.classList.toggle("open");
        this.textContent = open ? CHARS_HIDE : CHARS_SHOW;
        this.setAttribute("aria-expanded", open ? "true" : "false");
      });
    }
  }

  /* ---- Inline Discord ID editor ----------------------------------------- */

  function initDiscordEditors() {
    document.addEventListener("click", function (event) {
      if (!event.target.closest) return;
      var edit = event.target.closest("[data-edit-discord]");
      var cancel = event.target.closest("[data-cancel-discord]");
      if (!edit && !cancel) return;
      event.preventDefault();
      var id = (edit || cancel).getAttribute(edit ? "data-edit-discord" : "data-cancel-discord");
      var display = document.getElementById("discord-display-" + id);
      var editor = document.getElementById("discord-edit-" + id);
      if (!editor) return;
      var input = editor.querySelector("input:not([type=hidden])");
      if (edit) {
        if (display) display.hidden = true;
        editor.hidden = false;
        if (input) {
          input.focus();
          input.select();
        }
      } else {
        if (input) {
          input.value = input.defaultValue;
          input.setCustomValidity("");
          input.classList.remove("is-invalid");
        }
        editor.hidden = true;
        if (display) display.hidden = false;
        var editButton = document.querySelector('[data-edit-discord="' + CSS.escape(id) + '"]');
        if (editButton) editButton.focus();
      }
    });

    // Esc inside an open editor cancels it.
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !event.target.closest) return;
      var editor = event.target.closest('[id^="discord-edit-"]');
      if (!editor) return;
      var cancel = editor.querySelector("[data-cancel-discord]");
      if (cancel) cancel.click();
    });
  }

  /* ---- Auto-submitting selects ------------------------------------------ */

  function initAutosubmit() {
    document.addEventListener("change", function (event) {
      var el = event.target;
      if (!el || !el.hasAttribute || !el.hasAttribute("data-autosubmit") || !el.form) return;
      if (el.form.requestSubmit) {
        el.form.requestSubmit(); // fires the submit event, so data-confirm and checks still apply
      } else {
        el.form.submit();
      }
    });
  }

  /* ---- Roster filter ------------------------------------------------------ */

  function charRowFor(row) {
    var memberId = row.getAttribute("data-member-id");
    if (memberId) {
      var byId = document.getElementById("chars-" + memberId);
      if (byId) return byId;
    }
    var next = row.nextElementSibling;
    return next && next.classList.contains("char-row") ? next : null;
  }

  function initRosterFilter() {
    var box = document.getElementById("roster-filter");
    if (!box) return;
    var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-filter-text]"));
    var empty = document.getElementById("roster-filter-empty");

    function apply() {
      var query = box.value.trim().toLowerCase();
      var shown = 0;
      rows.forEach(function (row) {
        var haystack = (row.getAttribute("data-filter-text") || "").toLowerCase();
        var match = !query || haystack.indexOf(query) !== -1;
        row.hidden = !match;
        var chars = charRowFor(row);
        if (chars) chars.hidden = !match;
        if (match) shown += 1;
      });
      if (empty) empty.hidden = shown !== 0;
    }

    box.addEventListener("input", apply);
    box.addEventListener("search", apply);
    apply();
  }

  /* ---- Init --------------------------------------------------------------- */

  function init() {
    initDiscordPatterns();
    initPresets();
    initCharToggles();
    initDiscordEditors();
    initAutosubmit();
    initRosterFilter();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
