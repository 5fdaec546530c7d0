"""Typed model manifests: everything model-specific the engine needs, read from models/manifests/.

The engine holds no model constants: input size, layout, normalisation, alignment template, metric
and the calibrated threshold all come from here, so another descriptor is a new YAML file.
"""

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kiosk.errors import ModelError
from kiosk.paths import PROJECT_ROOT, model_dir, shared_models_dir

MANIFEST_DIR = PROJECT_ROOT / "models" / "manifests"

EMBEDDER_MANIFEST = "dlib_resnet_v1"
LANDMARKER_MANIFEST = "face_landmarker"
PROTECTOR_MANIFEST = "advface_protector"
LIVENESS_MANIFEST = "minifasnet"

POINT_NAMES = ("left_eye_outer", "left_eye_inner", "right_eye_outer", "right_eye_inner", "nose_base")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PackageSource(_Strict):
    """Which pinned package (models/packages.yaml) and which files inside it a model is built from."""

    package: str
    members: dict[str, str] = Field(description="role -> path inside the package archive")
    member_sha256: dict[str, str] = Field(description="role -> SHA-256 of that member")
    converter: str | None = Field(None, description="converter that turns the members into `file`")


class LandmarkerManifest(_Strict):
    """A MediaPipe landmarker bundle and which of its landmarks stand for the alignment points."""

    id: str
    kind: Literal["landmarker"]
    file: str
    sha256: str
    source: PackageSource
    landmark_count: int = Field(gt=0)
    points: dict[str, int] = Field(description="semantic point name -> landmark index")

    @property
    def path(self) -> Path:
        return model_dir() / self.file


class InputSpec(_Strict):
    """How an aligned chip becomes the network's input tensor."""

    name: str
    size: int = Field(gt=0, description="chip side in pixels")
    layout: Literal["NCHW", "NHWC"]
    pixel_format: Literal["RGB", "BGR"]
    mean: tuple[float, float, float]
    scale: float = Field(gt=0, description="multiplier applied after subtracting the mean")


class AlignmentSpec(_Strict):
    """dlib-style chip template: points in [0,1] before padding, and the padding around them."""

    padding: float = Field(ge=0)
    template: dict[str, tuple[float, float]]


class ThresholdSpec(_Strict):
    """Decision threshold on the metric, and how it was calibrated."""

    value: float
    target_fmr: float
    calibrated_on: str | None = None
    impostor_pairs: int | None = None
    operating_points: dict[float, float] = Field(
        default_factory=dict, description="false match rate -> distance threshold, from the same impostor pairs")

    def at_fmr(self, fmr: float) -> float:
        """The calibrated threshold for a false match rate (the strictest known one at or below it)."""
        points = {self.target_fmr: self.value, **self.operating_points}
        usable = [rate for rate in points if rate <= fmr]
        if not usable:
            raise ModelError(f"no threshold calibrated for FMR {fmr:g}; known: {sorted(points)} "
                             f"(run `python main.py eval lfw --calibrate`)")
        return points[max(usable)]


class KnownAnswer(_Strict):
    """A real face chip and the reference implementation's output for it, to validate a build."""

    package: str
    member: str
    affine: tuple[tuple[float, float, float], tuple[float, float, float]]
    expected: list[float]
    min_cosine: float
    reference: str


class ModelFile(_Strict):
    """A file in the model cache and the SHA-256 it must have."""

    file: str
    sha256: str

    @property
    def path(self) -> Path:
        return model_dir() / self.file


class QuantizationSpec(_Strict):
    """Static int8 quantisation of the converted model, from a committed calibration table."""

    calibration: str = Field(description="ONNX Runtime calibration cache (tensor ranges), relative to the project root")
    method: Literal["MinMax"]
    activations: Literal["uint8"]
    weights: Literal["int8"]
    per_channel: bool
    min_cosine: float = Field(description="least cosine to the reference output on the known-answer chip")
    built_with: str = Field(description="the onnxruntime release whose quantiser wrote the pinned file")

    @property
    def calibration_path(self) -> Path:
        return PROJECT_ROOT / self.calibration


class EmbedderManifest(_Strict):
    """An ONNX face descriptor: provenance, preprocessing, alignment, metric and threshold."""

    id: str
    kind: Literal["embedder"]
    file: str
    sha256: str
    source: PackageSource
    converted: ModelFile = Field(description="the converter's float32 output, before any quantisation")
    quantization: QuantizationSpec | None = None
    input: InputSpec
    output_name: str
    dim: int = Field(gt=0)
    flip_average: bool = Field(description="average the descriptor of the chip and its mirror image")
    alignment: AlignmentSpec
    metric: Literal["euclidean"]
    threshold: ThresholdSpec
    known_answer: KnownAnswer

    @property
    def path(self) -> Path:
        return model_dir() / self.file


class ProtectorManifest(_Strict):
    """The trained template protector: a small ONNX network committed with its training report."""

    id: str
    kind: Literal["protector"]
    file: str = Field(description="relative to the project root: the artefact is part of the checkout")
    sha256: str
    dim: int = Field(gt=0)
    embedder: str = Field(description="id of the descriptor whose embeddings it protects")
    noise_budget: float = Field(gt=0)
    report: str = Field(description="training report, relative to the project root")
    threshold: ThresholdSpec = Field(description="clean probe vs protected template, calibrated on LFW")

    @property
    def path(self) -> Path:
        return PROJECT_ROOT / self.file


class LocalSource(_Strict):
    """Parameters in the shared models folder (no registry package carries them)."""

    directory: str
    origin: str
    license: str

    @property
    def path(self) -> Path:
        return shared_models_dir() / self.directory


class LivenessNetwork(ModelFile):
    """One passive anti-spoofing network and the face crop it reads."""

    parameters: str = Field(description="file in the source directory the network is converted from")
    parameters_sha256: str
    crop_scale: float = Field(gt=1, description="crop side = this x the face box side, kept inside the frame")


class LivenessInputSpec(_Strict):
    name: str
    size: int = Field(gt=0)
    pixel_format: Literal["RGB", "BGR"]


class LivenessManifest(_Strict):
    """Passive anti-spoofing classifiers: their crops are averaged into one live probability."""

    id: str
    kind: Literal["liveness"]
    source: LocalSource
    networks: list[LivenessNetwork] = Field(min_length=1)
    input: LivenessInputSpec
    output_name: str
    live_class: int = Field(ge=0)


def manifest_path(name: str) -> Path:
    return MANIFEST_DIR / f"{name}.yaml"


def _load(name: str, model: type[BaseModel]) -> BaseModel:
    path = manifest_path(name)
    if not path.exists():
        raise ModelError(f"No model manifest {path}; known: {', '.join(p.stem for p in MANIFEST_DIR.glob('*.yaml'))}")
    try:
        return model.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ModelError(f"{path}: {problems}") from exc


def load_landmarker_manifest(name: str = LANDMARKER_MANIFEST) -> LandmarkerManifest:
    return _load(name, LandmarkerManifest)  # type: ignore[return-value]


def load_embedder_manifest(name: str = EMBEDDER_MANIFEST) -> EmbedderManifest:
    return _load(name, EmbedderManifest)  # type: ignore[return-value]


def load_protector_manifest(name: str = PROTECTOR_MANIFEST) -> ProtectorManifest:
    return _load(name, ProtectorManifest)  # type: ignore[return-value]


def load_liveness_manifest(name: str = LIVENESS_MANIFEST) -> LivenessManifest:
    return _load(name, LivenessManifest)  # type: ignore[return-value]
