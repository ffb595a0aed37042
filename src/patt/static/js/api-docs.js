/* /api/docs: starts Swagger UI (loaded from its CDN just before this file) on
 * <div id="swagger-ui" data-openapi-url="...">. Kept out of the page so the
 * Content-Security-Policy needs no inline scripts. */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root) {
    return;
  }
  var url = root.getAttribute("data-openapi-url") || "/api/openapi.json";
  if (typeof window.SwaggerUIBundle !== "function") {
    // Offline or the CDN is blocked: say so and point at the schema itself.
    var note = document.createElement("p");
    note.textContent = "The API explorer could not load Swagger UI from its CDN. The schema is at ";
    var link = document.createElement("a");
    link.href = url;
    link.textContent = url;
    note.appendChild(link);
    root.appendChild(note);
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: url,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
})();
