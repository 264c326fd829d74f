"""Stable element ids shared by pages, callbacks, static/*.js and the browser tests.

The first block is the public contract of the browser tests (issue 5); keep those names.
"""

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
NAV = "nav"

# Dynamics page.
UNDO_BUTTON = "undo-button"
PEN_SIZE = "pen-size"
INPUT_CANVAS = "input-canvas"
RECON_CANVAS = "recon-canvas"
STEP_BACK_BUTTON = "step-back-button"
STEP_BUTTON = "step-button"
ITERATION_LABEL = "iteration-label"
HEATMAP = "heatmap-graph"
HEATMAP_ZMAX = "heatmap-zmax"
CURVES = "curves-graph"
PROBS = "probs-graph"
UNITS_STORE = "units-store"
ENCODE_STORE = "encode-store"
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
JOB_CANCEL = "job-cancel"  # pattern-matching type, index = job id
JOB_RESUME = "job-resume"  # pattern-matching type, index = job id
JOB_SELECT = "job-select"  # pattern-matching type, index = job id
SELECTED_JOB = "selected-job"
TRAINING_CURVES = "training-curves"

# Evaluation page.
CONFUSION = "confusion-graph"
EVAL_SUMMARY = "eval-summary"
CELL_DIGITS = "cell-digits"
EVAL_STORE = "eval-store"
