"""The arithmetic of the benchmarks' reports (not their timings)."""

import os
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
