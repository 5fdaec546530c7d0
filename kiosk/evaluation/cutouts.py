"""Synthetic cut-out prints worn over a live face, made from live videos: what the door does with one.

`liveness-masks` has cut-out prints as stills only, and whoever wears one blinks and turns for real, so
a still says little. A cut-out print is a flat photo of a member with the eyes cut out, held or worn in
front of the attacker's face: real eyes blink through the holes while the paper moves as one plane
with the head. This renders that from a live video: the first frame's face is the print; in every
later frame the print is warped by the homography that best maps the first frame's landmarks onto
this frame's (a plane following the head) and pasted over the face, except in the eye holes, where
the live frame shows through.

What it does not model: paper, ink and the cut edge (the print is the camera's own pixels, so the
texture cue sees a perfect print), a print of another photo (light, scale), bending. It measures
what the signs of life and the geometry decide when the texture cannot tell.
"""

from contextlib import closing
from pathlib import Path

import cv2
import numpy as np

from kiosk.evaluation.liveness import Presentation
from kiosk.evaluation.liveness_kiosk import KioskVisit
from kiosk.liveness.surface import grown_hull_mask
from kiosk.manifest import LandmarkerManifest
from kiosk.recognition.faces import largest_face
from kiosk.recognition.landmarks import FaceLandmarkDetector
from kiosk.recognition.layout import LandmarkLayout
from kiosk.sources import VideoCaptureSource

PRINT_GROWTH = 1.08  # the print covers the landmarks' hull grown this much about its centre
HOLE_GROWTH = 1.5    # each eye hole is the eye's lid contour grown this much (room for the eye to move)


def render_cutout(video: Path, out: Path, landmarker: LandmarkerManifest) -> Path | None:
    """Write the cut-out attack made from `video` to `out` (MJPG, the source's size and rate); None
    when no face is ever found in it. Frames without a face are left out."""
    layout = LandmarkLayout(landmarker)
    layout.require(contours=("left_eye_lids", "right_eye_lids"))
    with closing(VideoCaptureSource(str(video))) as source, \
            FaceLandmarkDetector(landmarker, video=False, max_faces=1) as detector:
        frames = [(frame.rgb, frame.timestamp_ms) for frame in source.frames()]
        if len(frames) < 2 or frames[-1][1] <= 0:
            return None
        fps = 1000 * (len(frames) - 1) / frames[-1][1]
        height, width = frames[0][0].shape[:2]
        writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
        photo = first = paper = None
        try:
            for rgb, _ in frames:
                face = largest_face(detector.detect(rgb))
                if face is None:
                    continue
                if first is None:  # the member's photo, and the paper left once the eyes are cut out
                    photo, first = rgb.copy(), face.landmarks[:, :2].astype(np.float64)
                    holes = (grown_hull_mask(rgb.shape, layout.contour(face.landmarks, "left_eye_lids"), HOLE_GROWTH)
                             | grown_hull_mask(rgb.shape, layout.contour(face.landmarks, "right_eye_lids"), HOLE_GROWTH))
                    paper = grown_hull_mask(rgb.shape, first, PRINT_GROWTH) & ~holes
                assert photo is not None and paper is not None
                plane, _ = cv2.findHomography(first, face.landmarks[:, :2].astype(np.float64), 0)
                if plane is None:
                    continue
                covered = cv2.warpPerspective(paper, plane, (width, height)) > 127
                shown = rgb.copy()
                shown[covered] = cv2.warpPerspective(photo, plane, (width, height))[covered]
                writer.write(cv2.cvtColor(shown, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
    return out if first is not None else None


SET_NAME = "synthetic cut-outs"


def cutout_presentations(live: list[tuple[Path, Presentation]], folder: Path, landmarker: LandmarkerManifest,
                         progress=None) -> list[tuple[Path, Presentation]]:
    """A cut-out attack rendered from each live video into `folder`, as a presentation of its own."""
    made = []
    for root, presentation in live:
        if progress:
            progress(presentation)
        name = f"{presentation.dataset}_{Path(presentation.path).stem}_cutout.avi"
        if render_cutout(root / presentation.path, folder / name, landmarker) is not None:
            made.append((folder, Presentation(SET_NAME, name, "spoof", "cutout",
                                              f"made from {presentation.dataset}/{presentation.path}")))
    return made


def cutout_lines(visits: dict[tuple[str, str], KioskVisit]) -> tuple[dict, list[str]]:
    """What the kiosk recorded for each synthetic cut-out, and how many it let in."""
    granted = sorted(path for (_, path), visit in visits.items() if visit.outcome == "granted")
    lines = [f"synthetic cut-outs (each live video's first frame worn as a flat print with eye holes; passive, "
             f"texture sees a perfect print): accepted {len(granted)}/{len(visits)}"]
    lines += [f"  {path:<66} {visit.outcome} at {visit.seconds:.1f} s" if visit.seconds is not None
              else f"  {path:<66} {visit.outcome}" for (_, path), visit in sorted(visits.items())]
    return {"accepted": len(granted), "made": len(visits), "granted": granted}, lines
