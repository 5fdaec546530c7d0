"""Record the int8 calibration table (activation ranges) of the descriptor from real faces.

Run once when the converter or the alignment changes, then `python main.py models build --update-pin`:
    python -m models.calibrate_int8 [--people 300] [--embedder NAME]
Faces come from LFW identities that appear in no evaluation pair, one photo each, plus its mirror
image (the embedder averages both), aligned by the engine's own landmarker and aligner.
"""

import argparse
import os
import random
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kiosk.evaluation.lfw import LfwPairs, identity_of
from kiosk.imageio import read_image
from kiosk.manifest import EMBEDDER_MANIFEST, load_embedder_manifest, load_landmarker_manifest
from kiosk.paths import shared_data_dir
from kiosk.recognition.embedder import preprocess_chips
from kiosk.recognition.faces import central_face
from models.quantize import quantize_descriptor


class ChipReader:
    """ONNX Runtime CalibrationDataReader over batches of aligned chips."""

    def __init__(self, tensors: list[np.ndarray], input_name: str):
        self._batches = iter(tensors)
        self._input_name = input_name

    def get_next(self) -> dict | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._input_name: batch}


def calibration_chips(people: int, embedder: str = EMBEDDER_MANIFEST, seed: int = 0) -> np.ndarray:
    """One photo of each of `people` LFW identities outside every evaluation pair, and its mirror image."""
    from kiosk.recognition.alignment import FaceAligner
    from kiosk.recognition.landmarks import FaceLandmarkDetector
    from kiosk.recognition.layout import LandmarkLayout

    lfw = shared_data_dir() / "lfw"
    pairs = LfwPairs.load(lfw)
    evaluated = {identity_of(name) for name in pairs.images}
    candidates = sorted(p.name for p in (lfw / "images").iterdir() if p.is_dir() and p.name not in evaluated)
    random.Random(seed).shuffle(candidates)
    manifest, landmarker = load_embedder_manifest(embedder), load_landmarker_manifest()
    aligner, layout = FaceAligner(manifest.alignment, manifest.input.size), LandmarkLayout(landmarker)
    chips = []
    with FaceLandmarkDetector(landmarker) as detector:  # the descriptor itself is not needed (nor built yet)
        for person in tqdm(candidates[:people], desc="calibration faces", unit="face"):
            rgb = read_image(sorted((lfw / "images" / person).glob("*.jpg"))[0])
            face = central_face(detector.detect(rgb), rgb.shape)
            if face is not None:
                chips.append(aligner.align(rgb, layout.points(face.landmarks, aligner.point_names)))
    stacked = np.stack(chips)
    return np.concatenate([stacked, stacked[:, :, ::-1]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--embedder", default=EMBEDDER_MANIFEST, help="embedder manifest name")
    args = parser.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    manifest = load_embedder_manifest(args.embedder)
    spec = manifest.quantization
    chips = calibration_chips(args.people, args.embedder)
    tensors = [preprocess_chips(chips[i:i + 16], manifest.input) for i in range(0, len(chips), 16)]
    spec.calibration_path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        quantize_descriptor(manifest.converted.path, Path(scratch) / "int8.onnx", spec,
                            ChipReader(tensors, manifest.input.name))
    print(f"calibrated on {len(chips)} chips; wrote {spec.calibration_path}")


if __name__ == "__main__":
    main()
