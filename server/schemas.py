"""Request and response bodies of the API (docs/api.md). Limits live in Field(...), so bad input is a
422 before a route runs; lists come as {data, count}; names are words, not the paper's letters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, create_model, model_validator

from model import preflight
from model.analysis import ROLES
from model.data import DATASETS
from model.presets import BOUNDS, PRESETS
from server.lifecycle import Status

Role = Literal[ROLES]  # type: ignore[valid-type]  # model/analysis.py
Source = Literal["shipped", "job"]
JobStatus = Status  # the names and moves: server/lifecycle.py
PresetName = Literal[tuple(PRESETS)]  # type: ignore[valid-type]  # the recipes of model/presets.py
DatasetName = Literal[tuple(DATASETS)]  # type: ignore[valid-type]
Split = Literal["train", "val", "test"]
MAX_DATA_URL = 1_500_000  # characters; the body limit (2 MB) stops anything larger anyway


class Strict(BaseModel):
    """Request bodies: unknown fields are an error, not silently ignored, and no loose coercion: "yes" is not
    a boolean, "10" and true are not integers (a whole number is still a valid float)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def digits_only(value: Any) -> Any:
    """Path and query integers arrive as text: ASCII digits only (int() alone also takes '1_0', ' 1', '+1'
    and, through pydantic, '1.0'; other scripts' digits pass regex \\d but not int())."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a whole number written with the digits 0-9")
    return value


# Annotated[int, Query(...) or Path(...), WholeNumber]: the FastAPI marker first keeps its bounds in the schema
WholeNumber = BeforeValidator(digits_only)


def whole_float(value: Any) -> Any:
    """A body's 36.0 is the integer 36: JSON Schema's "integer" is a number with no fraction, however it is
    written. true, "36" and 36.5 stay errors (strict models)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


WHOLE = BeforeValidator(whole_float)
BodyInt = Annotated[int, WHOLE]  # an integer field of a JSON body; bounded and optional: Annotated[int, Field, WHOLE]


