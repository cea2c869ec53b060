"""The `ml:` section of weir.yaml: features, algorithm, split, cross-validation, tuning, card.

Hyper-parameters and feature handling are configuration, stored with every model version,
so a model can be explained and retrained from what the catalog holds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from weir.project.base import Strict

Task = Literal["classification", "regression", "clustering"]
DatePart = Literal["year", "month", "day", "dayofweek", "dayofyear", "hour", "minute", "is_weekend"]


class NumericFeature(Strict):
    """A number: imputed, optionally clipped, logged and binned, then scaled."""

    impute: Literal["mean", "median", "constant"] = "median"
    fill_value: float = Field(default=0.0, description="with impute: constant")
    clip: tuple[float | None, float | None] | None = Field(
        default=None, description="[low, high]; either may be null"
    )
    log: bool = Field(default=False, description="log(1 + x); values must be >= 0 after clipping")
    bins: int | None = Field(
        default=None, ge=2, le=255, description="quantile bins, one-hot encoded (replaces scale)"
    )
    scale: Literal["standard", "minmax", "robust", "none"] = "standard"


class CategoricalFeature(Strict):
    """A category: imputed, then one-hot or ordinal encoded; rare values may be grouped."""

    impute: Literal["constant", "most_frequent"] = Field(
        default="constant", description="constant: missing is its own category"
    )
    encode: Literal["onehot", "ordinal"] = "onehot"
    min_frequency: float | None = Field(
        default=None,
        gt=0,
        description="rarer categories are grouped as 'infrequent': a share (< 1) or a row count",
    )
    unknown: Literal["ignore", "infrequent", "most_frequent", "error"] = Field(
        default="ignore",
        description="a category not seen in training: all-zero, the infrequent group, "
        "the most frequent category, or an error",
    )

    @model_validator(mode="after")
    def _infrequent(self) -> CategoricalFeature:
        if self.unknown == "infrequent" and self.min_frequency is None:
            raise ValueError("unknown: infrequent needs min_frequency (the rare-category group)")
        return self


_DEFAULT_PARTS: list[DatePart] = ["month", "dayofweek", "hour"]


class DateFeature(Strict):
    """A date or timestamp, turned into parts and elapsed times (no fitted state)."""

    parts: list[DatePart] = Field(default_factory=lambda: _DEFAULT_PARTS.copy())
    since: list[str] = Field(
        default_factory=list, description="other date columns: days elapsed since each"
    )


class TextFeature(Strict):
    """Free text, hashed into a fixed number of token counts (no vocabulary to store)."""

    hash_features: int = Field(default=256, ge=8, le=2**20)


def _named(value: Any) -> Any:
    """`[a, b]` is shorthand for `{a: {}, b: {}}`: every column with default handling."""
    if isinstance(value, list):
        return {name: {} for name in value}
    return value


class PcaConfig(Strict):
    components: float = Field(
        description="a count (>= 1) or the share of variance to keep (between 0 and 1)", gt=0
    )


class SelectConfig(Strict):
    """Keep the most useful features; fitted on training rows only, inside the model."""

    method: Literal["variance", "kbest", "model"]
    k: int | None = Field(default=None, ge=1, description="kbest: how many to keep")
    score: Literal["mutual_info", "f_test"] = Field(default="mutual_info", description="kbest")
    threshold: float | str | None = Field(
        default=None,
        description="variance: minimum variance (default 0); model: e.g. 'median' or 0.01",
    )

    @model_validator(mode="after")
    def _k(self) -> SelectConfig:
        if (self.method == "kbest") != (self.k is not None):
            raise ValueError("method: kbest goes with 'k', and only it")
        return self


class FeatureSpec(Strict):
    numeric: dict[str, NumericFeature] = Field(default_factory=dict)
    categorical: dict[str, CategoricalFeature] = Field(default_factory=dict)
    dates: dict[str, DateFeature] = Field(default_factory=dict)
    text: dict[str, TextFeature] = Field(default_factory=dict)
    pca: PcaConfig | None = None
    select: SelectConfig | None = None

    @field_validator("numeric", "categorical", "dates", "text", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _named(value)

    @model_validator(mode="after")
    def _some(self) -> FeatureSpec:
        groups: list[dict[str, Any]] = [self.numeric, self.categorical, self.dates, self.text]
        if not any(groups):
            raise ValueError("declare at least one numeric, categorical, date or text feature")
        seen: dict[str, int] = {}
        for group in groups:
            for name in group:
                seen[name] = seen.get(name, 0) + 1
        twice = sorted(name for name, count in seen.items() if count > 1)
        if twice:
            raise ValueError(f"columns declared in more than one feature group: {twice}")
        return self

    @property
    def columns(self) -> list[str]:
        """Every input column the model reads, in declaration order."""
        since = [c for d in self.dates.values() for c in d.since if c not in self.dates]
        names = [*self.numeric, *self.categorical, *self.dates, *self.text, *since]
        return list(dict.fromkeys(names))


class SplitConfig(Strict):
    method: Literal["random", "stratified", "group", "time"] | None = Field(
        default=None, description="default: stratified for classification, random otherwise"
    )
    column: str | None = Field(
        default=None,
        description="time: the time column (latest rows are the test set); "
        "group: the group column (a group never spans train and test)",
    )
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _column(self) -> SplitConfig:
        if (self.method in ("time", "group")) != (self.column is not None):
            raise ValueError("methods time and group go with 'column', and only they do")
        return self


class ThresholdConfig(Strict):
    """Choose a binary classifier's decision threshold on validation data, for a metric."""

    metric: Literal["f1", "precision", "recall", "balanced_accuracy"] = "f1"
    validation_fraction: float = Field(
        default=0.2, gt=0.0, lt=0.5, description="share of the training rows held out to choose it"
    )


