"""Photo or frame -> faces -> aligned chips -> quality -> embeddings, built from the manifests."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kiosk.recognition.alignment import FaceAligner
from kiosk.recognition.embedder import OnnxEmbedder
from kiosk.errors import NoFaceError
from kiosk.recognition.faces import DetectedFace, largest_face
from kiosk.recognition.landmarks import FaceLandmarkDetector
from kiosk.manifest import (EMBEDDER_MANIFEST, LANDMARKER_MANIFEST, POINT_NAMES, EmbedderManifest,
                            load_embedder_manifest, load_landmarker_manifest)
from kiosk.providers import ProviderChoice
from kiosk.recognition.quality import FaceQuality, measure_quality

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
    """An aligned face with its embedding (clean: it never leaves memory unprotected)."""

    embedding: np.ndarray


class FacePipeline:
    """The recognition core: one object that owns the landmarker, the aligner and the embedder."""

    def __init__(self, detector: FaceLandmarkDetector, embedder: OnnxEmbedder, point_indices: list[int]):
        manifest = embedder.manifest
        self.detector = detector
        self.embedder = embedder
        self.aligner = FaceAligner(manifest.alignment, manifest.input.size, POINT_NAMES)
        self.point_indices = point_indices

    @classmethod
    def from_manifests(cls, *, video: bool = False, max_faces: int = 4, provider: ProviderChoice = "auto",
                       threads: int = 0, landmarker_name: str = LANDMARKER_MANIFEST,
                       embedder_name: str = EMBEDDER_MANIFEST, blendshapes: bool = False) -> "FacePipeline":
        landmarker = load_landmarker_manifest(landmarker_name)
        detector = FaceLandmarkDetector(landmarker, video=video, max_faces=max_faces, blendshapes=blendshapes)
        embedder = OnnxEmbedder(load_embedder_manifest(embedder_name), provider=provider, threads=threads)
        return cls(detector, embedder, [landmarker.points[name] for name in POINT_NAMES])

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
        points = face.points(self.point_indices)
        chip = self.aligner.align(rgb, points)
        return AlignedFace(face, chip, measure_quality(face, points[:4], chip))

    def detect_and_align(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[AlignedFace]:
        return [self.align(rgb, face) for face in self.detector.detect(rgb, timestamp_ms)]

    def encode(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[EncodedFace]:
        """Every face in the frame with its embedding, embedded in one batch."""
        aligned = self.detect_and_align(rgb, timestamp_ms)
        if not aligned:
            return []
        embeddings = self.embedder.embed(np.stack([a.chip for a in aligned]))
        return [EncodedFace(a.face, a.chip, a.quality, e) for a, e in zip(aligned, embeddings)]

    def encode_one(self, rgb: np.ndarray, name: str, select: FaceSelector | None = None) -> EncodedFace:
        """The one face a photo is about (the largest by default); NoFaceError names the photo."""
        faces = self.detector.detect(rgb)
        chosen = (select or (lambda found, _shape: largest_face(found)))(faces, rgb.shape)
        if chosen is None:
            raise NoFaceError(f"{name}: no face found")
        aligned = self.align(rgb, chosen)
        embedding = self.embedder.embed(aligned.chip[None])[0]
        return EncodedFace(aligned.face, aligned.chip, aligned.quality, embedding)

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> "FacePipeline":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
