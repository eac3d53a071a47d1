"""The arithmetic of the benchmarks' reports (not their timings)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_speed  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_paired_ratio_is_second_speed_over_first():
  # Second takes half of first's time in every pair: it is twice as fast.
  median, spread = bench_speed.speed_ratio([0.4, 0.2, 0.6, 0.8],
                                           [0.2, 0.1, 0.3, 0.4])
  assert median == 2.0 and spread == [2.0, 2.0]
  # Pairs 1.0x, 1.25x, 2.0x, 4.0x (first / second): numpy's percentiles.
  median, spread = bench_speed.speed_ratio([1, 1, 1, 1], [1, 0.8, 0.5, 0.25])
  assert median == 1.625
  assert spread == [1.1875, 2.5]


def test_int8_kernels_bench_checks_every_candidate_against_exact_product():
  # A few rows, one call each: the table's error column, not its timings.
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "benchmarks",
                                    "bench_int8_kernels.py"),
       "--rows=5", "--repeats=1"], capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = [line.strip("|").split("|") for line in proc.stdout.splitlines()
          if line.startswith("| ") and "---" not in line and
          "candidate" not in line]
  errors = {cells[0].strip(): float(cells[-1]) for cells in rows}
  assert sorted(errors) == sorted(["onednn-int8", "int8-matmul", "uq-dot",
                                   "uq-hybrid", "cast-fp32", "fp32"])
  # Integers whose products and sums are exact in every output type; the
  # hybrid op quantises its float32 input itself, so it alone is off.
  assert all(errors[name] == 0 for name in errors if name != "uq-hybrid")
  assert errors["uq-hybrid"] > 0