class CvConfig(Strict):
    folds: int = Field(default=5, ge=2, le=50)


class ParamRange(Strict):
    """A numeric range to search: ints when both ends are ints (and no log), else floats."""

    low: float
    high: float
    log: bool = False
    step: float | None = Field(default=None, gt=0, description="grid: the spacing of values")
    type: Literal["int", "float"] | None = None

    @model_validator(mode="after")
    def _order(self) -> ParamRange:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class TuneConfig(Strict):
    method: Literal["grid", "random", "bayesian"] = Field(
        default="bayesian", description="bayesian: Optuna's TPE sampler"
    )
    space: dict[str, list[Any] | ParamRange] = Field(
        description="parameter -> list of choices or {low, high, log, step}"
    )
    trials: int | None = Field(
        default=None, ge=1, description="total trials (a re-run resumes); default 20, grid: all"
    )
    timeout_seconds: float | None = Field(default=None, gt=0, description="per run")
    metric: str | None = Field(
        default=None,
        description="default: roc_auc (binary), f1_macro (multiclass), rmse (regression), "
        "silhouette (clustering)",
    )
    n_jobs: int = Field(default=1, ge=1, description="trials run in parallel threads")
    pruning: bool = Field(default=True, description="stop a trial early after a bad fold")

    @field_validator("space")
    @classmethod
    def _space(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("declare at least one parameter to search")
        for name, choices in value.items():
            if isinstance(choices, list) and not choices:
                raise ValueError(f"parameter '{name}' has no choices")
            if name == "random_state":
                raise ValueError("the seed is not a hyper-parameter; set 'seed'")
        return value


class ExportConfig(Strict):
    """The ONNX graph served and used for batch scoring, checked against the native model."""

    onnx: bool = Field(default=True, description="export the whole pipeline to ONNX")
    tolerance: float = Field(
        default=1e-4,
        gt=0,
        description="largest allowed |onnx - native| on test rows (relative for values > 1)",
    )
    quantize: bool = Field(default=False, description="also try int8 weights (onnxruntime)")
    max_metric_drop: float = Field(
        default=0.01, ge=0, description="refuse the quantised model if the metric drops more"
    )


class ModelCard(Strict):
    """What a reader of the model's report needs to know beyond the numbers."""

    intended_use: str | None = None
    limitations: str | None = None
    owner: str | None = None


class TrainConfig(Strict):
    table: str
    target: str | None = Field(default=None, description="not for clustering")
    task: Task
    features: FeatureSpec
    algorithm: str = "hist_gradient_boosting"
    params: dict[str, Any] = Field(default_factory=dict)
    class_weight: Literal["balanced"] | dict[str, float] | None = Field(
        default=None, description="classification: weigh rare classes up"
    )
    split: SplitConfig = Field(default_factory=SplitConfig)
    cv: CvConfig | None = Field(
        default=None, description="k-fold scores on the training rows (default with tune)"
    )
    tune: TuneConfig | None = None
    threshold: ThresholdConfig | None = Field(
        default=None, description="binary classification: choose the decision threshold"
    )
    seed: int = 42
    description: str | None = None
    card: ModelCard = Field(default_factory=ModelCard)
    export: ExportConfig = Field(default_factory=ExportConfig)

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.task == "clustering":
            if self.target is not None:
                raise ValueError("clustering learns without a target; remove 'target'")
            if self.split.method in ("stratified", "time"):
                raise ValueError("clustering splits rows at random or by group")
        elif self.target is None:
            raise ValueError(f"a {self.task} model needs a 'target' column")
        if self.target is not None and self.target in self.features.columns:
            raise ValueError(f"target '{self.target}' is also listed as a feature")
        if self.task != "classification":
            if self.split.method == "stratified":
                raise ValueError("a stratified split needs class labels; use split.method: random")
            if self.threshold is not None:
                raise ValueError("a decision threshold is for classifiers; remove 'threshold'")
            if self.class_weight is not None:
                raise ValueError("class_weight is for classifiers; remove it")
        if self.tune is not None and set(self.tune.space) & set(self.params):
            both = sorted(set(self.tune.space) & set(self.params))
            raise ValueError(f"parameters both fixed in 'params' and searched in 'tune': {both}")
        return self

    @property
    def split_method(self) -> Literal["random", "stratified", "group", "time"]:
        if self.split.method is not None:
            return self.split.method
        return "stratified" if self.task == "classification" else "random"

    @property
    def folds(self) -> int | None:
        """k for cross-validation: declared, or 5 when tuning needs it."""
        if self.cv is not None:
            return self.cv.folds
        return 5 if self.tune is not None else None

    @property
    def input_columns(self) -> list[str]:
        """Every column training reads from the table."""
        extra = [self.split.column] if self.split.column else []
        target = [self.target] if self.target else []
        return list(dict.fromkeys([*target, *self.features.columns, *extra]))


class PredictionLogConfig(Strict):
    enabled: bool = True
    flush_rows: int = Field(default=10_000, ge=1, description="write when this many are buffered")
    flush_seconds: float = Field(
        default=5.0, gt=0, description="and at least this often (a crash loses at most this much)"
    )


class ShadowConfig(Strict):
    """A challenger answering beside the served version (the champion) on a share of the
    requests: its answers are logged beside the champion's and compared live in /metrics,
    never returned (weir.serve.shadow)."""

    stage: Literal["production", "staging", "candidate"] = Field(
        default="staging",
        description="the challenger is the version in this stage (it follows promotions)",
    )
    fraction: float = Field(
        gt=0,
        le=1,
        description="share of requests the challenger also answers, chosen by a hash of the "
        "request id (the same id is always chosen, or never)",
    )
    queue: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="requests waiting for the challenger at most; one more is not shadowed "
        "(counted in weir_shadow_skipped_total, reason queue_full): the champion never waits",
    )


