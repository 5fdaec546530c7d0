"""Static int8 quantisation of a float ONNX descriptor with ONNX Runtime's quantiser.

Activation ranges come from a committed calibration table (ONNX Runtime's calibration cache, made
by models/calibrate_int8.py on real faces), so a build needs no face data and is repeatable.
"""

import logging
import tempfile
from pathlib import Path

from kiosk.errors import ModelError
from kiosk.manifest import QuantizationSpec


def quantize_descriptor(float_model: Path, output: Path, spec: QuantizationSpec,
                        calibration_reader=None) -> None:
    """Write the QDQ int8 model; with `calibration_reader`, (re)compute the calibration table first."""
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    installed = f"onnxruntime {onnxruntime.__version__}"
    if installed != spec.built_with:
        raise ModelError(f"the int8 model is pinned as written by {spec.built_with}, but {installed} is installed; "
                         f"another quantiser writes other bytes. Install the pinned versions "
                         f"(pip install -c constraints.txt -e .) or re-pin after checking accuracy "
                         f"(python main.py models build --update-pin)")
    if calibration_reader is None and not spec.calibration_path.is_file():
        raise ModelError(f"calibration table {spec.calibration_path} is missing; it is part of the checkout "
                         f"(regenerate it with `python -m models.calibrate_int8`)")
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantiser logs advice at WARNING on every run
    try:
        with tempfile.TemporaryDirectory() as scratch:
            prepared = Path(scratch) / "prepared.onnx"
            quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared), str(output), calibration_reader,
                quant_format=QuantFormat.QDQ if spec.format == "QDQ" else QuantFormat.QOperator,
                per_channel=spec.per_channel,
                reduce_range=spec.reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod[spec.method],
                calibration_cache_path=str(spec.calibration_path),
            )
    finally:
        logging.getLogger().setLevel(quiet)