class Message(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: the API answers, but jobs cannot be stored")
    device: str
    models: int
    jobs_running: int
    jobs_queued: int | None = Field(description="null when the job database cannot be read")
    storage: str | None = Field(description="what is wrong with the job storage (cause and path); null when fine")


# ------------------------------------------------------------------------------------ models
# units per role, one field per name of model/analysis.py ROLES
RoleCounts = create_model("RoleCounts", **{r: (int, ...) for r in ROLES})  # type: ignore[call-overload]


class ModelSummary(BaseModel):
    id: str
    name: str
    dataset: str
    dataset_title: str = Field(description="how people write the dataset's name: 'MNIST', 'Fashion-MNIST'")
    hidden_units: int | None = Field(description="null when the model's config.json cannot be used")
    iterations: int | None
    test_error: float | None = Field(description="% on the test set; null when unknown")
    val_error: float | None
    source: Source
    job_id: int | None
    created: str | None = Field(
        description="ISO 8601: when the model was trained (its weights saved, or its job finished), from its own "
        "record; null when the record does not say (weights saved before it was kept)"
    )
    class_names: list[str] = Field(description="what each class is called, in class order")
    item_noun: str = Field(description="what one image of the dataset is: 'digit', 'item'")
    roles: RoleCounts | None = Field(None, description="units per role; null when the weights cannot be read")
    error: str | None = Field(
        None, description="why the model cannot be used (a broken config.json or weights file); its endpoints "
        "answer 503 with the same words; null when it can"
    )
    shows_paper_structure: bool | None = Field(
        None,
        description="every sign of the paper's part/categorical structure met on the test set, from the model's "
        "card (docs/model.md); null when the model has no card",
    )


class ModelsPublic(BaseModel):
    data: list[ModelSummary]
    count: int


class ModelDetail(ModelSummary):
    config: dict[str, Any]
    card: dict[str, Any] | None = Field(
        None, description="the model card: errors, unit counts, structure signs and verdicts, command, machine"
    )
    card_markdown: str | None = Field(None, description="the same card as the README.md beside the weights")
    metrics: list[dict[str, Any]]


def _image(value: Any) -> np.ndarray | str | None:
    """28x28 numbers in [0, 1] -> float32 array, checked with numpy (784 pydantic floats cost ~1 ms and
    give unreadable union errors); a string must look like a PNG data URL (decoded by the route); None is
    no image (the body names a stored digit instead)."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.startswith("data:image/png;base64,"):
            raise ValueError("a string image must be a 'data:image/png;base64,...' URL")
        if len(value) > MAX_DATA_URL:
            raise ValueError(f"the PNG data URL is longer than {MAX_DATA_URL} characters")
        return value
    if not isinstance(value, list) or len(value) != 28 or not all(isinstance(r, list) and len(r) == 28 for r in value):
        raise ValueError("image must be 28 rows of 28 numbers (or a PNG data URL)")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ValueError("image must be 28 rows of 28 numbers") from e
    if arr.shape != (28, 28) or arr.dtype.kind not in "iuf":
        raise ValueError("image must be 28 rows of 28 numbers")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ValueError("image values must be finite numbers (no NaN or infinity)")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(f"image values must lie in [0, 1], found {float(arr.min()):g}..{float(arr.max()):g}")
    return arr


_IMAGE_SCHEMA = {
    "anyOf": [
        {
            "type": "array",
            "minItems": 28,
            "maxItems": 28,
            "items": {
                "type": "array",
                "minItems": 28,
                "maxItems": 28,
                "items": {"type": "number", "minimum": 0.0, "maximum": 1.0},
            },
            "description": "28 rows of 28 values in [0, 1], ink high",
        },
        {"type": "string", "pattern": "^data:image/png;base64,", "maxLength": MAX_DATA_URL},
    ]
}
ImageInput = Annotated[Any, BeforeValidator(_image), WithJsonSchema(_IMAGE_SCHEMA)]


MAX_INTERVENTIONS = 1024


class InterventionIn(Strict):
    """Replace a unit's activity at some iterations (after the ReLU, so the value is what feeds the next
    iteration, the classifier and the decoder); value 0 ablates. Unknown units, iterations past T and a range
    that runs backwards are a 422 from the route, which knows the model (model/inference.py checks them)."""

    unit: BodyInt = Field(ge=0, description="hidden unit index")
    value: float = Field(ge=0.0, le=1e6, allow_inf_nan=False, description="activity to impose; 0 ablates")
    from_iteration: BodyInt = Field(1, ge=1, description="first iteration affected (1-based)")
    to_iteration: Annotated[int, Field(ge=1), WHOLE] | None = Field(
        None, description="last iteration affected, inclusive; default T"
    )



class InterventionOut(BaseModel):
    unit: int
    value: float
    from_iteration: int
    to_iteration: int


class EncodeRequest(Strict):
    """One input, given either as pixels (`image`) or by reference to a stored digit (`dataset` + `index`):
    a test digit then never crosses the wire as pixels."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={  # the _one_input rule, in the schema too
            "oneOf": [
                {
                    "required": ["image"],
                    "properties": {"image": {"not": {"type": "null"}}, "dataset": {"type": "null"},
                                   "index": {"type": "null"}},
                },
                {
                    "required": ["dataset", "index"],
                    "properties": {"image": {"type": "null"}, "dataset": {"type": "string"},
                                   "index": {"type": "integer"}},
                },
            ]
        },
    )

    image: ImageInput = Field(None, description="28x28 values or a PNG data URL; or leave out and give dataset + index")
    dataset: DatasetName | None = Field(None, description="with index: encode this dataset's digit")
    split: Split = Field("test", description="with dataset and index")
    index: Annotated[int, Field(ge=0, le=10_000_000), WHOLE] | None = Field(
        None, description="with dataset: the digit's index in the split"
    )
    preprocess: Literal["center", "none"] = "center"
    reconstructions: bool = False
    interventions: list[InterventionIn] = Field(
        default_factory=list, max_length=MAX_INTERVENTIONS, description="applied in order; a later one wins"
    )
    decompose: bool = Field(False, description="add input_drive, recurrent_drive and recurrent_drive_by_role")
    split_reconstruction: bool = Field(
        False, description="add reconstructions_by_role; implies reconstructions (they are what it splits)"
    )
    baseline: bool = Field(
        False, description="with interventions, add `baseline`: the same input run without them (one request, so "
        "the dashboard compares a steered run with the original without encoding twice)"
    )

    @model_validator(mode="after")
    def _one_input(self) -> EncodeRequest:
        by_ref = self.dataset is not None or self.index is not None
        if self.image is not None and by_ref:
            raise ValueError("give either image or dataset + index, not both")
        if self.image is None and not by_ref:
            raise ValueError("give an image, or dataset + index of a stored digit")
        if by_ref and (self.dataset is None or self.index is None):
            raise ValueError("a reference needs both dataset and index")
        return self

    @model_validator(mode="after")
    def _split_implies_reconstructions(self) -> EncodeRequest:
        if self.split_reconstruction:
            self.reconstructions = True
        return self


