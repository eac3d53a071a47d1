"""cpu_features.py: bf16 and int8 support read from a cpuinfo file, with
oneDNN's ONEDNN_MAX_CPU_ISA cap on it."""

import pytest

import cpu_features


def with_flags(tmp_path, monkeypatch, flags, cap=None):
  path = tmp_path / "cpuinfo"
  path.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\n"
                  "flags\t\t: %s\n\nprocessor\t: 1\nflags\t\t: sse\n" % flags)
  monkeypatch.setattr(cpu_features, "CPUINFO", str(path))
  if cap is None:
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
  else:
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)


@pytest.mark.parametrize("flags,cap,bf16,int8,runs_bf16", [
    ("fpu avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8", None,
     "AMX", "AMX", True),
    ("fpu avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8", "all",
     "AMX", "AMX", True),
    ("fpu avx2 avx512f avx512_vnni avx512_bf16", None,
     "AVX512_BF16", "AVX512_VNNI", True),
    ("fpu avx2 avx512f avx512_vnni avx512_bf16", "avx512_core_vnni",
     "none", "AVX512_VNNI", True),
    ("fpu avx2 avx512f avx512_vnni avx512_bf16", "AVX512_CORE",
     "none", "none", True),
    ("fpu avx2 avx512f avx512_vnni avx512_bf16", "AVX2",
     "none", "none", False),
    ("fpu avx2 avx_vnni", None, "none", "AVX_VNNI", True),
    ("fpu avx2", None, "none", "none", True),
])
def test_support_read_from_the_flags_within_the_cap(
    tmp_path, monkeypatch, flags, cap, bf16, int8, runs_bf16):
  with_flags(tmp_path, monkeypatch, flags, cap)
  assert cpu_features.cpu_name() == "Test CPU 9000"
  assert cpu_features.bf16_support() == bf16
  assert cpu_features.int8_support() == int8
  assert cpu_features.onednn_runs_bf16() == runs_bf16


def test_no_cpuinfo_and_a_bad_cap(tmp_path, monkeypatch):
  monkeypatch.setattr(cpu_features, "CPUINFO", str(tmp_path / "missing"))
  monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
  assert cpu_features.cpu_name() == "unknown CPU"
  assert cpu_features.int8_support() == "none"
  monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX3")
  with pytest.raises(ValueError, match=r"^ONEDNN_MAX_CPU_ISA=AVX3: expected "
                     r"one of SSE41, AVX, AVX2, .* or ALL\.$"):
    cpu_features.bf16_support()
