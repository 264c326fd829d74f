"""API routers, one module per resource; server/main.py includes them all under /api."""

from server.routes import datasets, encode, health, jobs, models, sweeps, units

ROUTERS = [health.router, models.router, encode.router, units.router, datasets.router, jobs.router, sweeps.router]
