"""Callbacks, one module per page; they use dash.callback and never import the app object."""
