"""The dashboard's unit tests (pyproject.toml puts the repository root on sys.path)."""
