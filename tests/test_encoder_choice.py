"""The backend chooser with a fake clock: fastest acceptable wins, disagreeing or failing ones never, torch on a tie."""

import json

import numpy as np
import pytest

from fixtures import FakeEncoder
from similar import encoder_choice
from similar.encoder_choice import choose, measure, read_choice, record, write_choice
from similar.encoders import fingerprint_dir, resolve_model
from similar.errors import SimilarError

TEXTS = [f"text number {i} about heart failure and gene {i % 7}" for i in range(40)]


class Clock:
    """A timing source that moves only when a fake encoder says it worked."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Timed(FakeEncoder):
    """FakeEncoder's vectors (perturbed by `noise`), costing `per_text` fake seconds a text; or failing to load."""

    def __init__(self, clock, per_text, noise=0.0, fail=None):
        if fail:
            raise fail
        super().__init__()
        self.clock, self.per_text, self.noise = clock, per_text, noise

    def encode(self, texts):
        self.clock.now += self.per_text * len(texts)
        out = super().encode(texts)
        if self.noise:
            out = out + self.noise * np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


def run(table):
    clock = Clock()
    candidates = {label: (lambda spec=spec: Timed(clock, *spec)) for label, spec in table.items()}
    return measure(candidates, TEXTS, clock=clock)


CASES = [
    ("fastest agreeing wins", {"torch": (0.03,), "openvino-f32": (0.02,), "openvino-bf16": (0.01,)}, "openvino-bf16"),
    (
        "a faster one under 0.999 cosine is rejected",
        {"torch": (0.03,), "openvino-f32": (0.02,), "openvino-bf16": (0.005, 0.2)},
        "openvino-f32",
    ),
    ("torch fastest: torch", {"torch": (0.01,), "openvino-f32": (0.02,), "openvino-bf16": (0.03,)}, "torch"),
    ("a tie goes to torch", {"torch": (0.02,), "openvino-f32": (0.02,)}, "torch"),
    (
        "one that cannot load is a row, never chosen",
        {"torch": (0.03,), "openvino-bf16": (0.01, 0.0, RuntimeError("no bf16 kernels\nhere"))},
        "torch",
    ),
    ("all others disagree: torch", {"torch": (0.03,), "openvino-int8": (0.001, 0.3)}, "torch"),
]


@pytest.mark.parametrize("why, table, chosen", CASES, ids=[c[0] for c in CASES])
def test_chooser(why, table, chosen):
    runs = run(table)
    assert [r["backend"] for r in runs] == list(table)
    assert choose(runs) == chosen
    by = {r["backend"]: r for r in runs}
    for label, spec in table.items():
        if len(spec) > 2:
            assert by[label] == {"backend": label, "error": "here"}
            continue
        assert by[label]["docs_per_s"] == pytest.approx(1 / spec[0], abs=0.05)
        if label != "torch":
            noisy = len(spec) > 1 and spec[1] > 0
            assert (by[label]["min_cosine_to_torch"] < 0.999) is noisy


def test_record_says_what_was_rejected_and_where(tmp_path):
    runs = run({"torch": (0.03,), "openvino-f32": (0.02,), "openvino-bf16": (0.005, 0.2)})
    content = record("m", "fp01", runs, "40 texts")
    assert (content["chosen"], content["backend"], content["precision"]) == ("openvino-f32", "openvino", "f32")
    assert content["rejected_faster"] == ["openvino-bf16"]
    assert content["cpu"] == encoder_choice.cpu_info() and content["runs"] == runs
    write_choice(tmp_path, content)
    assert read_choice(tmp_path, "fp01") == json.loads(json.dumps(content))


def test_reference_must_come_first_and_run():
    clock = Clock()
    with pytest.raises(ValueError):
        measure({"openvino-f32": lambda: Timed(clock, 0.01)}, TEXTS, clock=clock)
    with pytest.raises(SimilarError, match="^the torch reference cannot run: no torch$"):
        measure({"torch": lambda: Timed(clock, 0.01, fail=RuntimeError("no torch"))}, TEXTS, clock=clock)
    with pytest.raises(SimilarError):
        choose([{"backend": "openvino-f32", "docs_per_s": 9.0, "min_cosine_to_torch": 1.0}])


def _content(**changes):
    runs = run({"torch": (0.03,), "openvino-f32": (0.02,)})
    return {**record("m", "fp01", runs, "40 texts"), **changes}


@pytest.mark.parametrize(
    "content, fingerprint",
    [
        ("not json", "fp01"),
        ([1, 2], "fp01"),
        (_content(chosen="tpu"), "fp01"),
        (_content(cpu={"model": "another CPU", "flags": ["avx2"]}), "fp01"),
        (_content(), "fp02"),  # the model was replaced since
    ],
    ids=["garbage", "not an object", "unknown backend", "another CPU", "another model"],
)
def test_a_choice_that_does_not_apply_here_is_none(tmp_path, content, fingerprint):
    (tmp_path / encoder_choice.CHOICE_FILE).write_text(content if isinstance(content, str) else json.dumps(content))
    assert read_choice(tmp_path, fingerprint) is None


@pytest.mark.parametrize(
    "chosen, backend, precision",
    [(None, "openvino", None), ("torch", "torch", None), ("openvino-bf16", "openvino", "bf16")],
)
def test_resolve_model_follows_the_recorded_choice(tmp_path, monkeypatch, chosen, backend, precision):
    monkeypatch.setenv("SIMILAR_MODELS_DIR", str(tmp_path))
    folder = tmp_path / "mine"
    (folder / "openvino").mkdir(parents=True)
    (folder / "modules.json").write_text("[]")
    fingerprint = fingerprint_dir(folder)
    (folder / "openvino" / "export.json").write_text(
        json.dumps({"fingerprint": fingerprint})
    )  # made from these weights
    if chosen:
        write_choice(folder, _content(chosen=chosen, backend=backend, precision=precision, fingerprint=fingerprint))
    assert fingerprint_dir(folder) == fingerprint  # the choice is not part of the model
    spec = resolve_model("mine")
    assert (spec.backend, spec.precision) == (backend, precision)
    assert resolve_model("mine", backend="torch").backend == "torch"  # an explicit backend wins over the record
    (folder / "openvino" / "export.json").write_text(json.dumps({"fingerprint": "made-from-other"}))
    assert resolve_model("mine").backend == "torch"  # a stale export is never chosen, whatever the record says


def test_models_list_says_which_backend_runs_here(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from similar.cli import main

    monkeypatch.setenv("SIMILAR_MODELS_DIR", str(tmp_path))
    for name in ("timed", "exported", "stale"):
        (tmp_path / name / "openvino").mkdir(parents=True)
        (tmp_path / name / "modules.json").write_text("[]")
        made_from = fingerprint_dir(tmp_path / name) if name != "stale" else "other-weights"
        (tmp_path / name / "openvino" / "export.json").write_text(json.dumps({"fingerprint": made_from}))
    folder = tmp_path / "timed"
    write_choice(folder, _content(chosen="torch", backend="torch", precision=None, fingerprint=fingerprint_dir(folder)))
    lines = CliRunner().invoke(main, ["models", "list"]).output.splitlines()
    assert lines[1:] == [
        f"exported\topenvino\t{tmp_path / 'exported'}",
        f"stale\ttorch\t{tmp_path / 'stale'}",  # an export of other weights is never run: the list says so
        f"timed\ttorch (timed)\t{folder}",
    ]
