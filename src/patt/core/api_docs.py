"""`/api/docs`: the interactive API explorer (Swagger UI) without inline code.

FastAPI's own docs page starts Swagger UI with an inline script, which the site's
Content-Security-Policy forbids. This page loads the same Swagger UI files from their CDN and
starts them from `/static/js/api-docs.js`; `/api/docs` gets the relaxed policy `DOCS_CSP`.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from patt.core.middleware import DOCS_PATH, SWAGGER_CDN

SWAGGER_DIST = f"{SWAGGER_CDN}/npm/swagger-ui-dist@5"


def docs_page(title: str, openapi_url: str) -> str:
    """The explorer's HTML: Swagger UI's files, a mount point naming the schema, our start-up."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — API</title>
<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{SWAGGER_DIST}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{SWAGGER_DIST}/swagger-ui-bundle.js"></script>
<script src="/static/js/api-docs.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Serve the explorer at /api/docs (create the app with `docs_url=None`)."""
    page = docs_page(app.title, app.openapi_url or "/api/openapi.json")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return HTMLResponse(page)
