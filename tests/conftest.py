"""Shared test setup: quiet TensorFlow, import the flat modules, locate shared data."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

# As quiet_tensorflow does, before TensorFlow is imported: test modules
# import it before the project's modules.
import cpu_features  # pylint: disable=g-import-not-at-top,wrong-import-position
cpu_features.turn_onednn_on()

# Real data lives beside the project, never inside it.
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

# The test files that take minutes on 2 cores, slowest first (measured on
# an AVX2-only AMD EPYC: the quick start 210-280 s, the others 60-310 s).
# `-n 2 --dist loadfile` runs each file whole on one worker, and xdist by
# default hands out the files with the most tests first, so the one-test
# quick start came last and ran alone while the other worker sat idle.
# Started first, the slow files overlap and the short ones fill the gaps.
SLOW_FILES = ("test_quickstart.py", "test_e2e_classifier.py",
              "test_reliability.py", "test_runtime.py", "test_serving.py",
              "test_e2e_ner.py", "test_run_classifier.py",
              "test_predictor.py", "test_e2e_ner_records.py",
              "test_training_loop.py", "test_onnx_export.py",
              "test_readme_commands.py", "test_e2e_squad_records.py",
              "test_e2e_classifier_records.py")


def pytest_configure(config):
  # xdist's reordering by test count would undo the order below.
  if hasattr(config.option, "loadscopereorder"):
    config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(SLOW_FILES)}
  # Stable: every other file keeps its place, after the slow ones.
  items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))
