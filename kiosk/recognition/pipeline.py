"""Photo or frame -> faces -> aligned chips -> quality -> embeddings, built from the manifests."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiosk.errors import NoFaceError
from kiosk.manifest import (
    EMBEDDER_MANIFEST,
    LANDMARKER_MANIFEST,
    EmbedderManifest,
    load_embedder_manifest,
    load_landmarker_manifest,
)
from kiosk.providers import ProviderChoice
from kiosk.recognition.alignment import FaceAligner
from kiosk.recognition.embedder import OnnxEmbedder
from kiosk.recognition.faces import DetectedFace, largest_face
from kiosk.recognition.landmarks import FaceLandmarkDetector
from kiosk.recognition.layout import LandmarkLayout
from kiosk.recognition.quality import QUALITY_CHIP, QUALITY_CHIP_SIZE, FaceQuality, measure_quality
from kiosk.recognition.tiling import detect_small_faces

if TYPE_CHECKING:
    from kiosk.config import KioskConfig

FaceSelector = Callable[[list[DetectedFace], tuple[int, ...]], DetectedFace | None]


@dataclass(frozen=True)
class AlignedFace:
    """A detected face with its aligned chip and its quality measures."""

    face: DetectedFace
    chip: np.ndarray
    quality: FaceQuality


@dataclass(frozen=True)
class EncodedFace(AlignedFace):
    """An aligned face with its clean embeddings (they never leave memory unprotected): as a template
    would be enrolled, and as a live probe would be matched (the manifest's mirror policy)."""

    template: np.ndarray
    probe: np.ndarray


class FacePipeline:
    """The recognition core: one object that owns the landmarker, the aligner and the embedder."""

    def __init__(self, detector: FaceLandmarkDetector, embedder: OnnxEmbedder, layout: LandmarkLayout):
        manifest = embedder.manifest
        self.detector = detector
        self.embedder = embedder
        self.layout = layout
        self.aligner = FaceAligner(manifest.alignment, manifest.input.size)
        # quality is read from a chip of its own unless the descriptor's chip is that same chip
        shares_chip = manifest.alignment == QUALITY_CHIP and manifest.input.size == QUALITY_CHIP_SIZE
        self.quality_aligner = None if shares_chip else FaceAligner(QUALITY_CHIP, QUALITY_CHIP_SIZE)
        layout.require(points=(*self.aligner.point_names, *QUALITY_CHIP.point_names, "left_eye", "right_eye"))

    @classmethod
    def from_manifests(cls, *, video: bool = False, max_faces: int = 4, provider: ProviderChoice = "auto",
                       threads: int = 0, landmarker_name: str = LANDMARKER_MANIFEST,
                       embedder_name: str = EMBEDDER_MANIFEST, blendshapes: bool = False) -> "FacePipeline":
        landmarker = load_landmarker_manifest(landmarker_name)
        detector = FaceLandmarkDetector(landmarker, video=video, max_faces=max_faces, blendshapes=blendshapes)
        embedder = OnnxEmbedder(load_embedder_manifest(embedder_name), provider=provider, threads=threads)
        return cls(detector, embedder, LandmarkLayout(landmarker))

    @classmethod
    def from_config(cls, config: "KioskConfig", *, video: bool = False) -> "FacePipeline":
        """Photos look for up to four faces (to refuse ambiguous ones); a stream tracks max_faces, with
        the blink blendshapes where liveness is on."""
        models = config.models
        return cls.from_manifests(video=video, max_faces=config.recognition.max_faces if video else 4,
                                  provider=models.provider, threads=models.threads,
                                  landmarker_name=models.landmarker, embedder_name=models.embedder,
                                  blendshapes=video and config.liveness.enabled)

    @property
    def manifest(self) -> EmbedderManifest:
        return self.embedder.manifest

    def align(self, rgb: np.ndarray, face: DetectedFace) -> AlignedFace:
        layout = self.layout
        chip = self.aligner.align(rgb, layout.points(face.landmarks, self.aligner.point_names))
        quality_chip = chip if self.quality_aligner is None else self.quality_aligner.align(
            rgb, layout.points(face.landmarks, self.quality_aligner.point_names))
        quality = measure_quality(face, layout.point(face.landmarks, "left_eye"),
                                  layout.point(face.landmarks, "right_eye"), quality_chip)
        return AlignedFace(face, chip, quality)

    def detect_and_align(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[AlignedFace]:
        return [self.align(rgb, face) for face in self.detector.detect(rgb, timestamp_ms)]

    def encode(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[EncodedFace]:
        """Every face in the frame with its embeddings, embedded in one batch."""
        aligned = self.detect_and_align(rgb, timestamp_ms)
        if not aligned:
            return []
        templates, probes = self.embedder.embed_both(np.stack([a.chip for a in aligned]))
        return [EncodedFace(a.face, a.chip, a.quality, t, p) for a, t, p in zip(aligned, templates, probes)]

    def detect_photo(self, rgb: np.ndarray) -> list[DetectedFace]:
        """Every face in a photo; a photo where none is found is searched again in crops, seen large."""
        return self.detector.detect(rgb) or detect_small_faces(self.detector.detect, rgb)

    def encode_one(self, rgb: np.ndarray, name: str, select: FaceSelector | None = None) -> EncodedFace:
        """The one face a photo is about (the largest by default); NoFaceError names the photo."""
        faces = self.detect_photo(rgb)
        chosen = (select or (lambda found, _shape: largest_face(found)))(faces, rgb.shape)
        if chosen is None:
            raise NoFaceError(f"{name}: no face found")
        aligned = self.align(rgb, chosen)
        templates, probes = self.embedder.embed_both(aligned.chip[None])
        return EncodedFace(aligned.face, aligned.chip, aligned.quality, templates[0], probes[0])

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> "FacePipeline":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
