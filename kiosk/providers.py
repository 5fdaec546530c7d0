"""Choose the ONNX Runtime execution provider, and report the one that really runs.

onnxruntime-gpu lists CUDA among the available providers even where the CUDA libraries cannot
load; only the providers of a created session tell the truth, so that is what is logged.
"""

import logging
from typing import Literal

import onnxruntime as ort

log = logging.getLogger(__name__)

ProviderChoice = Literal["auto", "cpu", "cuda"]


def create_session(model: bytes | str, choice: ProviderChoice = "auto", threads: int = 0,
                   label: str = "model") -> ort.InferenceSession:
    """An inference session on CUDA where asked (auto: where it loads), else on the CPU."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # ONNX Runtime's idle threads spin after each run by default, taking the core the landmarker (on
    # the kiosk's other stage) needs; the kiosk runs one small network at a time, so they sleep.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # a failed CUDA load is reported below, in one line
    wanted = ["CPUExecutionProvider"]
    if choice in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        wanted.insert(0, "CUDAExecutionProvider")
    # ONNX Runtime prints a multi-line error when the CUDA libraries are absent; the outcome is
    # reported below in one line instead, so its logger is silenced while the session is made.
    ort.set_default_logger_severity(4)
    try:
        session = ort.InferenceSession(model, sess_options=options, providers=wanted)
    finally:
        ort.set_default_logger_severity(2)
    running = session.get_providers()
    if choice == "cuda" and running[0] != "CUDAExecutionProvider":
        log.warning("%s: CUDA was asked for but could not load; running on %s", label, running[0])
    log.info("%s runs on %s", label, running[0])
    return session


def active_provider(session: ort.InferenceSession) -> str:
    """The provider that executes the session's nodes (the first one it kept)."""
    return session.get_providers()[0]