class StoredInput(BaseModel):
    """Where an input encoded by reference comes from, named in its own dataset's words: it may be another
    dataset than the model's."""

    dataset: str
    title: str = Field(description="how people write the dataset's name: 'MNIST'")
    split: str
    index: int
    item_noun: str = Field(description="what one image of that dataset is: 'digit', 'item'")
    label: int
    label_name: str = Field(description="the label in that dataset's class names")


class Baseline(BaseModel):
    """The run without interventions, beside a steered one."""

    probabilities: list[list[float]] = Field(description="T x classes, as in the steered run")
    prediction: int
    decision_iteration: int


class EncodeResult(BaseModel):
    model_id: str
    iterations: int
    dataset: str = Field(description="the dataset the model was trained on")
    class_names: list[str] = Field(description="the model's class names: what prediction and probabilities name")
    source: StoredInput | None = Field(None, description="the stored input, when encoded by reference")
    input: list[list[float]] = Field(description="28x28 in [0, 1]: what the model saw, before L2 normalisation")
    z: list[list[float]] = Field(description="T x hidden_units: z(1) ... z(T)")
    probabilities: list[list[float]] = Field(description="T x 10: softmax of the classifier applied to z(t)")
    prediction: int = Field(description="argmax of the probabilities at t = T")
    label: int | None = Field(None, description="the stored digit's true label, when encoded by reference")
    reconstructions: list[list[list[float]]] | None = Field(description="T x 28 x 28: D z(t), when asked for")
    decision_iteration: int = Field(description="first t from which the top class stays the final one")
    interventions: list[InterventionOut] = Field(description="those applied, to_iteration filled in")
    input_drive: list[float] | None = Field(None, description="hidden_units: E x - b (with decompose)")
    recurrent_drive: list[list[float]] | None = Field(
        None, description="T x hidden_units: S z(t-1), zeros at t = 1 (with decompose)"
    )
    recurrent_drive_by_role: dict[str, list[list[float]]] | None = Field(
        None,
        description="T x hidden_units each: the recurrent drive from part, intermediate and categorical units "
        "(other than the unit itself) and from the unit itself ('self'); they add up to recurrent_drive",
    )
    reconstructions_by_role: dict[str, list[list[list[float]]]] | None = Field(
        None, description="T x 28 x 28 each for part, intermediate, categorical: add up to reconstructions"
    )
    baseline: Baseline | None = Field(
        None, description="with baseline and interventions: the run without the interventions; null otherwise"
    )