class ServeConfig(Strict):
    """`weir serve`: the REST API over a registered model's ONNX graph."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    stage: Literal["production", "staging", "candidate"] = "production"
    max_batch: int = Field(default=1000, ge=1, description="rows per batch request")
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=1 << 30,
        description="largest request body; a larger one is refused (413) before it is parsed",
    )
    onnx_threads: int = Field(
        default=1,
        ge=0,
        le=256,
        description="onnxruntime threads per prediction: 1 computes in the request's thread; "
        "0 lets onnxruntime choose (a thread per core, spinning between requests)",
    )
    api_keys_file: str | None = Field(
        default=None, description="file of hashed keys (weir api-key add); or WEIR_API_KEYS"
    )
    reload_seconds: float = Field(
        default=2.0, gt=0, description="how often to look for a promotion"
    )
    busy_poll_ms: float = Field(
        default=0,
        ge=0,
        le=1000,
        description="opt-in tuning for a VM whose idle vCPUs are slow to wake: after each "
        "answer, keep polling for the next one this long instead of sleeping (at the "
        "lowest CPU priority), so one caller's next request finds the CPU awake; the price "
        "is a CPU kept busy while requests come. Done by the prediction-log writer. 0: off",
    )
    log: PredictionLogConfig = Field(default_factory=PredictionLogConfig)
    shadow: ShadowConfig | None = Field(
        default=None, description="a challenger answering in the shadow; default: none"
    )

    @model_validator(mode="after")
    def _shadow_is_another_stage(self) -> ServeConfig:
        if self.shadow is not None and self.shadow.stage == self.stage:
            raise ValueError(
                f"shadow.stage is {self.stage}, the stage served: the challenger must be "
                "another version; set shadow.stage to another stage (staging, candidate)"
            )
        return self

    @model_validator(mode="after")
    def _busy_poll_needs_log(self) -> ServeConfig:
        if self.busy_poll_ms and not self.log.enabled:
            raise ValueError(
                "busy_poll_ms is done by the prediction-log writer, and log.enabled is false: "
                "turn the log on, or remove busy_poll_ms"
            )
        return self


class MlflowConfig(Strict):
    """Log each model version's parameters, metrics and report to an MLflow tracking server."""

    tracking_uri: str = Field(description="e.g. sqlite:///mlflow.db or http://127.0.0.1:5000")
    experiment: str | None = Field(default=None, description="default: the project name")
