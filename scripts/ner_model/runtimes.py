"""The inference runtimes the int8 copies run in, imported so that a model loaded in an app sends nothing
anywhere: both have usage telemetry, which is turned off before their first import."""

import importlib.util
import os
import sys

# The packaged model requires ONNX Runtime, which runs its int8 copy, and onnx, which makes a copy where the
# package holds none for its weights (scripts/package.py): ranges, as spaCy's own packages require;
# requirements.txt pins versions inside them (tests/test_precision.py checks).
INT8_REQUIREMENTS = ("onnxruntime>=1.17.0,<2.0.0", "onnx>=1.16.0,<2.0.0")
# "int8-static" runs in OpenVINO; not a package requirement: no CPU kind's "auto" chooses it.
STATIC_INT8_REQUIREMENT = "openvino>=2025.0"


def has_onnxruntime() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def has_openvino() -> bool:
    return importlib.util.find_spec("openvino") is not None


def import_onnxruntime():
    """onnxruntime with its telemetry off unless the environment already says otherwise (ORT_DISABLE_TELEMETRY):
    it keeps a device id and a queue of usage events for Microsoft's collector under ~/.cache/Microsoft on
    Linux. It reads the setting when it is first imported."""
    if "onnxruntime" not in sys.modules:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def import_openvino():
    """openvino without its model converter: openvino's __init__ imports the converter if it can, and that
    import sends usage telemetry (a forked process, a client id written under ~/intel). The runtime needs no
    converter; a later import of it works as usual."""
    if "openvino" not in sys.modules:
        sys.modules["openvino.tools.ovc"] = None  # an import of it raises ImportError, which openvino catches
        try:
            import openvino  # noqa: F401
        finally:
            del sys.modules["openvino.tools.ovc"]
    return sys.modules["openvino"]
