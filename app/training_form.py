"""The Training page's job form, built from the API's JobOptions (GET /api/jobs/options): the presets with
their one-line descriptions, the datasets, and each number's range as a hint and as the input's min/max."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from app import ids

# The form's numeric fields and how they read; their ranges, the presets and the datasets come from the API
# (GET /api/jobs/options), which validates a job with the same ranges. Empty fields take the preset's values.
NUMBERS: tuple[tuple[str, str, str], ...] = (
    ("hidden_units", "Hidden units", "paper: 400"),
    ("iterations", "Iterations T", "paper: 11"),
    ("unsupervised_epochs", "Unsupervised epochs", "reconstruction + sparsity only"),
    ("epochs", "Discriminative epochs", "after the unsupervised ones"),
    ("learning_rate", "Learning rate", ""),
    ("batch_size", "Batch size", ""),
    ("seed", "Seed", ""),
)
TEXTS: tuple[tuple[str, str, str, str], ...] = (
    ("name", "Name", "text", "optional; names the model"),
    ("token", "Access token", "password", "only if the server sets DRSAE_TOKEN"),
)


def _field(name: str, label: str, kind: str, help_text: str) -> html.Div:
    # Numbers are typed as text (with a numeric keyboard): an <input type=number> reports a half-typed value
    # such as "1e" as empty, which would silently fall back to the preset's value; validate_job reads the
    # text as it stands and says why it refuses it.
    limits = {"inputMode": "decimal"} if kind == "number" else {}
    return html.Div(
        className="field",
        children=[
            html.Label(label, htmlFor=f"job-{name}"),
            dcc.Input(
                id={"type": ids.JOB_FIELD, "index": name},
                type="text" if kind == "number" else kind,
                placeholder="preset default" if kind == "number" else "",
                autoComplete="off",
                debounce=False,
                className="input",
                **limits,
            ),
            html.Div(help_text, className="hint"),
            html.Div(id={"type": ids.JOB_FIELD_ERROR, "index": name}, className="field-error", role="alert"),
        ],
    )


def _choice(name: str, label: str, options: list, value: str) -> html.Div:
    """A dropdown field with its error slot, like _field for the fixed-choice options."""
    return html.Div(
        className="field",
        children=[
            html.Label(label, htmlFor=f"job-{name}"),
            dcc.Dropdown(id={"type": ids.JOB_FIELD, "index": name}, options=options, value=value, clearable=False),
            html.Div(id={"type": ids.JOB_FIELD_ERROR, "index": name}, className="field-error"),
        ],
    )


def range_hint(bounds: dict[str, Any]) -> str:
    """'in 1..1024', '>= 0': a Range as the hint and the error messages write it."""
    return f"{'in ' if bounds['maximum'] is not None else ''}{bounds['text']}"


def form(options: dict[str, Any]) -> list[html.Div]:
    """The job form from the API's JobOptions: preset and dataset choices, each number's range in its hint."""
    presets = [
        {"label": html.Span([html.B(p["name"]), f": {p['description']}"]), "value": p["name"]}
        for p in options["presets"]
    ]
    datasets = [{"label": d["title"], "value": d["name"]} for d in options["datasets"]]
    numbers = []
    for name, label, note in NUMBERS:
        bounds = options["fields"][name]
        numbers.append(_field(name, label, "number", range_hint(bounds) + (f" ({note})" if note else "")))
    return [
        _choice("preset", "Preset", presets, options["default_preset"]),
        _choice("dataset", "Dataset", datasets, datasets[0]["value"]),
        *numbers,
        *[_field(*f) for f in TEXTS],
    ]
