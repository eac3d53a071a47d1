"""Imports TensorFlow without the lines its C++ start-up prints on a CPU machine.

`import tensorflow` (2.15) writes, straight to file descriptor 2, three
`E ... Unable to register cuDNN/cuFFT/cuBLAS factory` lines (it registers its
CUDA plugins twice, GPU or not; fixed in later releases), a `TF-TRT Warning:
Could not find TensorRT` line and a few `I` lines (no CUDA driver, oneDNN on,
CPU instructions), before any of our code runs: a new user's first sight of
the project is a screen of errors that mean nothing. Every module of this
project that imports TensorFlow imports this module first (only the first
import does anything): it imports TensorFlow with descriptor 2 sent to a
temporary file, then writes back every line but those known ones
(`KNOWN_NOISE`); a real error or a Python warning printed while importing
still reaches stderr.

It also turns TensorFlow's oneDNN kernels on (TF_ENABLE_ONEDNN_OPTS=1)
unless the user set TF_ENABLE_ONEDNN_OPTS: TensorFlow 2.15 turns them on by
default only on a CPU with AVX512_VNNI, AVX512_BF16 or AMX, and off on an
AVX2 one, where the project would then run other kernels than on every
other x86 machine: no int8 kernels at all (`--export_precision=int8`'s
ops have none without oneDNN), no fused layer norm or GELU, and float32
BERT-base slower than with oneDNN (measured in the README's Benchmarks).
It has to be set before TensorFlow is imported: a process that imported
TensorFlow first keeps TensorFlow's choice (`int8_graph.onednn_disabled`
then says so).

When the main program is one of this project's scripts, it also sets
TensorFlow's C++ log level to 2 (errors only) for the rest of the run, as
the original's users expect a clean log; a library import leaves the user's
process as it is. A TF_CPP_MIN_LOG_LEVEL set by the user wins and turns the
filtering off: `TF_CPP_MIN_LOG_LEVEL=0` shows everything.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import contextlib
import os
import sys
import tempfile

import cpu_features

KNOWN_NOISE = (
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "TF-TRT Warning: Could not find TensorRT",
    "Could not find cuda drivers on your machine",
    "oneDNN custom operations are on",
    # cpu_feature_guard's two lines: the wheel is not built for this CPU's
    # newest instructions (oneDNN uses them anyway, at run time).
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
)


def run_as_script():
  """Whether the main program is one of this project's scripts."""
  main_file = getattr(sys.modules.get("__main__"), "__file__", None)
  if not main_file:
    return False
  here = os.path.dirname(os.path.abspath(__file__))
  return os.path.dirname(os.path.abspath(main_file)) == here


@contextlib.contextmanager
def stderr_without(noise):
  """Runs the block with file descriptor 2 captured, then writes back every
  line that contains none of `noise` (C++ code writes to the descriptor,
  not to sys.stderr)."""
  try:
    sys.stderr.flush()
    saved = os.dup(2)
  except (AttributeError, OSError, ValueError):
    yield  # No real descriptor 2 (an embedding host): nothing to filter.
    return
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      text = captured.read().decode("utf-8", "replace")
      kept = [line for line in text.splitlines(True)
              if not any(n in line for n in noise)]
      if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()


def import_tensorflow(min_log_level=None):
  """Imports TensorFlow, its start-up noise dropped, unless the user set
  TF_CPP_MIN_LOG_LEVEL; then sets that level to `min_log_level` if given."""
  if "tensorflow" in sys.modules:
    return
  if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
    return
  if min_log_level is not None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = min_log_level
  with stderr_without(KNOWN_NOISE):
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import,redefined-outer-name


cpu_features.turn_onednn_on()
import_tensorflow("2" if run_as_script() else None)
