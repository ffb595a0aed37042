/* mitos-corner.js — Mito's Corner (spec 60 §7): quotes and titles with add, inline edit, delete
 * and a preview of the landing page's "Quote of the Day". Talks to /api/v1/guild/mito;
 * every text is inserted with textContent. The page arrives with the lists rendered and the
 * same data embedded (#mito-data), so buttons work at once; without it the lists are fetched.
 */
(function () {
  "use strict";

  var root = document.getElementById("mito");
  if (!root) return;

  var PATT = window.PATT || {};
  var API = "/api/v1/guild/mito";
  var FALLBACK_TITLE = root.getAttribute("data-fallback-title") || "Healer Extraordinaire";
  var KINDS = {
    quote: {
      list: "mito-quotes", input: "mito-quote-input", add: "mito-quote-add", path: "/quotes", field: "quote",
      label: "Quote", added: "Quote added! 🎉", deleted: "Quote deleted! 🗑️", saved: "Quote updated! ✏️",
      empty: "📜 No quotes yet… add the first one!", failed: "😵 Could not load quotes"
    },
    title: {
      list: "mito-titles", input: "mito-title-input", add: "mito-title-add", path: "/titles", field: "title",
      label: "Title", added: "Title added! 🏆", deleted: "Title deleted! 🗑️", saved: "Title updated! ✏️",
      empty: "🏆 No titles yet… give Mito a fancy one!", failed: "😵 Could not load titles"
    }
  };
  var data = { quote: [], title: [] };
  var lastPreview = null;
  var bannerTimer = null;

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fetchJSON(url, options) {
    if (PATT.fetchJSON) return PATT.fetchJSON(url, options);
    var opts = options || {};
    var headers = { Accept: "application/json" };
    var init = { method: opts.method || "GET", credentials: "same-origin", headers: headers };
    if (opts.body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(opts.body); }
    if (init.method !== "GET") {
      var match = document.cookie.match(/(?:^|;\s*)patt_csrf=([^;]*)/);
      headers["X-CSRF-Token"] = match ? decodeURIComponent(match[1]) : "";
    }
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (err) { body = null; }
        if (!response.ok) throw new Error((body && body.error) || "Request failed (HTTP " + response.status + ").");
        return body;
      });
    }, function () { throw new Error("Network error — check your connection and try again."); });
  }

  /* ---- banner: success hides after 3 s, errors stay until the next action ---- */

  function banner(kind, text) {
    var box = $("mito-banner");
    if (bannerTimer) { window.clearTimeout(bannerTimer); bannerTimer = null; }
    box.hidden = false;
    box.className = "mito-banner mito-banner--" + kind;
    box.textContent = text;
    if (kind === "success") {
      bannerTimer = window.setTimeout(function () { box.hidden = true; }, 3000);
    }
  }

  function clearBanner() {
    if (bannerTimer) { window.clearTimeout(bannerTimer); bannerTimer = null; }
    $("mito-banner").hidden = true;
  }

  /* ---- lists ------------------------------------------------------------ */

  function render(kind) {
    var conf = KINDS[kind];
    var list = $(conf.list);
    while (list.firstChild) list.removeChild(list.firstChild);
    if (!data[kind].length) {
      list.appendChild(el("li", "mito-empty", conf.empty));
      return;
    }
    data[kind].forEach(function (entry, index) {
      list.appendChild(itemNode(kind, entry, index + 1));
    });
  }

  function itemNode(kind, entry, number) {
    var item = el("li", "mito-item");
    item.setAttribute("data-id", entry.id);
    item.appendChild(el("span", "mito-item__num", number + "."));
    item.appendChild(el("span", "mito-item__text", entry[KINDS[kind].field]));
    var actions = el("span", "mito-item__actions");
    var edit = el("button", "btn btn--secondary btn--sm", "✏️ Edit");
    edit.type = "button";
    edit.setAttribute("data-action", "edit");
    var del = el("button", "btn btn--danger btn--sm", "🗑️ Delete");
    del.type = "button";
    del.setAttribute("data-action", "delete");
    actions.appendChild(edit);
    actions.appendChild(del);
    item.appendChild(actions);
    return item;
  }

  function findEntry(kind, id) {
    for (var i = 0; i < data[kind].length; i++) if (String(data[kind][i].id) === String(id)) return data[kind][i];
    return null;
  }

  function load() {
    return fetchJSON(API).then(function (body) {
      data.quote = body.data.quotes || [];
      data.title = body.data.titles || [];
      render("quote");
      render("title");
      renderPreview();
    }, function () {
      ["quote", "title"].forEach(function (kind) {
        var list = $(KINDS[kind].list);
        while (list.firstChild) list.removeChild(list.firstChild);
        list.appendChild(el("li", "mito-empty mito-empty--error", KINDS[kind].failed));
      });
    });
  }

  /* ---- add -------------------------------------------------------------- */

  function add(kind) {
    var conf = KINDS[kind];
    var input = $(conf.input);
    var button = $(conf.add);
    var text = input.value.trim();
    clearBanner();
    if (!text) { banner("error", "Type something first!"); input.focus(); return; }
    var label = button.textContent;
    button.disabled = true;
    button.textContent = "Adding…";
    var body = {};
    body[conf.field] = text;
    fetchJSON(API + conf.path, { method: "POST", body: body }).then(function (reply) {
      data[kind].push(reply.data);
      render(kind);
      input.value = "";
      banner("success", conf.added);
    }, function (err) {
      banner("error", err.message);
    }).then(function () {
      button.disabled = false;
      button.textContent = label;
    });
  }

  /* ---- inline edit and delete -------------------------------------------- */

  function startEdit(kind, item) {
    var conf = KINDS[kind];
    var entry = findEntry(kind, item.getAttribute("data-id"));
    if (!entry || item.classList.contains("mito-item--editing")) return;
    clearBanner();
    item.classList.add("mito-item--editing");
    var textNode = item.querySelector(".mito-item__text");
    var editor = el(kind === "quote" ? "textarea" : "input", "form-control mito-item__editor");
    if (kind === "quote") editor.rows = 3;
    editor.value = entry[conf.field];
    editor.setAttribute("aria-label", "Edit " + conf.label.toLowerCase());
    textNode.hidden = true;
    item.insertBefore(editor, textNode.nextSibling);
    var actions = item.querySelector(".mito-item__actions");
    var oldButtons = Array.prototype.slice.call(actions.children);
    oldButtons.forEach(function (b) { b.hidden = true; });
    var save = el("button", "btn btn--primary btn--sm", "💾 Save");
    save.type = "button";
    save.setAttribute("data-action", "save");
    var cancel = el("button", "btn btn--secondary btn--sm", "❌ Cancel");
    cancel.type = "button";
    cancel.setAttribute("data-action", "cancel");
    actions.appendChild(save);
    actions.appendChild(cancel);
    editor.focus();

    function finish() {
      editor.remove();
      save.remove();
      cancel.remove();
      textNode.hidden = false;
      oldButtons.forEach(function (b) { b.hidden = false; });
      item.classList.remove("mito-item--editing");
    }

    function commit() {
      var text = editor.value.trim();
      clearBanner();
      if (!text) { banner("error", conf.label + " cannot be empty!"); editor.focus(); return; }
      save.disabled = true;
      cancel.disabled = true;
      var body = {};
      body[conf.field] = text;
      fetchJSON(API + conf.path + "/" + encodeURIComponent(entry.id), { method: "PUT", body: body }).then(function (reply) {
        entry[conf.field] = reply.data[conf.field];
        textNode.textContent = reply.data[conf.field];
        finish();
        banner("success", conf.saved);
        renderPreview();
      }, function (err) {
        banner("error", err.message);
        save.disabled = false;
        cancel.disabled = false;
      });
    }

    save.addEventListener("click", commit);
    cancel.addEventListener("click", function () { clearBanner(); finish(); });
    editor.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); finish(); }
      else if (event.key === "Enter" && (kind === "title" || event.ctrlKey || event.metaKey)) { event.preventDefault(); commit(); }
    });
  }

  function remove(kind, item, button) {
    var conf = KINDS[kind];
    var entry = findEntry(kind, item.getAttribute("data-id"));
    if (!entry) return;
    clearBanner();
    if (!window.confirm("Delete this " + conf.label.toLowerCase() + "? This cannot be undone.")) return;
    button.disabled = true;
    fetchJSON(API + conf.path + "/" + encodeURIComponent(entry.id), { method: "DELETE" }).then(function () {
      data[kind] = data[kind].filter(function (e) { return e !== entry; });
      render(kind);
      banner("success", conf.deleted);
      renderPreview();
    }, function (err) {
      banner("error", err.message);
      button.disabled = false;
    });
  }

  function onListClick(event) {
    var button = event.target.closest("button[data-action]");
    if (!button) return;
    var list = event.currentTarget;
    var kind = list.getAttribute("data-kind");
    var item = button.closest(".mito-item");
    if (!item) return;
    var action = button.getAttribute("data-action");
    if (action === "edit") startEdit(kind, item);
    else if (action === "delete") remove(kind, item, button);
  }

  /* ---- preview ---------------------------------------------------------- */

  function randomOf(list, avoid) {
    if (!list.length) return null;
    if (list.length === 1) return list[0];
    var choice = avoid;
    while (choice === avoid) choice = list[Math.floor(Math.random() * list.length)];
    return choice;
  }

  function renderPreview(shuffle) {
    var quoteNode = $("mito-preview-quote");
    var byNode = $("mito-preview-by");
    if (!data.quote.length) {
      quoteNode.textContent = "No quotes yet. Add some!";
      byNode.textContent = "";
      lastPreview = null;
      return;
    }
    var quote = randomOf(data.quote, shuffle ? lastPreview : null);
    lastPreview = quote;
    var title = data.title.length ? data.title[Math.floor(Math.random() * data.title.length)].title : FALLBACK_TITLE;
    quoteNode.textContent = "“" + quote.quote + "”";
    byNode.textContent = "— Mito, " + title;
  }

  /* ---- tabs and wiring ---------------------------------------------------- */

  function showTab(name) {
    ["quotes", "titles", "preview"].forEach(function (tab) {
      var on = tab === name;
      var button = $("mito-tab-" + tab);
      button.classList.toggle("ra-tab--active", on);
      button.setAttribute("aria-selected", on ? "true" : "false");
      $("mito-panel-" + tab).hidden = !on;
    });
    if (name === "preview") renderPreview();
  }

  function init() {
    var tabs = root.querySelectorAll("[data-tab]");
    for (var i = 0; i < tabs.length; i++) {
      tabs[i].addEventListener("click", function (event) { showTab(event.currentTarget.getAttribute("data-tab")); });
    }
    $("mito-quote-add").addEventListener("click", function () { add("quote"); });
    $("mito-title-add").addEventListener("click", function () { add("title"); });
    $("mito-quote-input").addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); add("quote"); }
    });
    $("mito-title-input").addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); add("title"); }
    });
    $("mito-quotes").addEventListener("click", onListClick);
    $("mito-titles").addEventListener("click", onListClick);
    $("mito-shuffle").addEventListener("click", function () { renderPreview(true); });
    // The server rendered the lists and embedded the same data; fetch only when it is missing.
    var initial = readInitial();
    if (initial) {
      data.quote = initial.quotes;
      data.title = initial.titles;
      renderPreview();
    } else {
      load();
    }
  }

  function readInitial() {
    var node = $("mito-data");
    if (!node) return null;
    try {
      var parsed = JSON.parse(node.textContent || "");
      return parsed && Array.isArray(parsed.quotes) && Array.isArray(parsed.titles) ? parsed : null;
    } catch (err) {
      return null;
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
