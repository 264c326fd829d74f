"""Import every page's callbacks, so they register with dash.callback."""

from app.callbacks import compare, dynamics, evaluation, roles, shell, training, units  # noqa: F401
