"""What a speed figure is measured against: the CPU's ISA from its flags, and an encoder's FLOPs per document."""

import json

import pytest

from similar.bench.machine import cpu_info, encoder_flops, isa_of


@pytest.mark.parametrize(
    "flags,isa",
    [
        ({"sse4_2", "avx2", "fma"}, "AVX2"),
        ({"avx2", "avx512f", "avx512_vnni"}, "AVX-512"),
        ({"avx2", "avx512f", "amx_tile", "amx_bf16"}, "AMX"),
        ({"sse4_2"}, "SSE/other"),
        (set(), "SSE/other"),
    ],
)
def test_isa_of_flags(flags, isa):
    assert isa_of(flags) == isa


def test_cpu_info_names_model_isa_and_cores():
    info = cpu_info()
    assert set(info) == {"model", "isa", "flags", "cores"}
    assert info["isa"] in ("AMX", "AVX-512", "AVX2", "SSE/other") and info["cores"] >= 1 and info["model"]


@pytest.mark.parametrize(
    "lengths,expected",
    [
        # MiniLM-L6 shape: h 384, i 1536, 6 layers; per layer 2·L·(4h² + 2h·i) + 4·L²·h
        ([1], 6 * (2 * 1 * (4 * 384**2 + 2 * 384 * 1536) + 4 * 1 * 384)),
        ([128], 6 * (2 * 128 * (4 * 384**2 + 2 * 384 * 1536) + 4 * 128**2 * 384)),
        ([10, 20], 6 * (2 * 30 * (4 * 384**2 + 2 * 384 * 1536) + 4 * (100 + 400) * 384)),
        ([], 0),
    ],
)
def test_encoder_flops(tmp_path, lengths, expected):
    (tmp_path / "config.json").write_text(
        json.dumps({"hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6})
    )
    assert encoder_flops(tmp_path, lengths) == expected
