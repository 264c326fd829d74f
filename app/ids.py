"""Stable element ids shared by pages, callbacks, static/*.js and the browser tests.

The first block is the public contract of the browser tests; keep those names. The browser gets every name
here as `window.drsae.ids` (`browser_ids`, written into the page by app/dashboard.py), so static/*.js holds no
copy of an id.
"""

from __future__ import annotations

import json

# Contract with the browser tests.
DRAW_CANVAS = "draw-canvas"
CLEAR_BUTTON = "clear-button"
PREDICTION = "prediction"
ITERATION_SLIDER = "iteration-slider"
PLAY_BUTTON = "play-button"
MODEL_PICKER = "model-picker"

# Shell (header, shared stores).
URL = "url"
MODELS_STORE = "models-store"
MODELS_INTERVAL = "models-interval"
MODELS_DIRTY = "models-dirty"
MODEL_INFO = "model-info"
MODELS_NOTICE = "models-notice"  # why the model list could not be loaded
NAV = "nav"

# Dynamics page.
UNDO_BUTTON = "undo-button"
PEN_SIZE = "pen-size"
INPUT_CANVAS = "input-canvas"
RECON_CANVAS = "recon-canvas"
BUSY = "dynamics-busy"  # "Loading model…", "Encoding…": what the page is waiting for
KEYS_HINT = "keys-hint"  # the keyboard shortcuts static/animate.js handles
PLAYER_PREDICTION = "player-prediction"  # the prediction again, in the player that stays in view
STEP_BACK_BUTTON = "step-back-button"
STEP_BUTTON = "step-button"
ITERATION_LABEL = "iteration-label"
HEATMAP = "heatmap-graph"
HEATMAP_ZMAX = "heatmap-zmax"
CURVES = "curves-graph"
PROBS = "probs-graph"
UNITS_STORE = "units-store"
ENCODE_STORE = "encode-store"
DYNAMICS_CHOICES = "dynamics-choices"  # what the steering and export controls are set to
DIGIT_REF = "digit-ref"
DIGIT_STORE = "digit-store"
GALLERY = "gallery"
GALLERY_MORE = "gallery-more"
GALLERY_DIGIT = "gallery-digit"  # pattern-matching type
MISCLASSIFIED_BUTTON = "misclassified-button"
DIGIT_CAPTION = "digit-caption"
STATUS = "dynamics-status"
UNIT_CARD = "unit-card"
UNIT_CARD_IMG = "unit-card-img"
UNIT_CARD_TEXT = "unit-card-text"
UNIT_CARD_LINK = "unit-card-link"
PROB_AT_T = "prob-at-t"
INTRO = "intro"
INTRO_ITERATIONS = "intro-iterations"  # the intro's words on the model's T
CURVES_HELP = "curves-help"  # what the categorical-unit curves show, for this model
INTRO_CLOSED = "intro-closed"  # the visitor closed the intro: a store kept in localStorage
DRAW_TITLE = "draw-title"
DRAW_HELP = "draw-help"
GALLERY_TITLE = "gallery-title"
UPLOAD = "png-upload"
UNIT_INPUT = "unit-input"
ABLATE_BUTTON = "ablate-button"
CLAMP_BUTTON = "clamp-button"
CLAMP_VALUE = "clamp-value"
FROM_ITERATION = "from-iteration"
ERROR_SUFFIX = "-error"  # a field's message slot beside it: the field's id plus this
ABLATE_CLASS = "ablate-class"
ABLATE_CLASS_BUTTON = "ablate-class-button"
INTERVENTIONS = "interventions"
CLEAR_INTERVENTIONS = "clear-interventions"
DRIVE_GRAPH = "drive-graph"
RECON_PARTS = "recon-parts"
DECISION_MARK = "probs-graph-decision"
RECON_CATEGORICAL = "recon-categorical"  # the reconstruction split by role: RECON_<ROLE>
RECON_INTERMEDIATE = "recon-intermediate"
RECON_PART = "recon-part"
# The overlays beside a graph that static/animate.js moves: the graph's id plus one of these.
CURSOR_SUFFIX = "-cursor"
FOG_SUFFIX = "-fog"
ROW_SUFFIX = "-row"
FIXED_SCALE = "fixed-scale"
FIXED_SCALE_MAX = "fixed-scale-max"
EXPORT_JSON = "export-json"
EXPORT_CSV = "export-csv"
EXPORT_FIGURE = "export-figure"
EXPORT_PNG = "export-png"
EXPORT_SVG = "export-svg"
COMPARE_PICKER = "compare-picker"
COMPARE_PANEL = "compare-panel"
COMPARE_PROBS = "compare-probs-graph"
COMPARE_PREDICTION = "compare-prediction"
COMPARE_RECON = "compare-recon-canvas"

