"""Typed model manifests: everything model-specific the engine needs, read from models/manifests/.

The engine holds no model constants: input size, layout, normalisation, alignment template, metric
and the calibrated threshold all come from here, so another descriptor is a new YAML file.
"""

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kiosk.errors import ModelError
from kiosk.paths import PROJECT_ROOT, model_dir, shared_models_dir

MANIFEST_DIR = PROJECT_ROOT / "models" / "manifests"

EMBEDDER_MANIFEST = "sface_2021dec"
LANDMARKER_MANIFEST = "face_landmarker"
LIVENESS_MANIFEST = "minifasnet"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PackageSource(_Strict):
    """Which pinned package (models/packages.yaml) and which files inside it a model is built from."""

    package: str
    members: dict[str, str] = Field(description="role -> path inside the package archive")
    member_sha256: dict[str, str] = Field(description="role -> SHA-256 of that member")
    converter: str | None = Field(None, description="converter that turns the members into `file`")


class LandmarkerManifest(_Strict):
    """A MediaPipe landmarker bundle and where on its mesh the named points and contours lie."""

    id: str
    kind: Literal["landmarker"]
    file: str
    sha256: str
    source: PackageSource
    landmark_count: int = Field(gt=0)
    points: dict[str, list[int]] = Field(description="point name -> landmark indices whose mean stands for it")
    contours: dict[str, list[int]] = Field(default_factory=dict, description="name -> ordered landmark indices")
    blendshapes: dict[str, str] = Field(default_factory=dict, description="role -> the bundle's category name")

    @model_validator(mode="after")
    def _indices_exist(self) -> "LandmarkerManifest":
        for table in (self.points, self.contours):
            for name, indices in table.items():
                if not indices or not all(0 <= i < self.landmark_count for i in indices):
                    raise ValueError(f"{name}: indices must be 0..{self.landmark_count - 1}, got {indices}")
        return self

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
    """Where the named landmarker points go on the chip (in the order listed).

    units "unit": dlib's style, [0, 1] of the face before `padding` is added round it;
    units "pixels": chip pixels (the 112 px ArcFace template), padding 0.
    """

    units: Literal["unit", "pixels"] = "unit"
    padding: float = Field(0.0, ge=0)
    template: dict[str, tuple[float, float]] = Field(min_length=2)

    @property
    def point_names(self) -> tuple[str, ...]:
        return tuple(self.template)


class ThresholdSpec(_Strict):
    """Decision threshold on the metric, and how it was calibrated."""

    value: float
    target_fmr: float
    calibrated_on: str | None = None
    impostor_pairs: int | None = None
    operating_points: dict[float, float] = Field(
        default_factory=dict, description="false match rate -> distance threshold, from the same impostor pairs")
    false_matches: dict[float, int] = Field(
        default_factory=dict, description="false match rate -> impostor pairs below its threshold")

    def at_fmr(self, fmr: float) -> float:
        """The calibrated threshold for a false match rate (the strictest known one at or below it)."""
        points = {self.target_fmr: self.value, **self.operating_points}
        usable = [rate for rate in points if rate <= fmr]
        if not usable:
            raise ModelError(f"no threshold calibrated for FMR {fmr:g}; known: {sorted(points)} "
                             f"(run `python main.py models calibrate`)")
        return points[max(usable)]


class KnownAnswer(_Strict):
    """A real face chip and the reference implementation's output for it, to validate a build."""

    package: str
    member: str
    affine: tuple[tuple[float, float, float], tuple[float, float, float]]
    expected: list[float]
    min_cosine: float
    reference: str
    live_reference: Literal["opencv_face_recognizer_sf"] | None = Field(
        None, description="also compare, at every build, with this implementation run on the shipped file")


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
    format: Literal["QDQ", "QOperator"] = Field("QDQ", description="QDQ pairs around float ops, or QLinear* operators")
    method: Literal["MinMax"]
    activations: Literal["uint8"]
    weights: Literal["int8"]
    per_channel: bool
    reduce_range: bool = Field(False, description="7-bit weights, so x86 CPUs without VNNI compute the same "
                                                  "answer (their u8s8 kernels saturate on full-range weights)")
    min_cosine: float = Field(description="least cosine to the reference output on the known-answer chip")
    built_with: str = Field(description="the onnxruntime release whose quantiser wrote the pinned file")

    @property
    def calibration_path(self) -> Path:
        return PROJECT_ROOT / self.calibration