class Unit(BaseModel):
    index: int
    role: Role
    angle: float = Field(description="radians between the unit's encoder row and decoder column")
    class_: int = Field(alias="class", description="the class its classifier column favours most")
    c_norm: float
    s_norm: float = Field(description="norm of the unit's row of S - I")
    decoder_png: str
    encoder_png: str

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class UnitsPublic(BaseModel):
    count: int
    roles: list[Role] = Field(description="the role names, from the input-driven part-units to the categorical-units")
    thresholds: dict[str, float]
    data: list[Unit]


class Histogram(BaseModel):
    edges: list[float]
    counts: list[int]


class DigitRef(BaseModel):
    index: int
    label: int
    activation: float
    image: list[list[float]] = Field(description="28x28 in [0, 1] (an addition to the contract)")


class Connection(BaseModel):
    unit: int
    weight: float
    role: Role
    class_: int = Field(alias="class")
    decoder_png: str

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class UnitDetail(Unit):
    decoder: list[list[float]]
    encoder: list[list[float]]
    classifier_weights: list[float]
    histogram: Histogram
    fraction_active: float
    top_digits: list[DigitRef]
    sampled_digits: list[DigitRef]
    afferent: list[Connection]
    efferent: list[Connection]


class Misclassified(BaseModel):
    index: int
    label: int
    prediction: int


class Evaluation(BaseModel):
    dataset: str
    error: float = Field(description="% of the test set")
    confusion: list[list[int]] = Field(description="10x10, rows true class, columns predicted")
    misclassified: list[Misclassified]


# ---------------------------------------------------------------------------------- datasets
class DatasetInfo(BaseModel):
    name: str
    splits: dict[str, int] = Field(description="images per split; empty when the file cannot be read")
    class_names: list[str]
    item_noun: str
    error: str | None = Field(None, description="what is wrong with the prepared file and what to run; null when fine")


class DatasetsPublic(BaseModel):
    data: list[DatasetInfo]
    count: int


class Sample(BaseModel):
    index: int
    label: int
    image: list[list[float]]


class SamplesPublic(BaseModel):
    data: list[Sample]
    count: int
    total: int


# -------------------------------------------------------------------------------------- jobs
# API field -> TrainConfig field: words outside, the paper's letters inside. Their ranges are
# model/presets.py's BOUNDS, the one table that the training code, this schema and the dashboard's form use.
JOB_FIELDS = {
    "hidden_units": "hidden",
    "iterations": "T",
    "epochs": "epochs",
    "unsupervised_epochs": "unsup_epochs",
    "learning_rate": "lr",
    "batch_size": "batch_size",
    "seed": "seed",
    "time_limit": "time_limit",
}
JOB_NAME_PATTERN = r"^[A-Za-z0-9._-]+$"
JOB_NAME_MAX = 64


def _bounded(api_name: str, description: str | None = None) -> Any:
    """`int | None` or `float | None` with the option's range from BOUNDS, for a JobCreate field."""
    bound = BOUNDS[JOB_FIELDS[api_name]]
    limits: dict[str, float] = {"gt" if bound.low_open else "ge": bound.low}
    if bound.high is not None:
        limits["lt" if bound.high_open else "le"] = bound.high
    if bound.integer:
        # bounds before the validator, on the integer itself: else pydantic's schema says "ge"/"le", not "minimum"
        return Annotated[Annotated[int, Field(**limits), WHOLE] | None, Field(description=description)]  # type: ignore[call-overload]
    return Annotated[float | None, Field(description=description, allow_inf_nan=False, **limits)]  # type: ignore[call-overload]


def _job_rules() -> dict[str, Any]:
    """JobCreate's rules across fields, as JSON Schema (what TrainConfig and preflight check): some epoch in
    total, and a minibatch no larger than the preset's training images."""
    rules: list[dict[str, Any]] = [
        {
            "not": {
                "required": ["epochs", "unsupervised_epochs"],
                "properties": {"epochs": {"const": 0}, "unsupervised_epochs": {"const": 0}},
            }
        }
    ]
    for name, cfg in PRESETS.items():
        images = preflight.train_images(cfg)
        if BOUNDS["batch_size"].high is None or images < BOUNDS["batch_size"].high:
            rules.append(
                {
                    "if": {"required": ["preset"], "properties": {"preset": {"const": name}}},
                    "then": {"properties": {"batch_size": {"anyOf": [{"type": "null"}, {"maximum": images}]}}},
                }
            )
    return {"allOf": rules}