# Units page.
FILTER_KIND = "filter-kind"
GALLERIES = "unit-galleries"
SCATTER = "unit-scatter"
SELECTED_UNIT = "selected-unit"
UNIT_DETAIL = "unit-detail"
UNIT_HIST = "unit-hist"
UNIT_WEIGHTS = "unit-weights"
UNITS_PAGE_STORE = "units-page-store"
SCATTER_HOVER_IMG = "scatter-hover-img"
SCATTER_HOVER_TEXT = "scatter-hover-text"

# Training page.
JOB_FORM = "job-form"
JOB_FIELD = "job-field"  # pattern-matching type, index = field name
JOB_FIELD_ERROR = "job-field-error"  # pattern-matching type, index = field name
START_JOB = "start-job-button"
JOB_MESSAGE = "job-message"
JOBS_TABLE = "jobs-table"
JOBS_INTERVAL = "jobs-interval"
JOBS_STORE = "jobs-store"
JOBS_REFRESH = "jobs-refresh"
CURVES_REFRESH = "curves-refresh"  # {job_id, at}: static/jobs.js asks for the curves to be drawn from the API
JOBS_FOLLOW = "jobs-follow"  # the clientside callback that opens and closes the event streams
JOB_CANCEL = "job-cancel"  # pattern-matching type, index = job id
JOB_RESUME = "job-resume"  # pattern-matching type, index = job id
JOB_SELECT = "job-select"  # pattern-matching type, index = job id
JOB_ROW = "job-row"  # pattern-matching type, index = job id
JOB_DETAIL = "job-detail"  # pattern-matching type, index = job id
JOB_PROGRESS = "job-progress"  # pattern-matching type, index = job id
JOBS_SHAPE = "jobs-shape"  # [[id, status], ...]: the rows and their buttons; the list is redrawn when it changes
SELECTED_JOB = "selected-job"
TRAINING_CURVES = "training-curves"
ROLE_CURVES = "role-curves"
JOB_PENDING = "job-pending"
JOB_OPTIONS = "job-options"  # the API's JobOptions: presets, datasets, ranges
SWEEP_COUNT = "sweep-count"  # how many runs the form starts (one job, or a sweep's members)
RUNS_TABLE = "runs-table"  # the sortable, filterable table of runs; ticked rows are compared
SELECTED_RUNS = "selected-runs"  # [job id, ...] ticked in the runs table (the URL's runs=)
COMPARE_METRIC = "compare-metric"
COMPARE_GROUP = "compare-group"  # a config field, or "" for none (the URL's group=)
COMPARE_SMOOTH = "compare-smooth"  # 0..0.95 (the URL's smooth=)
COMPARE_CURVES = "compare-curves"
PARALLEL_COORDS = "parallel-coords"
ROLES_EPOCH = "roles-epoch"  # the slider over a job's snapshot epochs
ROLES_FILTERS = "roles-filters"  # decoder filters of the kept units at several epochs
ROLES_SCATTER = "roles-scatter"  # angle vs ||C_i|| at the slider's epoch
ROLES_SHOWN = "roles-shown"  # {job, epochs}: what the filter grid shows
TRAINING_URL = "training-url"  # the clientside callback that writes the page's state into the URL

# Evaluation page.
CONFUSION = "confusion-graph"
EVAL_SUMMARY = "eval-summary"
CELL_DIGITS = "cell-digits"
EVAL_STORE = "eval-store"
EVAL_CELL = "eval-cell"


def browser_ids() -> dict[str, str]:
    """Every id above by its Python name: what static/*.js reads from window.drsae.ids."""
    return {k: v for k, v in globals().items() if k.isupper() and isinstance(v, str)}


def browser_script() -> str:
    """An inline script that puts the ids into the browser's one namespace before static/*.js runs."""
    payload = json.dumps(browser_ids(), sort_keys=True).replace("</", "<\\/")
    return f"<script>window.drsae = Object.assign(window.drsae || {{}}, {{ids: {payload}}});</script>"
