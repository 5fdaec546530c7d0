"""Passive texture cue: MiniFASNet's live probability for face crops at two scales.

The wide crop (4x the face box) sees the surroundings of the face (a phone's bezel, a print's edge,
hands); the narrower one (2.7x) the skin texture and the screen's moire. Their probabilities are
averaged, as the networks' publishers do.
"""

import cv2
import numpy as np

from kiosk.checksums import verify_sha256
from kiosk.errors import ModelError
from kiosk.manifest import LivenessManifest
from kiosk.providers import ProviderChoice, create_session


def crop_box(box: tuple[float, float, float, float], scale: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The face box grown about its centre by `scale` (less if the frame is too small), shifted
    inside the frame rather than cut, so the crop always shows the same share of surroundings."""
    x0, y0, x1, y1 = box
    box_w, box_h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    scale = min(scale, (height - 1) / box_h, (width - 1) / box_w)
    half_w, half_h = box_w * scale / 2, box_h * scale / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = min(max(cx - half_w, 0.0), width - 1 - 2 * half_w)
    top = min(max(cy - half_h, 0.0), height - 1 - 2 * half_h)
    return int(left), int(top), int(left + 2 * half_w) + 1, int(top + 2 * half_h) + 1


class TextureLivenessModel:
    """MiniFASNet networks from the liveness manifest; one probability per face."""

    def __init__(self, manifest: LivenessManifest, provider: ProviderChoice = "cpu", threads: int = 1):
        self.manifest = manifest
        self.sessions = []
        for network in manifest.networks:
            if not network.path.exists():
                raise ModelError(f"{network.path} is missing: the texture liveness cue needs `python main.py "
                                 f"models build` with the shared anti-spoofing parameters and the train extra "
                                 f"(or `liveness: {{texture: false}}` in the config, leaving blink and motion)")
            verify_sha256(network.path, network.sha256, manifest.id)
            self.sessions.append((network, create_session(str(network.path), provider, threads, network.file)))

    def crop(self, rgb: np.ndarray, box: tuple[float, float, float, float], scale: float) -> np.ndarray:
        """A [1,3,S,S] float32 tensor of the face grown by `scale`, in the networks' channel order, 0..255."""
        height, width = rgb.shape[:2]
        size = self.manifest.input.size
        left, top, right, bottom = crop_box(box, scale, width, height)
        crop = cv2.resize(rgb[top:bottom, left:right], (size, size), interpolation=cv2.INTER_LINEAR)
        spec = self.manifest.input
        if spec.pixel_format == "BGR":
            crop = crop[:, :, ::-1]
        normalised = (crop.astype(np.float32) - np.asarray(spec.mean, np.float32)) * np.float32(spec.scale)
        return np.ascontiguousarray(normalised.transpose(2, 0, 1)[None])

    def live_probability(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> float:
        """The networks' mean live probability for the face in `box`."""
        return float(np.mean(self.probabilities(rgb, box)))

    def probabilities(self, rgb: np.ndarray, box: tuple[float, float, float, float],
                      networks: slice = slice(None)) -> list[float]:
        """Each chosen network's live probability for the face in `box` (the kiosk runs the first
        network in one stage and the rest in the other; their mean is `live_probability`)."""
        found = []
        for network, session in self.sessions[networks]:
            tensor = self.crop(rgb, box, network.crop_scale)
            probabilities = session.run([self.manifest.output_name], {self.manifest.input.name: tensor})[0]
            found.append(float(probabilities[0, self.manifest.live_class]))
        return found
