/* admin-campaign-type.js — the campaign settings form's Type select (spec 40 §9.4).
 *
 * Markup (templates/admin/campaign_edit.html): select#type, select#counting_method,
 * p#approval-note. An approval campaign is always counted by approvals, so choosing the
 * "Approval" type disables the counting-method select and shows the note; choosing "Ranked
 * choice" enables it again. The server applies the same rule whatever the form posts.
 */
(function () {
  "use strict";

  var type = document.getElementById("type");
  var method = document.getElementById("counting_method");
  var note = document.getElementById("approval-note");
  if (!type || !method) return;

  function sync() {
    var approval = type.value === "approval";
    method.disabled = approval;
    if (note) note.hidden = !approval;
  }

  type.addEventListener("change", sync);
  sync();
})();
