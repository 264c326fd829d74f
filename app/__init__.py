"""DrSAE Explorer dashboard: Dash pages that talk to the model only through the JSON API (docs/api.md)."""