class JobCreate(Strict):
    """A preset plus overrides; omitted fields take the preset's values. GET /api/jobs/options serves the
    presets, datasets and ranges."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_job_rules())

    preset: PresetName
    dataset: DatasetName
    hidden_units: _bounded("hidden_units") = None
    iterations: _bounded("iterations") = None
    epochs: _bounded("epochs", "supervised epochs") = None
    unsupervised_epochs: _bounded("unsupervised_epochs") = None
    learning_rate: _bounded("learning_rate") = None
    batch_size: _bounded("batch_size") = None
    seed: _bounded("seed") = None
    time_limit: _bounded(
        "time_limit",
        "seconds of training; the job stops cleanly (and keeps its model) after the epoch that passes it. The "
        "server's limit (DRSAE_MAX_JOB_SECONDS) applies when omitted and caps it",
    ) = None
    name: str | None = Field(None, min_length=1, max_length=JOB_NAME_MAX, pattern=JOB_NAME_PATTERN)


class Range(BaseModel):
    minimum: float
    maximum: float | None = Field(description="null: no upper bound")
    exclusive_minimum: bool
    exclusive_maximum: bool
    integer: bool
    text: str = Field(description="the range as the messages write it: '1..1024', '(0, 1]'")


class PresetChoice(BaseModel):
    name: str
    description: str
    values: dict[str, Any] = Field(description="the preset's value of each JobCreate field")
    train_images: int = Field(description="training images it uses: batch_size may not be larger")


class DatasetChoice(BaseModel):
    name: str
    title: str


class StatusChoice(BaseModel):
    name: Status
    active: bool = Field(description="queued or running: a worker is coming or working")
    final: bool = Field(description="nothing changes the job by itself any more")


class JobOptions(BaseModel):
    """Everything a client needs to offer a valid JobCreate: what it accepts is never refused for range."""

    presets: list[PresetChoice]
    default_preset: str
    datasets: list[DatasetChoice]
    fields: dict[str, Range] = Field(description="JobCreate's numeric fields and their ranges")
    name_pattern: str
    name_max_length: int
    statuses: list[StatusChoice] = Field(description="every job status, so clients name none themselves")
    max_sweep_members: int = Field(description="the most members one sweep may have (POST /api/sweeps)")
    sweep_fields: list[str] = Field(description="the JobCreate fields a sweep's grid may vary")


class JobPublic(BaseModel):
    id: int
    name: str
    status: JobStatus
    config: dict[str, Any]
    epoch: int
    total_epochs: int
    progress: float = Field(ge=0.0, le=1.0)
    latest: dict[str, Any] | None
    model_id: str | None
    error: str | None
    active: bool = Field(description="queued or running: a worker is coming or working")
    final: bool = Field(description="nothing changes the job by itself any more")
    resumable: bool = Field(False, description="POST /resume would accept it (a failed job that saved a state too)")
    created: str
    started: str | None
    finished: str | None
    sweep_id: int | None = Field(None, description="the sweep the job is a member of")
    settings: dict[str, Any] | None = Field(None, description="a sweep member's values of the sweep's grid")
    best_val_error: float | None = Field(None, description="% : the best validation error of the supervised phase")
    test_error_at_best: float | None = Field(None, description="% : the test error at that epoch (the kept model)")
    last_val_error: float | None = None
    units_part: int | None = Field(None, description="from the model card when finished, else the latest epoch")
    units_categorical: int | None = None
    verdicts: dict[str, str] | None = Field(None, description="the six structure signs' verdicts (the model card)")
    seconds: float | None = Field(None, description="training time so far")


class JobsPublic(BaseModel):
    data: list[JobPublic] = Field(description="one page, newest first")
    count: int = Field(description="all jobs, on every page")
    offset: int
    limit: int


class MetricsPublic(BaseModel):
    data: list[dict[str, Any]]
    count: int


# ------------------------------------------------------------------------------------ sweeps
MAX_SWEEP_MEMBERS = 16  # one population in one process: more members cost memory and a longer wait for all
# The fields a grid may vary. The shape of the model and of its minibatch (model/train.py POPULATION_KEYS)
# is one per population, so hidden_units, iterations and batch_size are set in the base, not swept.
SWEEP_FIELDS = ("learning_rate", "seed", "epochs", "unsupervised_epochs", "time_limit")
SHAPE_FIELDS = ("hidden_units", "iterations", "batch_size")


def _value_schema(api_name: str) -> dict[str, Any]:
    """One grid value of a JobCreate field, as JSON Schema: its type and range from BOUNDS."""
    b = BOUNDS[JOB_FIELDS[api_name]]
    out: dict[str, Any] = {"type": "integer" if b.integer else "number"}
    out["exclusiveMinimum" if b.low_open else "minimum"] = b.low
    if b.high is not None:
        out["exclusiveMaximum" if b.high_open else "maximum"] = b.high
    return out


# The grid's rules that a schema can state (the route checks them too, with clearer messages): fields it may
# vary, at least one, each with distinct values in range. What it cannot state is the product's size (at most
# MAX_SWEEP_MEMBERS members) and whether each member's base + values is a valid JobCreate.
_GRID_SCHEMA = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        name: {"type": "array", "minItems": 1, "maxItems": MAX_SWEEP_MEMBERS, "uniqueItems": True,
               "items": _value_schema(name)}
        for name in SWEEP_FIELDS
    },
    "description": "JobCreate field -> the values to try, e.g. {'learning_rate': [0.01, 0.02], 'seed': [0, 1, 2]}",
}


class SweepCreate(Strict):
    """Every combination of the grid's values (their cross product) on top of `base`, as one population."""

    base: JobCreate = Field(
        description="a JobCreate without a name: what every member starts from",
        json_schema_extra={"properties": {"name": {"type": "null"}}},  # beside the $ref: both apply
    )
    grid: Annotated[dict[str, list[float]], WithJsonSchema(_GRID_SCHEMA)]
    name: str | None = Field(None, min_length=1, max_length=JOB_NAME_MAX, pattern=JOB_NAME_PATTERN)


class SweepPublic(BaseModel):
    id: int
    name: str
    status: JobStatus = Field(description="running or queued while a member is; else the members' common "
                              "status, or 'finished' when some finished and the rest failed")
    base: dict[str, Any]
    grid: dict[str, list[float]]
    created: str
    counts: dict[str, int] = Field(description="members per status")
    members: list[JobPublic] = Field(description="in the grid's order")


class SweepsPublic(BaseModel):
    data: list[SweepPublic]
    count: int


# -------------------------------------------------------------------------------- snapshots
class SnapshotsPublic(BaseModel):
    epochs: list[int] = Field(description="epochs with a snapshot; 0 is the initialisation")
    thresholds: dict[str, float] = Field(description="the part / categorical angle thresholds (rad)")


class Snapshot(BaseModel):
    epoch: int
    units: list[int] = Field(description="the units whose decoder filters are kept (at most 64, the same each epoch)")
    decoder_png: list[str] = Field(description="each kept unit's decoder filter, a 28x28 PNG data URL")
    angle: list[float] = Field(description="every unit's encoder-decoder angle (rad) at this epoch")
    c_norm: list[float] = Field(description="every unit's ||C_i|| at this epoch")
    roles: list[Role] = Field(description="every unit's role at this epoch, from its angle")
