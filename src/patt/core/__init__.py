"""What every feature shares: envelopes, request/response base models, field types, the page-form pipeline, rendering, caches, middleware."""
