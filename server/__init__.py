"""DrSAE Explorer HTTP server: the JSON API under /api (and the dashboard at /), run by `uvicorn server.main:app`."""
