"""Face quality measures (size, sharpness, pose, light) and the gates that turn them into reasons."""

from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np

from kiosk.manifest import AlignmentSpec
from kiosk.recognition.faces import DetectedFace


class QualityProblem(str, Enum):
    """Why a face is not good enough to enroll or match; values are stable for JSON and the GUI."""

    TOO_SMALL = "too_small"
    BLURRED = "blurred"
    TURNED_AWAY = "turned_away"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"


@dataclass(frozen=True)
class QualityGates:
    """Limits a face must meet; defaults suit enrollment from a desk camera or a passport-style photo."""

    min_eye_distance_px: float = 24.0
    min_sharpness: float = 10.0
    max_yaw_deg: float = 30.0
    max_pitch_deg: float = 25.0
    min_brightness: float = 40.0
    max_brightness: float = 220.0


@dataclass(frozen=True)
class FaceQuality:
    """Measures of one face: eye distance in source pixels, Laplacian variance and mean grey of the
    aligned chip (comparable across photos because the chip has a fixed size), head pose in degrees."""

    eye_distance_px: float
    sharpness: float
    brightness: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float

    def problems(self, gates: QualityGates) -> list[QualityProblem]:
        found = []
        if self.eye_distance_px < gates.min_eye_distance_px:
            found.append(QualityProblem.TOO_SMALL)
        if self.sharpness < gates.min_sharpness:
            found.append(QualityProblem.BLURRED)
        if abs(self.yaw_deg) > gates.max_yaw_deg or abs(self.pitch_deg) > gates.max_pitch_deg:
            found.append(QualityProblem.TURNED_AWAY)
        if self.brightness < gates.min_brightness:
            found.append(QualityProblem.TOO_DARK)
        if self.brightness > gates.max_brightness:
            found.append(QualityProblem.TOO_BRIGHT)
        return found


# How far past a gate a face still adds evidence to a visit (a weight falling from 1 at the gate to 0 here)
USELESS_EYE_DISTANCE_SHARE = 0.5   # of min_eye_distance_px
USELESS_SHARPNESS_SHARE = 0.5      # of min_sharpness
USELESS_EXTRA_YAW_DEG = 15.0
USELESS_EXTRA_PITCH_DEG = 10.0


def _ramp(value: float, good: float, useless: float) -> float:
    """1 at or beyond `good`, 0 at or beyond `useless`, linear between (either direction)."""
    if good == useless:
        return 1.0 if value >= good else 0.0
    return float(np.clip((value - useless) / (good - useless), 0.0, 1.0))


def evidence_weight(quality: FaceQuality, gates: QualityGates) -> float:
    """How much a frame of this face counts in a visit's evidence: 1 inside every gate, falling
    linearly to 0 at the USELESS_* limits past a gate (a face turned 37 degrees against a 30 degree
    gate counts half). A slightly turned or small face is still the same person's face: dropping it
    lost visits that turn towards the door; a face far past a gate adds more noise than evidence."""
    dark, bright = gates.min_brightness, gates.max_brightness
    return (_ramp(quality.eye_distance_px, gates.min_eye_distance_px,
                  USELESS_EYE_DISTANCE_SHARE * gates.min_eye_distance_px)
            * _ramp(quality.sharpness, gates.min_sharpness, USELESS_SHARPNESS_SHARE * gates.min_sharpness)
            * _ramp(-abs(quality.yaw_deg), -gates.max_yaw_deg, -gates.max_yaw_deg - USELESS_EXTRA_YAW_DEG)
            * _ramp(-abs(quality.pitch_deg), -gates.max_pitch_deg, -gates.max_pitch_deg - USELESS_EXTRA_PITCH_DEG)
            * _ramp(quality.brightness, dark, dark / 2)
            * _ramp(-quality.brightness, -bright, -(bright + 255.0) / 2))


def head_pose_degrees(pose: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll from MediaPipe's facial transformation matrix (0 = facing the camera)."""
    rotation = pose[:3, :3] / np.linalg.norm(pose[:3, 0])
    yaw = np.degrees(np.arctan2(-rotation[2, 0], np.hypot(rotation[2, 1], rotation[2, 2])))
    pitch = np.degrees(np.arctan2(rotation[2, 1], rotation[2, 2]))
    roll = np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return float(yaw), float(pitch), float(roll)


# The chip quality is read from, whatever the descriptor: the face framed as dlib frames it, 150 px.
# Sharpness and brightness are properties of the photo, so their gates (calibrated on this chip)
# keep their meaning when the descriptor and its own chip change.
QUALITY_CHIP = AlignmentSpec(units="unit", padding=0.25, template={
    "left_eye_outer": (0.8595674595992, 0.2134981538014), "left_eye_inner": (0.6460604764104, 0.2289674387677),
    "right_eye_outer": (0.1205750620789, 0.2137274526848), "right_eye_inner": (0.3340850613712, 0.2290642403242),
    "nose_base": (0.4901123135679, 0.6277975316475)})
QUALITY_CHIP_SIZE = 150


def measure_quality(face: DetectedFace, left_eye: np.ndarray, right_eye: np.ndarray, chip: np.ndarray) -> FaceQuality:
    """Measure a face from its landmarks, its eye centres and its RGB quality chip (QUALITY_CHIP)."""
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    yaw, pitch, roll = head_pose_degrees(face.pose) if face.pose is not None else (0.0, 0.0, 0.0)
    return FaceQuality(
        eye_distance_px=float(np.linalg.norm(left_eye - right_eye)),
        sharpness=float(cv2.Laplacian(grey, cv2.CV_32F).var()),
        brightness=float(grey.mean()),
        yaw_deg=yaw,
        pitch_deg=pitch,
        roll_deg=roll,
    )
