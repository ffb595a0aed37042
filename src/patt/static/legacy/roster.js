/* roster.js — the roster sign-up form (spec 60 §4).
 *
 * - Class → spec cascade and spec → role (class-aware) from the embedded class table.
 * - When the Discord name loses focus and the person is on the roster, their days, preferences
 *   and notes are pre-filled from GET /api/v1/guild/availability (adding an alt keeps the week).
 * - Submit: client checks mirror the server; nothing is sent while a required field is empty.
 *   POST /api/v1/guild/roster-submit (JSON, X-CSRF-Token). Success clears only the character
 *   fields; failure shows "✗ <error>" and outlines the fields the server named.
 * All user text is written with textContent.
 */
(function () {
  "use strict";

  var form = document.getElementById("roster-form");
  if (!form) return;

  var table = JSON.parse(document.getElementById("class-table").textContent);
  var DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
  var ROLE_LABEL = { tank: "Tank", healer: "Healer", melee_dps: "Melee", ranged_dps: "Ranged" };
  var CURRENT_NAME = /^[A-Za-z0-9_.]{2,32}$/;
  var LEGACY_NAME = /^[^#@\u0000-\u001f\u007f]{2,32}#[0-9]{4}$/;
  var LETTERS = /^\p{L}{2,12}$/u;

  var discordInput = document.getElementById("discordName");
  var characterInput = document.getElementById("characterName");
  var classSelect = document.getElementById("class");
  var specSelect = document.getElementById("spec");
  var notesInput = document.getElementById("notes");
  var notesCount = document.getElementById("notes-count");
  var autoSignup = document.getElementById("autoSignup");
  var wantsReminders = document.getElementById("wantsReminders");
  var submitButton = document.getElementById("submit-btn");
  var statusLine = document.getElementById("form-status");
  var notesMax = parseInt(notesCount.getAttribute("data-max"), 10) || 1000;

  function classEntry(name) {
    for (var i = 0; i < table.classes.length; i++) {
      if (table.classes[i].name === name) return table.classes[i];
    }
    return null;
  }

  /* ---- checked styling: every tile mirrors its input ------------------- */

  function syncTiles() {
    var inputs = form.querySelectorAll(".rf-tile input, .rf-day input, .rf-pref input");
    for (var i = 0; i < inputs.length; i++) {
      var label = inputs[i].closest("label");
      if (label) label.classList.toggle("is-checked", inputs[i].checked);
    }
  }

  function radioValue(name) {
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value : "";
  }

  function setRadio(name, value) {
    var inputs = form.querySelectorAll('input[name="' + name + '"]');
    for (var i = 0; i < inputs.length; i++) inputs[i].checked = inputs[i].value === value;
    syncTiles();
  }

  /* ---- class → spec → role --------------------------------------------- */

  function fillSpecs() {
    while (specSelect.options.length > 1) specSelect.remove(1);
    specSelect.value = "";
    var entry = classEntry(classSelect.value);
    if (!entry) return;
    entry.specs.forEach(function (spec) {
      var option = document.createElement("option");
      option.value = spec.name;
      option.textContent = spec.name;
      specSelect.appendChild(option);
    });
  }

  function selectRoleForSpec() {
    var entry = classEntry(classSelect.value);
    if (!entry) return;
    for (var i = 0; i < entry.specs.length; i++) {
      if (entry.specs[i].name === specSelect.value) {
        setRadio("role", ROLE_LABEL[entry.specs[i].role]);
        return;
      }
    }
  }

  classSelect.addEventListener("change", function () {
    fillSpecs();
    clearFieldError("class");
  });
  specSelect.addEventListener("change", function () {
    selectRoleForSpec();
    clearFieldError("spec");
    clearFieldError("role");
  });
  form.addEventListener("change", function (event) {
    if (event.target && event.target.matches("input[type=radio], input[type=checkbox]")) {
      syncTiles();
      if (event.target.name) clearFieldError(event.target.name === "day" ? "availability" : event.target.name);
    }
  });

  /* ---- notes counter ---------------------------------------------------- */

  function updateCount() {
    notesCount.textContent = notesInput.value.length + " / " + notesMax;
    notesCount.classList.toggle("rf-over", notesInput.value.length > notesMax);
  }
  notesInput.addEventListener("input", updateCount);

  /* ---- field errors ------------------------------------------------------ */

  function fieldContainer(field) {
    if (field === "discordName" || field === "characterName" || field === "class" ||
        field === "spec" || field === "notes") {
      return document.getElementById(field);
    }
    return form.querySelector('[data-field="' + field + '"]');
  }

  function showFieldError(field, message) {
    var target = fieldContainer(field);
    if (target) {
      target.classList.add("is-invalid");
      if (target.setAttribute) target.setAttribute("aria-invalid", "true");
    }
    var slot = form.querySelector('[data-error-for="' + field + '"]');
    if (slot) {
      slot.textContent = message;
      slot.hidden = false;
    }
  }

  function clearFieldError(field) {
    var target = fieldContainer(field);
    if (target) {
      target.classList.remove("is-invalid");
      target.removeAttribute("aria-invalid");
    }
    var slot = form.querySelector('[data-error-for="' + field + '"]');
    if (slot) {
      slot.textContent = "";
      slot.hidden = true;
    }
  }

  function clearAllErrors() {
    ["discordName", "characterName", "class", "spec", "role", "mainAlt", "availability",
      "notes", "autoSignup", "wantsReminders"].forEach(clearFieldError);
  }

  ["discordName", "characterName", "notes"].forEach(function (id) {
    document.getElementById(id).addEventListener("input", function () { clearFieldError(id); });
  });

  function setStatus(kind, text) {
    statusLine.hidden = !text;
    statusLine.className = "rf-status" + (kind ? " rf-status--" + kind : "");
    statusLine.textContent = text || "";
  }

  /* ---- request helper ---------------------------------------------------- */

  function csrfToken() {
    if (window.PATT && typeof window.PATT.csrfToken === "function") return window.PATT.csrfToken();
    var match = document.cookie.match(/(?:^|;\s*)patt_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function requestJSON(url, method, body) {
    var init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = csrfToken();
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
        return { status: response.status, ok: response.ok, data: data };
      });
    });
  }

  /* ---- pre-fill a known person's week ----------------------------------- */

  var lastLookup = "";
  function normaliseName(value) {
    var name = value.trim();
    if (name.charAt(0) === "@") name = name.slice(1).trim();
    return CURRENT_NAME.test(name) ? name.toLowerCase() : name;
  }

  discordInput.addEventListener("blur", function () {
    var name = normaliseName(discordInput.value);
    if (!name || name === lastLookup) return;
    lastLookup = name;
    requestJSON("/api/v1/guild/availability", "GET").then(function (result) {
      if (!result.ok || !result.data || !Array.isArray(result.data.data)) return;
      var wanted = name.toLowerCase();
      var entry = null;
      result.data.data.forEach(function (item) {
        if (String(item.discord).toLowerCase() === wanted) entry = item;
      });
      if (!entry || normaliseName(discordInput.value).toLowerCase() !== wanted) return;
      var boxes = form.querySelectorAll('input[name="day"]');
      for (var i = 0; i < boxes.length; i++) boxes[i].checked = entry[boxes[i].value] === true;
      autoSignup.checked = entry.autoSignup === true;
      wantsReminders.checked = entry.wantsReminders === true;
      notesInput.value = typeof entry.notes === "string" ? entry.notes : "";
      updateCount();
      syncTiles();
      setStatus("info", "Welcome back — your week and preferences are filled in.");
    }).catch(function () { /* pre-fill is a convenience; the form still works */ });
  });

  /* ---- submit ------------------------------------------------------------- */

  function collect() {
    var days = {};
    DAYS.forEach(function (day) {
      var box = form.querySelector('input[name="day"][value="' + day + '"]');
      days[day] = !!(box && box.checked);
    });
    return {
      discordName: discordInput.value.trim(),
      characterName: characterInput.value.trim(),
      "class": classSelect.value,
      spec: specSelect.value,
      role: radioValue("role"),
      mainAlt: radioValue("mainAlt"),
      availability: days,
      autoSignup: autoSignup.checked,
      wantsReminders: wantsReminders.checked,
      notes: notesInput.value
    };
  }

  function clientProblems(body) {
    var problems = {};
    var name = body.discordName.charAt(0) === "@" ? body.discordName.slice(1).trim() : body.discordName;
    if (!name) problems.discordName = "Required — your Discord username.";
    else if (!CURRENT_NAME.test(name) && !LEGACY_NAME.test(name)) {
      problems.discordName = "Use your Discord username, not your display name.";
    }
    if (!body.characterName) problems.characterName = "Required.";
    else if (!LETTERS.test(body.characterName.normalize("NFC"))) {
      problems.characterName = "2–12 letters, no spaces, digits or punctuation.";
    }
    if (!body["class"]) problems["class"] = "Choose a class.";
    if (!body.spec) problems.spec = "Choose a spec.";
    if (!body.role) problems.role = "Choose a role.";
    if (!body.mainAlt) problems.mainAlt = "Main or alt?";
    if (body.notes.length > notesMax) problems.notes = "At most " + notesMax + " characters.";
    return problems;
  }

  function resetCharacterFields() {
    characterInput.value = "";
    classSelect.value = "";
    fillSpecs();
    setRadio("role", "");
    setRadio("mainAlt", "");
    syncTiles();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearAllErrors();
    var body = collect();
    var problems = clientProblems(body);
    var names = Object.keys(problems);
    if (names.length) {
      names.forEach(function (field) { showFieldError(field, problems[field]); });
      setStatus("error", "✗ Please fill in the highlighted fields.");
      var first = fieldContainer(names[0]);
      if (first && first.focus) first.focus();
      return;
    }
    submitButton.disabled = true;
    var label = submitButton.textContent;
    submitButton.textContent = "Submitting…";
    setStatus("", "");
    requestJSON("/api/v1/guild/roster-submit", "POST", body).then(function (result) {
      var data = result.data || {};
      if (result.ok && data.success === true) {
        var shown = body.characterName.charAt(0).toUpperCase() + body.characterName.slice(1).toLowerCase();
        setStatus(
          "success",
          "✓ Saved! " + shown + " is on the roster. Submit the form again to add an alt."
        );
        resetCharacterFields();
        return;
      }
      var message = typeof data.error === "string" && data.error
        ? data.error
        : "The server answered " + result.status + ". Please try again.";
      if (data.fields && typeof data.fields === "object") {
        Object.keys(data.fields).forEach(function (field) {
          showFieldError(field, String(data.fields[field]));
        });
      }
      setStatus("error", "✗ " + message);
    }).catch(function () {
      setStatus("error", "✗ Could not reach the server. Check your connection and try again.");
    }).then(function () {
      submitButton.disabled = false;
      submitButton.textContent = label;
    });
  });

  syncTiles();
  updateCount();
})();
