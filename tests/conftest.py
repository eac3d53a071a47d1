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
