"""What this CPU gives TensorFlow's oneDNN kernels: bf16 and int8 support.

One reading of /proc/cpuinfo (Linux; elsewhere no flags are found) for the
runtime's precision choice, the int8 export's warnings and the benchmarks'
machine lines, with oneDNN's own cap on it: ONEDNN_MAX_CPU_ISA makes
oneDNN (every TensorFlow matmul, layer norm, softmax, int8 and bf16 kernel)
run as on a CPU with only that ISA, which is how a machine without AMX,
AVX512_BF16 or VNNI is measured on one with them. TensorFlow's other
kernels are built for AVX and run alike either way. Also the CPU settings
TensorFlow reads once per process, set before it does: oneDNN on
(`turn_onednn_on`) and XLA's clustering for `--use_xla`
(`set_xla_cpu_flags`). No TensorFlow.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os

# oneDNN's ISA names, in order (ONEDNN_MAX_CPU_ISA takes one, or ALL).
ONEDNN_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2",
               "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16",
               "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16")


CPUINFO = "/proc/cpuinfo"


def turn_onednn_on():
  """Sets TF_ENABLE_ONEDNN_OPTS=1 unless the user set it (before TensorFlow
  is imported, which is when it counts): TensorFlow 2.15 leaves oneDNN off
  on a CPU without AVX512_VNNI, AVX512_BF16 or AMX, and the project runs
  the same kernels on every x86 CPU (see quiet_tensorflow, which calls it
  for every module that imports TensorFlow)."""
  os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


# XLA's auto-clustering on CPU (--use_xla: session-level JIT): without
# --tf_xla_cpu_global_jit it compiles nothing; with that alone it takes the
# matmuls from oneDNN too and trains slower (fp32 0.81-0.91x, README).
# Limited to element-wise ops and reductions (FUSIBLE), it fuses the casts,
# GELU, dropout and optimizer arithmetic between oneDNN's matmuls: bf16
# training 1.07-1.18x on an AMX Xeon, fp32 unchanged (README, Benchmarks,
# twelfth round). A session without JIT compiles nothing either way.
XLA_FLAGS_ENV = "TF_XLA_FLAGS"
XLA_CPU_FLAGS = "--tf_xla_cpu_global_jit --tf_xla_ops_to_cluster=FUSIBLE"


def set_xla_cpu_flags():
  """Sets TF_XLA_FLAGS to XLA_CPU_FLAGS unless the user set it or an NVIDIA
  GPU is present (there XLA keeps its own defaults); returns whether it did.

  TensorFlow reads the variable once, when it first lists its devices;
  under absl.app.run that is before main(), in a callback TensorFlow
  registers, so the scripts call this in command_line.run, before app.run.
  """
  if XLA_FLAGS_ENV in os.environ or _nvidia_gpu_present():
    return False
  os.environ[XLA_FLAGS_ENV] = XLA_CPU_FLAGS
  return True


def _nvidia_gpu_present():
  """Whether the NVIDIA driver lists a GPU this process may use (asked of
  /proc, not of TensorFlow, whose device listing would read TF_XLA_FLAGS)."""
  if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
    return False
  gpus = "/proc/driver/nvidia/gpus"
  return os.path.isdir(gpus) and bool(os.listdir(gpus))


def cpu_info_field(name):
  """The first value of `name` in /proc/cpuinfo, or "" where there is none."""
  try:
    with open(CPUINFO) as f:
      for line in f:
        if line.split(":", 1)[0].strip() == name:
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return ""


def cpu_name():
  return cpu_info_field("model name") or "unknown CPU"


def onednn_isa_cap():
  """The ISA that ONEDNN_MAX_CPU_ISA caps oneDNN's kernels at, or None."""
  cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
  if not cap or cap == "ALL":
    return None
  if cap not in ONEDNN_ISAS:
    raise ValueError("ONEDNN_MAX_CPU_ISA=%s: expected one of %s or ALL." %
                     (cap, ", ".join(ONEDNN_ISAS)))
  return cap


def onednn_runs_bf16():
  """Whether oneDNN can make TensorFlow's bf16 matmuls here: capped below
  AVX512_CORE it cannot, and the process aborts (TensorFlow still sees
  AVX512 in cpuid and asks it for them; a real AVX2 machine falls back to
  Eigen instead, which a cap cannot show)."""
  cap = onednn_isa_cap()
  return cap is None or (ONEDNN_ISAS.index(cap) >=
                         ONEDNN_ISAS.index("AVX512_CORE"))


def _usable(flag, isa):
  """Whether the CPU has `flag` and oneDNN may use it (`isa` within the
  cap)."""
  cap = onednn_isa_cap()
  return (flag in cpu_info_field("flags").split() and
          (cap is None or ONEDNN_ISAS.index(isa) <= ONEDNN_ISAS.index(cap)))


def bf16_support():
  """"AMX", "AVX512_BF16" or "none": how oneDNN multiplies bfloat16 here.

  AMX tiles are what the bf16 speed targets were set for; AVX512_BF16 has
  bf16 dot products in vector registers; with neither (or with them capped
  off), oneDNN converts to float32 and bf16 is only emulated."""
  if _usable("amx_bf16", "AVX512_CORE_AMX"):
    return "AMX"
  if _usable("avx512_bf16", "AVX512_CORE_BF16"):
    return "AVX512_BF16"
  return "none"


def int8_support():
  """"AMX", "AVX512_VNNI", "AVX_VNNI" or "none": how oneDNN multiplies int8
  here (u8 x s8 dot products; without VNNI, or with it capped off, it takes
  three instructions per dot product instead of one, and AVX2's
  `vpmaddubsw` saturates each pair of products at 16 bits)."""
  if _usable("amx_int8", "AVX512_CORE_AMX"):
    return "AMX"
  if _usable("avx512_vnni", "AVX512_CORE_VNNI"):
    return "AVX512_VNNI"
  if _usable("avx_vnni", "AVX2_VNNI"):
    return "AVX_VNNI"
  return "none"
