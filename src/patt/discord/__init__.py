"""Discord inside the app: the service and its gateway, the member + role sync flow, the admin page."""
