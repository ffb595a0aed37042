/* roster-view.js — the public roster dashboard (spec 60 §5).
 *
 * One GET /api/v1/guild/roster-data (with credentials) on load; three views rendered from it:
 *   Availability — a bar per day (Mon→Sun), "who's out" on click, the three best raid days
 *                  (count, then role coverage, then the soonest upcoming date; 60 §6.3);
 *   Full Roster  — every character, "Mains only" by default;
 *   Composition  — mains per role against the targets, class distribution, gaps, Wowhead export.
 * ?view=availability|roster|composition selects the first view; switching updates the URL.
 * All user text goes through textContent.
 */
(function () {
  "use strict";

  var root = document.getElementById("roster-view");
  if (!root) return;

  var table = JSON.parse(document.getElementById("class-table").textContent);
  var config = JSON.parse(document.getElementById("page-config").textContent);
  var DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
  var DAY_NAMES = {
    monday: "Monday", tuesday: "Tuesday", wednesday: "Wednesday", thursday: "Thursday",
    friday: "Friday", saturday: "Saturday", sunday: "Sunday"
  };
  var ROLE_KEY = { Tank: "tank", Healer: "healer", Melee: "melee", Ranged: "ranged" };
  var ROLE_LETTER = { tank: "T", healer: "H", melee: "M", ranged: "R" };
  var WOWHEAD_BASE = "https://www.wowhead.com/raid-composition#0";
  var targets = config.compositionTargets || {};

  var state = { data: null, view: root.getAttribute("data-initial-view") || "availability", day: null };

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function classSlug(name) { return String(name || "").toLowerCase().replace(/\s+/g, "-"); }

  function classEntry(name) {
    for (var i = 0; i < table.classes.length; i++) {
      if (table.classes[i].name === name) return table.classes[i];
    }
    return null;
  }

  function specEntry(className, specName) {
    var entry = classEntry(className);
    if (!entry) return null;
    for (var i = 0; i < entry.specs.length; i++) {
      if (entry.specs[i].name === specName) return entry.specs[i];
    }
    return null;
  }

  /* ---- views -------------------------------------------------------------- */

  function showView(view, updateUrl) {
    state.view = view;
    var buttons = root.querySelectorAll(".rv-toggle__btn");
    for (var i = 0; i < buttons.length; i++) {
      var active = buttons[i].getAttribute("data-view") === view;
      buttons[i].classList.toggle("is-active", active);
      buttons[i].setAttribute("aria-pressed", active ? "true" : "false");
    }
    var panels = root.querySelectorAll("[data-view-panel]");
    for (var j = 0; j < panels.length; j++) {
      panels[j].hidden = !state.data || panels[j].getAttribute("data-view-panel") !== view;
    }
    if (updateUrl && window.history && window.history.replaceState) {
      var url = new URL(window.location.href);
      url.searchParams.set("view", view);
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
  }

  root.querySelector(".rv-toggle").addEventListener("click", function (event) {
    var button = event.target.closest(".rv-toggle__btn");
    if (button) showView(button.getAttribute("data-view"), true);
  });

  /* ---- availability -------------------------------------------------------- */

  function twelveHour(minutesOfDay) {
    var minutes = ((minutesOfDay % 1440) + 1440) % 1440;
    var hours = Math.floor(minutes / 60);
    var mins = minutes % 60;
    var suffix = hours >= 12 ? "pm" : "am";
    var shown = hours % 12 === 0 ? 12 : hours % 12;
    return shown + ":" + (mins < 10 ? "0" : "") + mins + " " + suffix;
  }

  function raidWindow() {
    var defaults = config.raidDefaults || {};
    var parts = String(defaults.time || "21:00").split(":");
    var start = (parseInt(parts[0], 10) || 0) * 60 + (parseInt(parts[1], 10) || 0);
    var duration = parseInt(defaults.duration, 10) || 120;
    return twelveHour(start) + "–" + twelveHour(start + duration) + " Eastern";
  }

  function representatives(data) {
    var byName = {};
    data.characters.forEach(function (character) {
      var key = String(character.discord).toLowerCase();
      if (!byName[key] || (character.mainAlt === "Main" && byName[key].mainAlt !== "Main")) {
        byName[key] = character;
      }
    });
    return byName;
  }

  function daysUntil(day) {
    var parts = String(config.today || "").split("-");
    var today = parts.length === 3
      ? new Date(Date.UTC(+parts[0], +parts[1] - 1, +parts[2]))
      : new Date();
    var todayIndex = (today.getUTCDay() + 6) % 7; // Monday = 0
    var diff = (DAYS.indexOf(day) - todayIndex + 7) % 7;
    return diff === 0 ? 7 : diff;
  }

  function coverage(counts) {
    var total = 0;
    ["tank", "healer", "melee", "ranged"].forEach(function (role) {
      var min = targets[role] && typeof targets[role].min === "number" ? targets[role].min : 0;
      total += Math.min(counts[role], min);
    });
    return total;
  }

  function dayStats(data) {
    var reps = representatives(data);
    var entries = data.availability;
    return DAYS.map(function (day) {
      var counts = { tank: 0, healer: 0, melee: 0, ranged: 0 };
      var available = 0;
      entries.forEach(function (entry) {
        if (entry[day] !== true) return;
        available += 1;
        var rep = reps[String(entry.discord).toLowerCase()];
        if (rep && ROLE_KEY[rep.role]) counts[ROLE_KEY[rep.role]] += 1;
      });
      return {
        day: day, available: available, total: entries.length,
        coverage: coverage(counts), until: daysUntil(day)
      };
    });
  }

  function bestDays(stats) {
    return stats
      .filter(function (s) { return s.available > 0; })
      .sort(function (a, b) {
        return (b.available - a.available) || (b.coverage - a.coverage) || (a.until - b.until);
      })
      .slice(0, 3);
  }

  function band(percent) {
    if (percent >= 80) return "good";
    if (percent >= 60) return "fair";
    return "poor";
  }

  function renderDetail() {
    var card = $("day-detail");
    var data = state.data;
    var bars = $("day-bars").querySelectorAll(".rv-bar");
    for (var i = 0; i < bars.length; i++) {
      var selected = bars[i].getAttribute("data-day") === state.day;
      bars[i].classList.toggle("is-selected", selected);
      bars[i].setAttribute("aria-expanded", selected ? "true" : "false");
    }
    if (!state.day || !data) {
      card.hidden = true;
      return;
    }
    $("day-detail-title").textContent = DAY_NAMES[state.day] + " — Who's Out?";
    var list = $("day-detail-list");
    clear(list);
    var out = data.availability.filter(function (entry) { return entry[state.day] !== true; });
    if (!out.length) {
      list.appendChild(el("li", "rv-out__all", "🎉 Everyone is available on " + DAY_NAMES[state.day] + "!"));
    }
    out.forEach(function (entry) {
      var item = el("li", "rv-out__item");
      item.appendChild(el("span", "rv-out__name", entry.discord));
      item.appendChild(el("span", "rv-out__reason", entry.notes ? entry.notes : "No reason given"));
      list.appendChild(item);
    });
    card.hidden = false;
  }

  function renderAvailability(data) {
    $("availability-title").textContent = "Team Availability by Day (" + raidWindow() + ")";
    var barsNode = $("day-bars");
    clear(barsNode);
    var empty = data.availability.length === 0;
    $("availability-empty").hidden = !empty;
    $("availability-hint").hidden = empty;
    $("bar-legend").hidden = empty;
    if (empty) {
      $("best-days").hidden = true;
      state.day = null;
      renderDetail();
      return;
    }
    var stats = dayStats(data);
    stats.forEach(function (stat) {
      var percent = stat.total ? Math.round((stat.available / stat.total) * 100) : 0;
      var button = el("button", "rv-bar rv-bar--" + band(percent));
      button.type = "button";
      button.setAttribute("data-day", stat.day);
      button.setAttribute("data-percent", String(percent));
      button.setAttribute("aria-expanded", "false");
      var head = el("span", "rv-bar__head");
      head.appendChild(el("span", "rv-bar__day", DAY_NAMES[stat.day]));
      head.appendChild(el("span", "rv-bar__count", stat.available + "/" + stat.total));
      button.appendChild(head);
      var track = el("span", "rv-bar__track");
      var fill = el("span", "rv-bar__fill");
      fill.style.width = percent + "%";
      track.appendChild(fill);
      track.appendChild(el("span", "rv-bar__pct", percent + "%"));
      button.appendChild(track);
      barsNode.appendChild(button);
    });
    var best = bestDays(stats);
    $("best-days").hidden = best.length === 0;
    $("best-days-list").textContent = best.map(function (s) { return DAY_NAMES[s.day]; }).join(", ");
    renderDetail();
  }

  $("day-bars").addEventListener("click", function (event) {
    var bar = event.target.closest(".rv-bar");
    if (!bar) return;
    var day = bar.getAttribute("data-day");
    state.day = state.day === day ? null : day;
    renderDetail();
  });

  /* ---- full roster ----------------------------------------------------------- */

  function roleChip(role) {
    var key = ROLE_KEY[role] || "ranged";
    return el("span", "role-chip role-chip--" + key + " rv-role-badge", role || "Ranged");
  }

  function renderRoster(data) {
    var body = $("roster-rows");
    clear(body);
    var mainsOnly = $("mains-only").checked;
    var rows = data.characters.filter(function (c) { return !mainsOnly || c.mainAlt === "Main"; });
    if (!rows.length) {
      var tr = el("tr", "rv-table__empty");
      var td = el("td", null, data.characters.length ? "No mains registered yet" : "No characters registered yet");
      td.colSpan = 5;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    rows.forEach(function (character) {
      var tr = el("tr");
      tr.appendChild(el("td", null, character.discord));
      tr.appendChild(el("td", "rv-char class-" + classSlug(character["class"]), character.character));
      var classSpec = character.spec ? character["class"] + " - " + character.spec : character["class"];
      tr.appendChild(el("td", "class-" + classSlug(character["class"]), classSpec));
      var roleCell = el("td");
      roleCell.appendChild(roleChip(character.role));
      tr.appendChild(roleCell);
      var main = character.mainAlt === "Main";
      tr.appendChild(el("td", main ? "rv-type rv-type--main" : "rv-type rv-type--alt", main ? "⭐ Main" : "Alt"));
      body.appendChild(tr);
    });
  }

  $("mains-only").addEventListener("change", function () {
    if (state.data) renderRoster(state.data);
  });

  /* ---- composition ------------------------------------------------------------ */

  function needText(target) {
    if (!target) return "";
    if (target.min === target.max) return "Need: " + target.min;
    return "Need: " + target.min + "-" + target.max;
  }

  function wowheadExport(mains) {
    var codes = "";
    var names = [];
    var missing = [];
    mains.forEach(function (character) {
      var spec = specEntry(character["class"], character.spec);
      if (spec && spec.wowhead) {
        codes += spec.wowhead;
        names.push(character.character);
      } else {
        var label = (character.spec ? character.spec + " " : "") + character["class"];
        missing.push(label + " (" + character.character + ")");
      }
    });
    var url = WOWHEAD_BASE + codes + (names.length ? ";" + names.join(";") : "");
    return { url: url, exported: names.length, missing: missing };
  }

  function renderComposition(data) {
    var mains = data.characters.filter(function (c) { return c.mainAlt === "Main"; });
    var counts = { tank: 0, healer: 0, melee: 0, ranged: 0 };
    var perClass = {};
    mains.forEach(function (c) {
      counts[ROLE_KEY[c.role] || "ranged"] += 1;
      perClass[c["class"]] = (perClass[c["class"]] || 0) + 1;
    });
    ["tank", "healer", "melee", "ranged"].forEach(function (role) {
      $("count-" + role).textContent = String(counts[role]);
      $("need-" + role).textContent = needText(targets[role]);
    });

    var grid = $("class-grid");
    clear(grid);
    var missingClasses = [];
    table.classes.forEach(function (entry) {
      var count = perClass[entry.name] || 0;
      var item = el("li", "rv-class" + (count ? "" : " rv-class--none"));
      item.setAttribute("data-class", entry.name);
      item.appendChild(el("span", "rv-class__name class-" + classSlug(entry.name), entry.name));
      item.appendChild(el("span", "rv-class__count", String(count)));
      grid.appendChild(item);
      if (!count) missingClasses.push(entry.name);
    });

    var gaps = [];
    if (missingClasses.length) gaps.push("Missing classes: " + missingClasses.join(", "));
    var tankMin = targets.tank ? targets.tank.min : 0;
    var healerMin = targets.healer ? targets.healer.min : 0;
    var dpsMin = typeof targets.dpsMin === "number" ? targets.dpsMin : 0;
    if (counts.tank < tankMin) {
      var t = tankMin - counts.tank;
      gaps.push("Tanks: need " + t + " more " + (t === 1 ? "tank" : "tanks"));
    }
    if (counts.healer < healerMin) {
      var h = healerMin - counts.healer;
      gaps.push("Healers: need " + h + " more " + (h === 1 ? "healer" : "healers"));
    }
    var dps = counts.melee + counts.ranged;
    if (dps < dpsMin) {
      gaps.push("DPS: need " + (dpsMin - dps) + " more DPS for a full roster");
    }
    var gapList = $("gap-list");
    clear(gapList);
    gaps.forEach(function (text) { gapList.appendChild(el("li", "rv-gap", text)); });
    $("gaps").hidden = gaps.length === 0;

    var exported = wowheadExport(mains);
    var button = $("wowhead-btn");
    button.setAttribute("data-url", exported.url);
    $("wowhead-summary").textContent = mains.length
      ? "Ready to export " + mains.length + " mains: " +
        ["tank", "healer", "melee", "ranged"].map(function (r) { return counts[r] + ROLE_LETTER[r]; }).join(" / ")
      : "No mains to export yet";
    $("wowhead-result").textContent = "";
  }

  $("wowhead-btn").addEventListener("click", function () {
    if (!state.data) return;
    var mains = state.data.characters.filter(function (c) { return c.mainAlt === "Main"; });
    if (!mains.length) {
      window.alert("There are no mains in the roster yet.");
      return;
    }
    var exported = wowheadExport(mains);
    window.open(exported.url, "_blank", "noopener");
    $("wowhead-result").textContent = exported.missing.length
      ? "Could not export: " + exported.missing.join(", ") +
        " — add them by hand on Wowhead (no composition code yet)."
      : "✓ Exported " + exported.exported + " characters";
  });

  /* ---- loading --------------------------------------------------------------- */

  function render(data) {
    state.data = data;
    renderAvailability(data);
    renderRoster(data);
    renderComposition(data);
    showView(state.view, false);
  }

  function load() {
    $("rv-loading").hidden = false;
    $("rv-error").hidden = true;
    var retry = $("rv-retry");
    retry.disabled = true;
    fetch("/api/v1/guild/roster-data", {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (!response.ok || !body || body.success !== true) {
          var message = body && typeof body.error === "string" ? body.error : "The server answered " + response.status + ".";
          throw new Error(message);
        }
        return body;
      });
    }).then(function (body) {
      render({
        availability: Array.isArray(body.availability) ? body.availability : [],
        characters: Array.isArray(body.characters) ? body.characters : []
      });
    }).catch(function (error) {
      state.data = null;
      showView(state.view, false);
      $("rv-error-detail").textContent = error && error.message ? error.message : "";
      $("rv-error").hidden = false;
    }).then(function () {
      $("rv-loading").hidden = true;
      retry.disabled = false;
    });
  }

  $("rv-retry").addEventListener("click", load);
  showView(state.view, false);
  load();
})();
