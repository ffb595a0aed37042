/* raid-admin.js — the raid admin dashboard (spec 60 §6).
 *
 * Data: the page's embedded config (#raid-admin-data), GET /api/v1/guild/roster-data and
 * GET /api/v1/guild/raid-schedule. Writes go to the platform API only (the Raid-Helper key stays
 * on the server). Per-browser overrides live in localStorage["patt_admin_config"] and
 * localStorage["patt_event_templates"]. All user text is inserted with textContent.
 */
(function () {
  "use strict";

  var root = document.getElementById("raid-admin");
  var dataNode = document.getElementById("raid-admin-data");
  if (!root || !dataNode) return;

  var CFG = JSON.parse(dataNode.textContent || "{}");
  var PATT = window.PATT || {};
  var API = "/api/v1/guild";
  var SETTINGS_KEY = "patt_admin_config";
  var TEMPLATES_KEY = "patt_event_templates";
  var LEGACY_KEYS = ["apiKey", "rosterUrl", "discordIdMapping"];
  var SNOWFLAKE = /^[0-9]{17,20}$/;
  var DAY_SHORT = { sunday: "Sun", monday: "Mon", tuesday: "Tue", wednesday: "Wed", thursday: "Thu", friday: "Fri", saturday: "Sat" };
  var ROLE_CLASS = { Tank: "tank", Healer: "healer", Melee: "melee", Ranged: "ranged" };

  var state = { schedule: null, roster: null, selectedDay: null, tab: "available", eventType: "oldRaids" };

  /* ---- small helpers ---------------------------------------------------- */

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function fetchJSON(url, options) {
    if (PATT.fetchJSON) return PATT.fetchJSON(url, options);
    var opts = options || {};
    var init = { method: opts.method || "GET", credentials: "same-origin", headers: { Accept: "application/json" } };
    if (opts.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    if (init.method !== "GET") init.headers["X-CSRF-Token"] = csrfToken();
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
        if (!response.ok) {
          var error = new Error((data && data.error) || "Request failed (HTTP " + response.status + ").");
          error.status = response.status;
          throw error;
        }
        return data;
      });
    }, function () { throw new Error("Network error — check your connection and try again."); });
  }

  function csrfToken() {
    if (PATT.csrfToken) return PATT.csrfToken();
    var match = document.cookie.match(/(?:^|;\s*)patt_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function notice(kind, text) {
    if (PATT.flash) { PATT.flash(kind, text); return; }
    var box = $("ra-notice");
    box.hidden = false;
    box.className = "ra-notice ra-notice--" + kind;
    box.textContent = text;
  }

  function readJSONStorage(key) {
    try {
      var raw = window.localStorage.getItem(key);
      var value = raw ? JSON.parse(raw) : null;
      return value && typeof value === "object" && !Array.isArray(value) ? value : null;
    } catch (err) {
      return null;
    }
  }

  function writeJSONStorage(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch (err) {
      notice("error", "Could not save in this browser (storage blocked?).");
      return false;
    }
  }

  function removeStorage(key) {
    try { window.localStorage.removeItem(key); } catch (err) { /* ignore */ }
  }

  function setStatus(node, kind, text) {
    node.className = "ra-status-line" + (kind ? " ra-status-line--" + kind : "");
    node.textContent = text || "";
  }

  function roleChip(role) {
    var slug = ROLE_CLASS[role] || "ranged";
    return el("span", "role-chip role-chip--" + slug, role || "Ranged");
  }

  function classSlug(name) {
    return "class-" + String(name || "").toLowerCase().replace(/\s+/g, "-");
  }

  /* ---- effective settings (60 §6.2) ------------------------------------- */

  function overrides() {
    return readJSONStorage(SETTINGS_KEY) || {};
  }

  function pick(value, fallback) {
    return value !== undefined && value !== null && String(value).trim() !== "" ? String(value).trim() : fallback;
  }

  function effective() {
    var o = overrides();
    var defaults = CFG.raidDefaults || {};
    var channels = CFG.channels || {};
    var duration = parseInt(pick(o.defaultDuration, ""), 10);
    return {
      title: pick(o.defaultTitle, defaults.title || "Heroic Raid"),
      time: pick(o.defaultTime, defaults.time || "21:00"),
      duration: isNaN(duration) ? defaults.duration || 120 : duration,
      template: pick(o.defaultTemplate, defaults.template || "wowretail2"),
      leaderId: pick(o.leaderId, CFG.leaderId || ""),
      channelId: pick(o.channelId, channels.signup || ""),
      eventChannelId: pick(o.eventChannelId, channels.eventSignup || ""),
      voiceChannelId: pick(o.voiceChannelId, channels.voice || ""),
      announcementChannelId: pick(o.announcementChannelId, channels.announcement || ""),
      pugChannelId: pick(o.pugChannelId, channels.pug || ""),
      notificationChannelId: pick(o.notificationChannelId, channels.notification || "")
    };
  }

  function dropLegacyKeys() {
    var stored = readJSONStorage(SETTINGS_KEY);
    if (!stored) return;
    var found = false;
    LEGACY_KEYS.forEach(function (key) {
      if (Object.prototype.hasOwnProperty.call(stored, key)) {
        delete stored[key];
        found = true;
      }
    });
    if (found) {
      writeJSONStorage(SETTINGS_KEY, stored);
      notice("info", "The Raid-Helper key is now stored on the server.");
    }
  }

  function missingConfig() {
    var eff = effective();
    var missing = [];
    if (!CFG.apiKeyConfigured) missing.push("Raid-Helper API key (server)");
    if (!CFG.serverId) missing.push("Server ID (server)");
    if (!eff.channelId) missing.push("Signup Channel ID");
    return missing;
  }

  /* ---- navigation ------------------------------------------------------- */

  function showPage(name) {
    var panels = root.querySelectorAll("[data-panel]");
    for (var i = 0; i < panels.length; i++) panels[i].hidden = panels[i].getAttribute("data-panel") !== name;
    var links = root.querySelectorAll(".ra-nav__link");
    for (var j = 0; j < links.length; j++) {
      var active = links[j].getAttribute("data-page") === name;
      links[j].classList.toggle("ra-nav__link--active", active);
      if (active) links[j].setAttribute("aria-current", "page");
      else links[j].removeAttribute("aria-current");
    }
    if (name === "settings") fillSettingsForm();
    if (name === "templates") renderTemplates();
    if (name === "create") prepareEventForm();
  }

  /* ---- data loading ----------------------------------------------------- */

  function scheduleURL() {
    var eff = effective();
    var params = new URLSearchParams({ title: eff.title, time: eff.time, duration: String(eff.duration), template: eff.template });
    return API + "/raid-schedule?" + params.toString();
  }

  function setConnected(ok) {
    $("ra-conn-dot").className = "ra-dot" + (ok ? " ra-dot--ok" : "");
    $("ra-conn-text").textContent = ok ? "Roster connected" : "Not connected";
  }

  function loadAll() {
    $("ra-schedule-loading").hidden = false;
    $("ra-schedule-error").hidden = true;
    $("ra-roster-error").hidden = true;
    var scheduleReq = fetchJSON(scheduleURL()).then(function (body) {
      state.schedule = body.data;
      renderSchedule();
      return true;
    }, function (err) {
      $("ra-schedule-error").textContent = "Couldn't load the schedule: " + err.message;
      $("ra-schedule-error").hidden = false;
      return false;
    });
    var rosterReq = fetchJSON(API + "/roster-data").then(function (body) {
      state.roster = body || {};
      renderRoster();
      renderDiscordIds();
      renderIssuesBanner();
      return true;
    }, function (err) {
      $("ra-roster-error").textContent = "Couldn't load roster data: " + err.message;
      $("ra-roster-error").hidden = false;
      $("ids-error").textContent = "Couldn't load roster data: " + err.message;
      $("ids-error").hidden = false;
      return false;
    });
    return Promise.all([scheduleReq, rosterReq]).then(function (results) {
      $("ra-schedule-loading").hidden = true;
      setConnected(results[0] && results[1]);
    });
  }

  /* ---- Schedule Raid ---------------------------------------------------- */

  function renderIssuesBanner() {
    var issues = (state.roster && state.roster.validationIssues) || [];
    var banner = $("ra-issues-banner");
    banner.hidden = issues.length === 0;
    $("ra-issues-text").textContent = issues.length + (issues.length === 1 ? " roster member has" : " roster members have") +
      " Discord name problems or no Discord ID —";
  }

  function renderSchedule() {
    var data = state.schedule;
    var grid = $("ra-days");
    clear(grid);
    if (!data) return;
    var max = 1;
    data.days.forEach(function (day) { max = Math.max(max, day.available.length); });
    data.days.forEach(function (day) {
      var card = el("button", "ra-day");
      card.type = "button";
      card.setAttribute("data-day", day.day);
      card.setAttribute("aria-pressed", state.selectedDay === day.day ? "true" : "false");
      if (day.rank) {
        card.classList.add("ra-day--top");
        card.appendChild(el("span", "ra-day__badge", day.rank));
      }
      if (state.selectedDay === day.day) card.classList.add("ra-day--selected");
      card.appendChild(el("span", "ra-day__name", DAY_SHORT[day.day] || day.name));
      card.appendChild(el("span", "ra-day__date", day.dateDisplay));
      var bar = el("span", "ra-day__bar");
      var fill = el("span", "ra-day__fill");
      fill.style.width = (day.available.length / max) * 100 + "%";
      bar.appendChild(fill);
      card.appendChild(bar);
      var count = el("span", "ra-day__count");
      count.appendChild(el("strong", null, day.available.length));
      count.appendChild(document.createTextNode(" available"));
      card.appendChild(count);
      card.addEventListener("click", function () { selectDay(day.day); });
      grid.appendChild(card);
    });
    var without = $("ra-without");
    without.hidden = !data.withoutCharacters;
    without.textContent = data.withoutCharacters + (data.withoutCharacters === 1 ? " person has" : " people have") +
      " availability but no character";
    renderQuick();
    if (state.selectedDay) renderDayDetail();
  }

  function findDay(key) {
    if (!state.schedule) return null;
    for (var i = 0; i < state.schedule.days.length; i++) {
      if (state.schedule.days[i].day === key) return state.schedule.days[i];
    }
    return null;
  }

  function selectDay(key) {
    state.selectedDay = key;
    var cards = $("ra-days").querySelectorAll(".ra-day");
    for (var i = 0; i < cards.length; i++) {
      var on = cards[i].getAttribute("data-day") === key;
      cards[i].classList.toggle("ra-day--selected", on);
      cards[i].setAttribute("aria-pressed", on ? "true" : "false");
    }
    renderDayDetail();
  }

  function statusCell(person) {
    var cell = el("td");
    if (person.autoSignup) cell.appendChild(el("span", "ra-pill ra-pill--success", "✓ Auto"));
    else cell.appendChild(el("span", "ra-pill ra-pill--warning", "Tentative"));
    if (person.wantsReminders) {
      var bell = el("span", "ra-bell", " 🔔");
      bell.title = "wants the 5 pm reminder";
      bell.setAttribute("aria-label", "wants the 5 pm reminder");
      cell.appendChild(bell);
    }
    return cell;
  }

  function personRow(person, lastCell) {
    var row = el("tr");
    row.appendChild(el("td", null, person.discord));
    var charCell = el("td", classSlug(person["class"]), person.character);
    row.appendChild(charCell);
    var roleCell = el("td");
    roleCell.appendChild(roleChip(person.role));
    row.appendChild(roleCell);
    row.appendChild(lastCell);
    return row;
  }

  function emptyRow(text, span) {
    var row = el("tr");
    var cell = el("td", "text-muted text-center", text);
    cell.colSpan = span;
    row.appendChild(cell);
    return row;
  }

  function renderDayDetail() {
    var day = findDay(state.selectedDay);
    var detail = $("ra-day-detail");
    if (!day) { detail.hidden = true; return; }
    detail.hidden = false;
    $("ra-day-title").textContent = day.name + " Raid — " + day.dateDisplay;
    ["tank", "healer", "melee", "ranged"].forEach(function (role) {
      $("ra-count-" + role).textContent = day.counts[role];
    });
    $("ra-n-available").textContent = day.available.length;
    $("ra-n-unavailable").textContent = day.unavailable.length;
    var avail = $("ra-available-body");
    clear(avail);
    if (!day.available.length) avail.appendChild(emptyRow("No one available", 4));
    day.available.forEach(function (p) { avail.appendChild(personRow(p, statusCell(p))); });
    var unavail = $("ra-unavailable-body");
    clear(unavail);
    if (!day.unavailable.length) unavail.appendChild(emptyRow("Everyone available!", 4));
    day.unavailable.forEach(function (p) { unavail.appendChild(personRow(p, el("td", "ra-reason", p.reason))); });
    showTab(state.tab);
    renderPreview(day);
    setCommand($("ra-cmd-create"), day.createCommand);
    setCommand($("ra-cmd-signups"), day.signupCommands);
  }

  function showTab(name) {
    state.tab = name;
    ["available", "unavailable"].forEach(function (tab) {
      var on = tab === name;
      $("ra-tab-" + tab).classList.toggle("ra-tab--active", on);
      $("ra-tab-" + tab).setAttribute("aria-selected", on ? "true" : "false");
      $("ra-tabpanel-" + tab).hidden = !on;
    });
  }

  function renderPreview(day) {
    var eff = effective();
    var withIds = day.available.filter(function (p) { return p.hasDiscordId; }).length;
    $("ra-pv-title").textContent = eff.title;
    $("ra-pv-date").textContent = day.date;
    $("ra-pv-time").textContent = eff.time + " Eastern (" + eff.duration + " min)";
    $("ra-pv-template").textContent = eff.template;
    $("ra-pv-channel").textContent = eff.channelId || "⚠️ Not set";
    $("ra-pv-voice").textContent = eff.voiceChannelId || "(none)";
    $("ra-pv-available").textContent = day.available.length + " members";
    $("ra-pv-ids").textContent = withIds + " of " + day.available.length + " (will be signed up)";
    resetCreateButton();
  }

  function resetCreateButton() {
    var button = $("ra-create-btn");
    var missing = missingConfig();
    if (missing.length) {
      button.disabled = true;
      button.textContent = "⚠️ Configure: " + missing.join(", ");
      $("ra-fallback").open = true;
    } else if (!button.getAttribute("data-busy")) {
      button.disabled = false;
      button.textContent = button.getAttribute("data-created") ? "🚀 Create Another Event" : "🚀 Create Event in Discord";
    }
  }

  function createRaidEvent() {
    var day = findDay(state.selectedDay);
    if (!day || missingConfig().length) return;
    var eff = effective();
    var button = $("ra-create-btn");
    var status = $("ra-create-status");
    button.disabled = true;
    button.setAttribute("data-busy", "1");
    button.textContent = "⏳ Creating event…";
    setStatus(status, "muted", "Creating the event in Raid-Helper, then adding signups…");
    fetchJSON(API + "/raid-events", {
      method: "POST",
      body: {
        date: day.date, title: eff.title, time: eff.time, duration: eff.duration, templateId: eff.template,
        channelId: eff.channelId, voiceChannelId: eff.voiceChannelId, leaderId: eff.leaderId, addSignups: true
      }
    }).then(function (body) {
      var data = body.data;
      clear(status);
      status.className = "ra-status-line ra-status-line--success";
      status.appendChild(el("div", null, "✅ Event created! ID: " + (data.eventId || "(none returned)")));
      if (data.warning) status.appendChild(el("div", "text-warning", data.warning));
      if (data.eventId) {
        status.appendChild(el("div", null, "Added " + data.signups.succeeded + "/" + data.signups.attempted + " signups."));
      }
      if (data.skippedNoDiscordId && data.skippedNoDiscordId.length) {
        status.appendChild(el("div", "text-warning", "Skipped (no Discord ID): " + data.skippedNoDiscordId.join(", ")));
      }
      (data.signups.failed || []).forEach(function (f) {
        status.appendChild(el("div", "text-danger", "Failed: " + f.discord + " (" + (f.status === null ? "no response" : f.status) + ") " + f.error));
      });
      button.textContent = "✅ Event created!";
      window.setTimeout(function () {
        button.removeAttribute("data-busy");
        button.setAttribute("data-created", "1");
        resetCreateButton();
      }, 3000);
    }, function (err) {
      setStatus(status, "error", "❌ " + err.message);
      button.removeAttribute("data-busy");
      resetCreateButton();
    });
  }

  function renderQuick() {
    var box = $("ra-quick");
    clear(box);
    var top = state.schedule.days.filter(function (d) { return d.rank; }).sort(function (a, b) { return a.rank - b.rank; });
    if (!top.length) {
      box.appendChild(el("p", "text-muted", "No availability data yet."));
      return;
    }
    top.forEach(function (day) {
      var item = el("div", "ra-quick__item");
      var head = el("div", "ra-quick__head");
      head.appendChild(el("span", "ra-rank", day.rank));
      head.appendChild(el("strong", null, day.name));
      head.appendChild(el("span", "text-muted", day.dateDisplay));
      var c = day.counts;
      head.appendChild(el("span", "text-small", "(" + day.available.length + ": " + c.tank + "T/" + c.healer + "H/" + c.melee + "M/" + c.ranged + "R)"));
      item.appendChild(head);
      var cmd = el("div", "cmd-box");
      cmd.setAttribute("role", "button");
      cmd.setAttribute("tabindex", "0");
      cmd.setAttribute("aria-label", "Copy the create command for " + day.name);
      cmd.appendChild(el("pre", "cmd-box__text"));
      cmd.appendChild(el("span", "cmd-box__hint", "Click to copy"));
      setCommand(cmd, day.createCommand);
      bindCopy(cmd);
      item.appendChild(cmd);
      box.appendChild(item);
    });
  }

  /* ---- copy boxes ------------------------------------------------------- */

  function setCommand(box, text) {
    box.querySelector(".cmd-box__text").textContent = text;
  }

  function copyText(text) {
    function legacyCopy() {
      return new Promise(function (resolve, reject) {
        var area = el("textarea", "ra-offscreen");
        area.value = text;
        area.setAttribute("readonly", "");
        document.body.appendChild(area);
        area.select();
        var done = false;
        try { done = document.execCommand("copy"); } catch (err) { done = false; }
        document.body.removeChild(area);
        if (done) resolve(); else reject(new Error("copy failed"));
      });
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      return navigator.clipboard.writeText(text).catch(legacyCopy);
    }
    return legacyCopy();
  }

  function bindCopy(box) {
    function copy() {
      var text = box.querySelector(".cmd-box__text").textContent.trim();
      var hint = box.querySelector(".cmd-box__hint");
      copyText(text).then(function () {
        hint.textContent = "✓ Copied!";
        box.classList.add("cmd-box--copied");
      }, function () {
        hint.textContent = "Select and copy manually";
      }).then(function () {
        window.setTimeout(function () {
          hint.textContent = "Click to copy";
          box.classList.remove("cmd-box--copied");
        }, 2000);
      });
    }
    box.addEventListener("click", copy);
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); copy(); }
    });
  }

  /* ---- Roster Status ---------------------------------------------------- */

  function rosterIds() {
    var ids = (state.roster && state.roster.discordIds) || {};
    var lower = {};
    Object.keys(ids).forEach(function (name) { lower[name.toLowerCase()] = ids[name]; });
    return lower;
  }

  function availabilityByName() {
    var map = {};
    ((state.roster && state.roster.availability) || []).forEach(function (a) { map[String(a.discord).toLowerCase()] = a; });
    return map;
  }

  function yesNo(on) {
    var cell = el("td");
    cell.appendChild(on ? el("span", "text-success", "✓ Yes") : el("span", "text-faint", "No"));
    return cell;
  }

  function renderRoster() {
    var body = $("ra-roster-body");
    clear(body);
    var chars = ((state.roster && state.roster.characters) || []).slice();
    if (!chars.length) { body.appendChild(emptyRow("No characters registered yet", 9)); return; }
    chars.sort(function (a, b) {
      var an = String(a.discord).toLowerCase(), bn = String(b.discord).toLowerCase();
      if (an !== bn) return an < bn ? -1 : 1;
      if ((a.mainAlt === "Main") !== (b.mainAlt === "Main")) return a.mainAlt === "Main" ? -1 : 1;
      return String(a.character).toLowerCase() < String(b.character).toLowerCase() ? -1 : 1;
    });
    var ids = rosterIds();
    var avail = availabilityByName();
    var previous = null;
    chars.forEach(function (c) {
      var key = String(c.discord).toLowerCase();
      var first = key !== previous;
      previous = key;
      var row = el("tr", first ? "ra-group-start" : "");
      row.appendChild(el("td", null, first ? c.discord : ""));
      row.appendChild(el("td", classSlug(c["class"]), c.character));
      row.appendChild(el("td", classSlug(c["class"]), c["class"] + (c.spec ? " - " + c.spec : "")));
      var roleCell = el("td");
      roleCell.appendChild(roleChip(c.role));
      row.appendChild(roleCell);
      row.appendChild(el("td", c.mainAlt === "Main" ? "text-gold" : "text-muted", c.mainAlt === "Main" ? "⭐ Main" : "Alt"));
      var a = avail[key];
      if (first) {
        row.appendChild(yesNo(a && a.autoSignup));
        row.appendChild(yesNo(a && a.wantsReminders));
        var statusCellNode = el("td");
        statusCellNode.appendChild(ids[key] ? el("span", "text-success", "✓ ID Set") : el("span", "text-warning", "⚠ No ID"));
        row.appendChild(statusCellNode);
      } else {
        row.appendChild(el("td"));
        row.appendChild(el("td"));
        row.appendChild(el("td"));
      }
      var actions = el("td", "cell-actions");
      if (c.mainAlt !== "Main") {
        var makeMain = el("button", "btn btn--secondary btn--sm", "Make main");
        makeMain.type = "button";
        makeMain.addEventListener("click", function () { setMain(makeMain, c.discord, c.character); });
        actions.appendChild(makeMain);
      }
      if (first) {
        var remove = el("button", "btn btn--danger btn--sm", "Remove from raid roster");
        remove.type = "button";
        remove.addEventListener("click", function () { removeFromRoster(remove, c.discord); });
        actions.appendChild(remove);
      }
      row.appendChild(actions);
      body.appendChild(row);
    });
  }

  function setMain(button, discord, character) {
    button.disabled = true;
    fetchJSON(API + "/raid-roster/main", { method: "POST", body: { discord: discord, character: character } }).then(function (body) {
      notice("success", body.data.main + " is now the main of " + body.data.discord + ".");
      return loadAll();
    }, function (err) {
      notice("error", "Could not change the main: " + err.message);
      button.disabled = false;
    });
  }

  function removeFromRoster(button, discord) {
    if (!window.confirm("Remove " + discord + " from the raid roster? Their availability is deleted; characters stay.")) return;
    button.disabled = true;
    fetchJSON(API + "/raid-roster/" + encodeURIComponent(discord), { method: "DELETE" }).then(function () {
      notice("success", discord + " was removed from the raid roster.");
      return loadAll();
    }, function (err) {
      notice("error", "Could not remove " + discord + ": " + err.message);
      button.disabled = false;
    });
  }

  /* ---- Create Event (ad hoc) -------------------------------------------- */

  function eventTemplates() {
    var merged = {};
    var defaults = CFG.eventTypes || {};
    var saved = readJSONStorage(TEMPLATES_KEY) || {};
    var order = (CFG.eventTypeOrder || []).filter(function (key) { return defaults[key]; });
    Object.keys(defaults).forEach(function (key) { if (order.indexOf(key) === -1) order.push(key); });
    order.forEach(function (key) {
      var base = defaults[key];
      var custom = saved[key] && typeof saved[key] === "object" ? saved[key] : {};
      merged[key] = {
        icon: base.icon,
        name: base.name,
        title: typeof custom.title === "string" ? custom.title : base.title,
        description: typeof custom.description === "string" ? custom.description : base.description,
        template: typeof custom.template === "string" && custom.template ? custom.template : base.template
      };
    });
    return merged;
  }

  var eventFormReady = false;

  function prepareEventForm() {
    var tiles = $("ra-type-tiles");
    var templates = eventTemplates();
    clear(tiles);
    Object.keys(templates).forEach(function (key) {
      var label = el("label", "ra-type-tile");
      var input = el("input");
      input.type = "radio";
      input.name = "eventType";
      input.value = key;
      input.checked = key === state.eventType;
      input.addEventListener("change", function () { state.eventType = key; fillEventDetails(); });
      label.appendChild(input);
      label.appendChild(el("span", "ra-type-tile__icon", templates[key].icon));
      label.appendChild(el("span", "ra-type-tile__name", templates[key].name));
      tiles.appendChild(label);
    });
    if (!eventFormReady) {
      $("ev-date").value = CFG.today || "";
      fillEventDetails();
      eventFormReady = true;
    }
  }

  function fillEventDetails() {
    var t = eventTemplates()[state.eventType];
    if (!t) return;
    $("ev-title").value = t.title;
    $("ev-description").value = t.description;
  }

  function createGuildEvent(event) {
    event.preventDefault();
    var status = $("ev-status");
    var button = $("ev-submit");
    var title = $("ev-title").value.trim();
    var date = $("ev-date").value;
    if (!title || !date) { setStatus(status, "error", "❌ Please enter a date and title."); return; }
    var eff = effective();
    var channel = eff.eventChannelId || eff.channelId;
    if (!channel) { setStatus(status, "error", "❌ Failed to create event: No event channel configured"); return; }
    var t = eventTemplates()[state.eventType] || {};
    button.disabled = true;
    setStatus(status, "muted", "Creating in channel " + channel + "…");
    fetchJSON(API + "/guild-events", {
      method: "POST",
      body: {
        type: state.eventType, title: title, description: $("ev-description").value, date: date,
        time: $("ev-time").value, timezone: $("ev-tz").value, duration: parseInt($("ev-duration").value, 10),
        templateId: t.template || "wowretail2", leaderId: eff.leaderId, channelId: channel, voiceChannelId: eff.voiceChannelId
      }
    }).then(function (body) {
      setStatus(status, "success", "✅ Event created! Event ID: " + (body.data.eventId || "(none returned)") +
        " — " + body.data.date + " " + body.data.time + " Eastern");
      button.textContent = "✅ Event Created!";
      window.setTimeout(function () {
        button.textContent = "🚀 Create Event in Discord";
        button.disabled = false;
      }, 3000);
    }, function (err) {
      setStatus(status, "error", "❌ Failed to create event: " + err.message);
      button.disabled = false;
    });
  }

  /* ---- Settings --------------------------------------------------------- */

  var SETTINGS_FIELDS = [
    ["set-title", "defaultTitle", "title"],
    ["set-time", "defaultTime", "time"],
    ["set-duration", "defaultDuration", "duration"],
    ["set-template", "defaultTemplate", "template"],
    ["set-leader", "leaderId", "leaderId"],
    ["set-ch-signup", "channelId", "channelId"],
    ["set-ch-event", "eventChannelId", "eventChannelId"],
    ["set-ch-voice", "voiceChannelId", "voiceChannelId"],
    ["set-ch-announcement", "announcementChannelId", "announcementChannelId"],
    ["set-ch-pug", "pugChannelId", "pugChannelId"],
    ["set-ch-notification", "notificationChannelId", "notificationChannelId"]
  ];

  function configDefaults() {
    var d = CFG.raidDefaults || {};
    var ch = CFG.channels || {};
    return {
      title: d.title || "Heroic Raid", time: d.time || "21:00", duration: d.duration || 120, template: d.template || "wowretail2",
      leaderId: CFG.leaderId || "", channelId: ch.signup || "", eventChannelId: ch.eventSignup || "",
      voiceChannelId: ch.voice || "", announcementChannelId: ch.announcement || "", pugChannelId: ch.pug || "",
      notificationChannelId: ch.notification || ""
    };
  }

  function fillSettingsForm() {
    var eff = effective();
    SETTINGS_FIELDS.forEach(function (f) {
      var input = $(f[0]);
      input.value = eff[f[2]];
      input.classList.remove("is-invalid");
    });
    $("set-key-status").textContent = CFG.apiKeyConfigured ? "✓ configured" : "not configured (RAID_HELPER_API_KEY)";
    $("set-server-id").textContent = CFG.serverId || "not configured (DISCORD_GUILD_ID)";
  }

  function validSnowflakeInput(input) {
    var value = input.value.trim();
    var ok = value === "" || SNOWFLAKE.test(value);
    input.classList.toggle("is-invalid", !ok);
    return ok;
  }

  function saveSettings(event) {
    event.preventDefault();
    var ok = true;
    var inputs = root.querySelectorAll("#ra-settings-form [data-snowflake]");
    for (var i = 0; i < inputs.length; i++) ok = validSnowflakeInput(inputs[i]) && ok;
    var title = $("set-title").value.trim();
    var duration = parseInt($("set-duration").value, 10);
    var template = $("set-template").value.trim();
    $("set-title").classList.toggle("is-invalid", !title || title.length > 100);
    $("set-duration").classList.toggle("is-invalid", isNaN(duration) || duration < 30 || duration > 480);
    $("set-template").classList.toggle("is-invalid", !/^[A-Za-z0-9_-]{1,40}$/.test(template));
    $("set-time").classList.toggle("is-invalid", !/^([01][0-9]|2[0-3]):[0-5][0-9]$/.test($("set-time").value));
    if (!ok || root.querySelector("#ra-settings-form .is-invalid")) {
      notice("error", "Please fix the highlighted settings (IDs are 17–20 digits, duration 30–480 minutes).");
      return;
    }
    var defaults = configDefaults();
    var stored = {};
    SETTINGS_FIELDS.forEach(function (f) {
      var value = $(f[0]).value.trim();
      if (value !== "" && value !== String(defaults[f[2]])) stored[f[1]] = f[1] === "defaultDuration" ? parseInt(value, 10) : value;
    });
    if (writeJSONStorage(SETTINGS_KEY, stored)) {
      notice("success", "Settings saved");
      afterSettingsChange();
    }
  }

  function afterSettingsChange() {
    fillSettingsForm();
    loadAll();
  }

  /* ---- Event Templates -------------------------------------------------- */

  function renderTemplates() {
    var box = $("ra-templates");
    clear(box);
    var templates = eventTemplates();
    Object.keys(templates).forEach(function (key) {
      var t = templates[key];
      var card = el("div", "card ra-template");
      card.setAttribute("data-type", key);
      var head = el("div", "card__header");
      head.appendChild(el("h2", "card__title", t.icon + " " + t.name));
      card.appendChild(head);
      var body = el("div", "card__body");
      var g1 = el("div", "form-group");
      var l1 = el("label", "form-label", "Title");
      l1.htmlFor = "tpl-title-" + key;
      var i1 = el("input", "form-control");
      i1.id = "tpl-title-" + key;
      i1.maxLength = 100;
      i1.value = t.title;
      i1.setAttribute("data-field", "title");
      g1.appendChild(l1);
      g1.appendChild(i1);
      var g2 = el("div", "form-group");
      var l2 = el("label", "form-label", "Description");
      l2.htmlFor = "tpl-desc-" + key;
      var i2 = el("textarea", "form-control");
      i2.id = "tpl-desc-" + key;
      i2.rows = 4;
      i2.maxLength = 2000;
      i2.value = t.description;
      i2.setAttribute("data-field", "description");
      g2.appendChild(l2);
      g2.appendChild(i2);
      body.appendChild(g1);
      body.appendChild(g2);
      card.appendChild(body);
      box.appendChild(card);
    });
  }

  function saveTemplates() {
    var current = eventTemplates();
    var out = {};
    var cards = $("ra-templates").querySelectorAll("[data-type]");
    for (var i = 0; i < cards.length; i++) {
      var key = cards[i].getAttribute("data-type");
      var base = current[key];
      out[key] = {
        icon: base.icon, name: base.name,
        title: cards[i].querySelector('[data-field="title"]').value.trim(),
        description: cards[i].querySelector('[data-field="description"]').value.trim(),
        template: base.template
      };
    }
    if (writeJSONStorage(TEMPLATES_KEY, out)) {
      notice("success", "Templates saved");
      eventFormReady = false;
    }
  }

  /* ---- Discord IDs ------------------------------------------------------ */

  function rosterNames() {
    var seen = {};
    var names = [];
    var roster = state.roster || {};
    (roster.availability || []).concat(roster.characters || []).forEach(function (item) {
      var key = String(item.discord).toLowerCase();
      if (!seen[key]) { seen[key] = true; names.push(item.discord); }
    });
    names.sort(function (a, b) { return a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0; });
    return names;
  }

  function renderDiscordIds() {
    var roster = state.roster || {};
    var issues = roster.validationIssues || [];
    $("ids-all-valid").hidden = issues.length > 0;
    $("ids-flagged-card").hidden = issues.length === 0;
    $("ids-error").hidden = true;
    var list = $("ids-flagged");
    clear(list);
    var charsByName = {};
    (roster.characters || []).forEach(function (c) {
      var key = String(c.discord).toLowerCase();
      (charsByName[key] = charsByName[key] || []).push(c.character);
    });
    issues.forEach(function (issue) {
      var item = el("li");
      item.appendChild(el("strong", null, issue.name));
      var chars = charsByName[String(issue.name).toLowerCase()] || [];
      item.appendChild(el("span", "text-muted", chars.length ? " (" + chars.join(", ") + ")" : " (no characters)"));
      item.appendChild(el("span", issue.status === "Pending ID" ? "ra-pill ra-pill--warning" : "ra-pill ra-pill--danger", issue.status));
      list.appendChild(item);
    });
    var rows = $("ids-rows");
    clear(rows);
    var ids = rosterIds();
    rosterNames().forEach(function (name) {
      var row = el("div", "ra-id-row");
      var id = "ids-input-" + name.toLowerCase().replace(/[^a-z0-9_.]/g, "_");
      var label = el("label", "ra-id-row__name", name);
      label.htmlFor = id;
      var input = el("input", "form-control form-control--mono");
      input.id = id;
      input.inputMode = "numeric";
      input.autocomplete = "off";
      input.placeholder = "17–20 digit user ID";
      input.value = ids[name.toLowerCase()] || "";
      input.setAttribute("data-name", name);
      input.setAttribute("data-original", input.value);
      input.addEventListener("blur", function () { validSnowflakeInput(input); row.classList.toggle("ra-id-row--invalid", input.classList.contains("is-invalid")); });
      row.appendChild(label);
      row.appendChild(input);
      rows.appendChild(row);
    });
    if (!rows.firstChild) rows.appendChild(el("p", "text-muted", "No one on the raid roster yet."));
  }

  function saveDiscordIds() {
    var button = $("ids-save");
    var status = $("ids-status");
    var inputs = $("ids-rows").querySelectorAll("input[data-name]");
    var mapping = {};
    var bad = [];
    var changed = 0;
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      var value = input.value.trim();
      var ok = validSnowflakeInput(input);
      input.parentNode.classList.toggle("ra-id-row--invalid", !ok);
      if (!ok) { bad.push(input.getAttribute("data-name")); continue; }
      if (value !== input.getAttribute("data-original")) {
        mapping[input.getAttribute("data-name")] = value;
        changed++;
      }
    }
    if (bad.length) { setStatus(status, "error", "❌ Not saved — invalid IDs (need 17–20 digits): " + bad.join(", ")); return; }
    if (!changed) { setStatus(status, "muted", "Nothing changed."); return; }
    button.disabled = true;
    button.textContent = "Saving…";
    fetchJSON(API + "/discord-ids", { method: "PUT", body: { mapping: mapping } }).then(function (body) {
      var d = body.data;
      setStatus(status, "success", "Saved: " + d.set + " set, " + d.cleared + " cleared.");
      button.textContent = "✓ Saved!";
      window.setTimeout(function () {
        button.textContent = "Save Mapping";
        button.disabled = false;
      }, 2000);
      return loadAll();
    }, function (err) {
      setStatus(status, "error", "❌ " + err.message);
      button.textContent = "Save Mapping";
      button.disabled = false;
    });
  }

  /* ---- wiring ----------------------------------------------------------- */

  function init() {
    dropLegacyKeys();
    var navs = root.querySelectorAll("[data-page]");
    for (var i = 0; i < navs.length; i++) {
      navs[i].addEventListener("click", function (event) { showPage(event.currentTarget.getAttribute("data-page")); });
    }
    var gotos = root.querySelectorAll("[data-goto]");
    for (var j = 0; j < gotos.length; j++) {
      gotos[j].addEventListener("click", function (event) { showPage(event.currentTarget.getAttribute("data-goto")); });
    }
    var refreshers = root.querySelectorAll('[data-action="refresh"]');
    for (var k = 0; k < refreshers.length; k++) {
      refreshers[k].addEventListener("click", function (event) {
        var button = event.currentTarget;
        button.disabled = true;
        loadAll().then(function () { button.disabled = false; });
      });
    }
    $("ra-tab-available").addEventListener("click", function () { showTab("available"); });
    $("ra-tab-unavailable").addEventListener("click", function () { showTab("unavailable"); });
    $("ra-create-btn").addEventListener("click", createRaidEvent);
    bindCopy($("ra-cmd-create"));
    bindCopy($("ra-cmd-signups"));
    $("ra-event-form").addEventListener("submit", createGuildEvent);
    $("ra-settings-form").addEventListener("submit", saveSettings);
    $("set-reset-config").addEventListener("click", function () {
      if (!window.confirm("Reset all settings to the config file defaults?")) return;
      removeStorage(SETTINGS_KEY);
      notice("success", "Settings reset to the config file defaults");
      afterSettingsChange();
    });
    $("set-reset-form").addEventListener("click", fillSettingsForm);
    var snowflakes = root.querySelectorAll("#ra-settings-form [data-snowflake]");
    for (var m = 0; m < snowflakes.length; m++) {
      snowflakes[m].addEventListener("blur", function (event) { validSnowflakeInput(event.currentTarget); });
    }
    $("tpl-save").addEventListener("click", saveTemplates);
    $("tpl-reset").addEventListener("click", function () {
      if (!window.confirm("Reset every event template to its default?")) return;
      removeStorage(TEMPLATES_KEY);
      eventFormReady = false;
      renderTemplates();
      notice("success", "Templates reset to defaults");
    });
    $("ids-save").addEventListener("click", saveDiscordIds);
    loadAll();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
