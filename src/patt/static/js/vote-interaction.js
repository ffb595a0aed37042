/* vote-interaction.js — ranked picking on the vote page (spec 50 §5.2, §9). Loaded only in the
 * can_vote state.
 *
 * Markup (templates/vote/vote.html):
 *   #vote-grid[data-max-picks=N] > .entry-card[data-entry-id][data-entry-name] (+ .pick-badge,
 *   .entry-card__zoom[data-zoom-src]); #pick-slot-1..N (.pick-slot__name); #vote-submit-btn;
 *   #vote-form with select[name=pick_entry_i] (no-JS fallback, hidden here); #vote-hint.
 *
 * Click / Enter / Space on a card toggles it: picks are an ordered list (first click = 1st
 * choice); removing a pick moves later picks up. With N picks, another card only shows a hint.
 * Submit asks for confirmation, fills the selects, disables the button and submits once.
 *
 * Approval campaigns (#vote-grid[data-mode=approval]): a picked card shows a check mark instead
 * of a rank, any number from 1 to N may be picked, and submit is enabled with one pick or more.
 * The selects are filled in click order (the rest left empty), so the form posts the same
 * fields; the server ignores the order.
 * User text is written with textContent only.
 */
(function () {
  "use strict";

  var grid = document.getElementById("vote-grid");
  var form = document.getElementById("vote-form");
  var submit = document.getElementById("vote-submit-btn");
  if (!grid || !form || !submit) return;

  var maxPicks = parseInt(grid.getAttribute("data-max-picks"), 10) || 1;
  var approval = grid.getAttribute("data-mode") === "approval";
  var cards = Array.prototype.slice.call(grid.querySelectorAll(".entry-card[data-entry-id]"));
  var hint = document.getElementById("vote-hint");
  var fallback = document.getElementById("vote-fallback");
  var picks = []; // entry ids (strings) in rank order
  var hintTimer = null;
  var submitting = false;

  if (fallback) fallback.hidden = true;

  // A vote being changed arrives with the current picks selected in the fallback selects.
  for (var p = 0; p < maxPicks; p++) {
    var preset = form.querySelector('select[name="pick_entry_' + p + '"]');
    if (preset && preset.value && picks.indexOf(preset.value) < 0) picks.push(preset.value);
  }

  function cardFor(entryId) {
    for (var i = 0; i < cards.length; i++) {
      if (cards[i].getAttribute("data-entry-id") === entryId) return cards[i];
    }
    return null;
  }

  function showHint(text) {
    if (!hint) return;
    hint.textContent = text;
    if (hintTimer) window.clearTimeout(hintTimer);
    hintTimer = window.setTimeout(function () {
      hint.textContent = "";
    }, 3000);
  }

  function render() {
    cards.forEach(function (card) {
      for (var r = 1; r <= 10; r++) card.classList.remove("selected-" + r);
      card.classList.remove("approved");
      var rank = picks.indexOf(card.getAttribute("data-entry-id")) + 1;
      var badge = card.querySelector(".pick-badge");
      if (rank > 0) {
        card.classList.add(approval ? "approved" : "selected-" + Math.min(rank, 10));
        card.setAttribute("aria-pressed", "true");
        if (badge) {
          badge.textContent = approval ? "✓" : String(rank);
          badge.hidden = false;
        }
      } else {
        card.setAttribute("aria-pressed", "false");
        if (badge) {
          badge.textContent = "";
          badge.hidden = true;
        }
      }
    });
    for (var i = 1; i <= maxPicks; i++) {
      var slot = document.getElementById("pick-slot-" + i);
      if (!slot) continue;
      var name = slot.querySelector(".pick-slot__name");
      var entryId = picks[i - 1];
      var card = entryId ? cardFor(entryId) : null;
      var label = card ? card.getAttribute("data-entry-name") || "" : "";
      if (name) name.textContent = card ? label : "—";
      if (label) slot.setAttribute("title", label);
      else slot.removeAttribute("title");
      slot.classList.toggle("filled", Boolean(card));
    }
    submit.disabled = submitting || !complete();
  }

  // Ranked ballots need exactly N picks; approval ballots any number from 1 to N.
  function complete() {
    return approval ? picks.length >= 1 && picks.length <= maxPicks : picks.length === maxPicks;
  }

  function toggle(card) {
    if (submitting) return;
    var entryId = card.getAttribute("data-entry-id");
    var index = picks.indexOf(entryId);
    if (index !== -1) {
      picks.splice(index, 1);
    } else if (picks.length >= maxPicks) {
      showHint(
        approval
          ? "You've ticked " + maxPicks + " — untick one to choose another."
          : "You've picked " + maxPicks + " — click a pick to remove it."
      );
      return;
    } else {
      picks.push(entryId);
    }
    if (hint) hint.textContent = "";
    render();
  }

  /* ---- Image overlay ----------------------------------------------------- */

  var overlay = null;
  var lastFocus = null;

  function closeOverlay() {
    if (!overlay) return;
    overlay.remove();
    overlay = null;
    document.removeEventListener("keydown", onOverlayKey);
    if (lastFocus && lastFocus.focus) lastFocus.focus();
  }

  function onOverlayKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      closeOverlay();
    }
  }

  function openOverlay(src, caption, opener) {
    closeOverlay();
    lastFocus = opener;
    overlay = document.createElement("div");
    overlay.className = "image-overlay";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-label", caption);
    var img = document.createElement("img");
    img.className = "image-overlay__img";
    img.src = src;
    img.alt = caption;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "image-overlay__close";
    close.setAttribute("aria-label", "Close");
    close.textContent = "×";
    var text = document.createElement("div");
    text.className = "image-overlay__caption";
    text.textContent = caption;
    overlay.appendChild(img);
    overlay.appendChild(close);
    overlay.appendChild(text);
    overlay.addEventListener("click", function (event) {
      if (event.target !== img) closeOverlay();
    });
    document.addEventListener("keydown", onOverlayKey);
    document.body.appendChild(overlay);
    close.focus();
  }

  /* ---- Wiring ------------------------------------------------------------ */

  cards.forEach(function (card) {
    card.setAttribute("role", "button");
    card.setAttribute("tabindex", "0");
    card.setAttribute("aria-pressed", "false");
    card.setAttribute("aria-label", card.getAttribute("data-entry-name") || "Entry");
    card.addEventListener("click", function (event) {
      var zoom = event.target.closest ? event.target.closest(".entry-card__zoom") : null;
      if (zoom) {
        event.preventDefault();
        event.stopPropagation();
        openOverlay(zoom.getAttribute("data-zoom-src"), card.getAttribute("data-entry-name") || "", zoom);
        return;
      }
      toggle(card);
    });
    card.addEventListener("keydown", function (event) {
      if (event.target !== card) return; // keys on the magnifier button act on the button
      if (event.key === "Enter" || event.key === " " || event.key === "Spacebar") {
        event.preventDefault();
        toggle(card);
      }
    });
  });

  form.addEventListener("submit", function (event) {
    if (submitting) {
      event.preventDefault();
      return;
    }
    if (!complete()) {
      event.preventDefault();
      showHint(
        approval
          ? "Tick at least one entry before submitting."
          : "Pick " + maxPicks + " entries before submitting."
      );
      return;
    }
    var question =
      form.getAttribute("data-confirm") || "Submit your vote? Votes can't be changed afterwards.";
    if (!window.confirm(question)) {
      event.preventDefault();
      return;
    }
    for (var i = 0; i < maxPicks; i++) {
      var select = form.querySelector('select[name="pick_entry_' + i + '"]');
      if (select) select.value = picks[i] || "";
      var rank = form.querySelector('input[name="pick_rank_' + i + '"]');
      if (rank) rank.value = String(i + 1);
    }
    submitting = true;
    submit.disabled = true;
    submit.textContent = "Submitting…";
  });

  render();
})();
