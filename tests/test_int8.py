"""int8 logic that needs neither NNCF nor a model: precision selection, agreement figures, the target, the report."""

import numpy as np
import pytest

from similar.bench.speed import int8_markdown
from similar.bench.speed_encoding import _cap_honoured, agreement, meets_target
from similar.encoders import openvino_choice


def test_precision_selection_keeps_default_unchanged():
    assert openvino_choice(None) == ("model.xml", {})
    assert openvino_choice("f32") == ("model.xml", {"INFERENCE_PRECISION_HINT": "f32"})
    assert openvino_choice("int8") == ("model-int8.xml", {})
    assert openvino_choice("int8", "f32") == ("model-int8.xml", {"INFERENCE_PRECISION_HINT": "f32"})
    with pytest.raises(ValueError):
        openvino_choice("int4")


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_agreement_identical_and_perturbed():
    rng = np.random.default_rng(0)
    ref = _unit(rng.standard_normal((50, 16)))
    same = agreement(ref, ref)
    assert same["top10_overlap"] == 1.0 and same["min_cosine_to_fp32"] == pytest.approx(1.0, abs=1e-6)
    assert meets_target(same)
    noisy = agreement(_unit(ref + 0.5 * rng.standard_normal(ref.shape)), ref)
    assert noisy["min_cosine_to_fp32"] < noisy["mean_cosine_to_fp32"] < 1.0
    assert noisy["top10_overlap"] < 1.0 and not meets_target(noisy)


def test_target_uses_min_cosine_and_overlap():
    assert not meets_target({"mean_cosine_to_fp32": 0.999, "min_cosine_to_fp32": 0.98, "top10_overlap": 0.99})
    assert not meets_target({"mean_cosine_to_fp32": 0.999, "min_cosine_to_fp32": 0.995, "top10_overlap": 0.94})


def _run(backend, rate, precision="f32"):
    return {"backend": backend, "docs_per_s": rate, "inference_precision": precision, "weights": "fp32", "docs": 10}


def test_cap_detection_and_markdown_say_which_rows_are_emulated():
    native = {"setting": "native", "runs": [_run("openvino f32", 20), _run("openvino default", 60, "bf16")]}
    capped = {
        "setting": "AVX2 (emulated)",
        "runs": [_run("openvino f32", 20), {"backend": "openvino default", "error": "x"}],
    }
    cap = _cap_honoured([native, capped])
    assert cap["honoured"] and cap["default_precision_capped"] == "does not compile"
    same = {"setting": "AVX2 (emulated)", "runs": [_run("openvino f32", 21), _run("openvino default", 60, "bf16")]}
    assert not _cap_honoured([native, same])["honoured"]
    q = {"docs": 10, "corpus": "c", "threads": 2, "target": {"cosine": 0.99, "top10_overlap": 0.95}}
    text = "\n".join(
        int8_markdown(
            {**q, "settings": [native, same], "avx2_cap_honoured": _cap_honoured([native, same])}, "CPU X", ""
        )
    )
    assert "NOT visibly honoured" in text and "CPU X" in text
    text = "\n".join(int8_markdown({**q, "settings": [native, capped], "avx2_cap_honoured": cap}, "CPU X", ""))
    assert "emulated on this CPU (CPU X)" in text and "| AVX2 (emulated) | openvino default | - | x |" in text