class MirrorPolicy(_Strict):
    """Averaging a chip's descriptor with its mirror image's costs a second pass: worth it for the
    templates enrolled once, a choice for the probes of every video frame."""

    templates: bool
    probes: bool


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
    mirror_average: MirrorPolicy = Field(description="where the descriptors of a chip and its mirror image are averaged")
    alignment: AlignmentSpec
    metric: Literal["euclidean", "cosine"] = Field(
        description="euclidean: L2 between raw descriptors; cosine: compared as unit vectors (L2 between them)")
    threshold: ThresholdSpec
    known_answer: KnownAnswer

    @property
    def path(self) -> Path:
        return model_dir() / self.file


class ProtectorTensors(_Strict):
    """The graph's tensor names: clean embeddings and the site's keyed matrix in, templates out."""

    embeddings: str = "embeddings"
    keyed_matrix: str = "keyed_matrix"
    templates: str = "templates"


class ProtectorManifest(_Strict):
    """The trained template protector: a small ONNX network committed with its training report."""

    id: str
    kind: Literal["protector"]
    file: str = Field(description="relative to the project root: the artefact is part of the checkout")
    sha256: str
    tensors: ProtectorTensors = ProtectorTensors()
    dim: int = Field(gt=0)
    embedder: str = Field(description="id of the descriptor whose embeddings it protects")
    noise_budget: float = Field(gt=0)
    report: str = Field(description="training report, relative to the project root")
    threshold: ThresholdSpec = Field(description="clean probe vs protected template")
    fused_threshold: ThresholdSpec | None = Field(
        None, description="a visit's fused probe (three photos) vs protected template")
    template_pairs: ThresholdSpec | None = Field(
        None, description="protected template vs protected template of another person: what a kiosk compares its "
                          "own gallery with (kiosk/recognition/gallery_tail.py)")

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
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = Field(1.0, gt=0, description="multiplier applied after subtracting the mean")


class LivenessManifest(_Strict):
    """Passive anti-spoofing classifiers: their crops are averaged into one live probability."""

    id: str
    kind: Literal["liveness"]
    source: LocalSource
    networks: list[LivenessNetwork] = Field(min_length=1)
    input: LivenessInputSpec
    output_name: str
    live_class: int = Field(ge=0)
    texture_floor: float = Field(gt=0, lt=1, description="least operating point a site calibration may choose: "
                                 "at or below it an attack development video that showed a sign of life passes")


def manifest_path(name: str) -> Path:
    return MANIFEST_DIR / f"{name}.yaml"


def _manifests_of_kind(kind: str) -> dict[str, dict]:
    found = {path.stem: yaml.safe_load(path.read_text()) or {} for path in sorted(MANIFEST_DIR.glob("*.yaml"))}
    return {name: raw for name, raw in found.items() if raw.get("kind") == kind}


def embedder_manifest_names() -> list[str]:
    """Every descriptor the kiosk can be configured with (the manifests of kind `embedder`)."""
    return list(_manifests_of_kind("embedder"))


def protector_manifest_name(embedder_id: str) -> str:
    """The protector trained for a descriptor: templates of one descriptor mean nothing to another."""
    names = [name for name, raw in _manifests_of_kind("protector").items() if raw.get("embedder") == embedder_id]
    if len(names) != 1:
        raise ModelError(f"{len(names) or 'no'} protector manifests in {MANIFEST_DIR} name the embedder "
                         f"{embedder_id}{': ' + ', '.join(names) if names else ''}; exactly one is needed "
                         f"(train one with `python main.py models train-protector`)")
    return names[0]


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


def load_protector_manifest(name: str) -> ProtectorManifest:
    return _load(name, ProtectorManifest)  # type: ignore[return-value]


def load_protector_for(embedder: EmbedderManifest, name: str | None = None) -> ProtectorManifest:
    """The named protector, or the one trained for this descriptor; refused if it belongs to another."""
    manifest = load_protector_manifest(name or protector_manifest_name(embedder.id))
    if manifest.embedder != embedder.id or manifest.dim != embedder.dim:
        raise ModelError(f"protector {manifest.id} was trained for {manifest.embedder} ({manifest.dim}-d), but the "
                         f"configured descriptor is {embedder.id} ({embedder.dim}-d); set models.protector to the "
                         f"protector of {embedder.id}, or leave it empty to choose it by descriptor")
    return manifest


def load_liveness_manifest(name: str = LIVENESS_MANIFEST) -> LivenessManifest:
    return _load(name, LivenessManifest)  # type: ignore[return-value]
