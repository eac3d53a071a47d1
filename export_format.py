"""The layout of this project's SavedModel exports, for those who read them.

`serving.py` (runtime layer) writes exports; `predictor.py` (library layer)
reads them. The names and the check of `assets/bert_export.json` live here,
below both; the layout itself is described in serving.py's docstring.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import json
import os
import warnings

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import int8_graph

# The inputs of an exported model's serving_default signature.
SERVING_INPUTS = ("input_ids", "input_mask", "segment_ids")
TEXT_SIGNATURE = "serving_text"
METADATA_FILE = "bert_export.json"
VOCAB_FILE = "vocab.txt"
FORMAT = "bert-savedmodel"
FORMAT_VERSION = 1
TASKS = ("classification", "regression", "squad", "token_classification")
# Tasks whose outputs are per example, not per token: their serving_default
# takes any length up to max_seq_length (padding changes nothing there).
ANY_LENGTH_TASKS = ("classification", "regression")
TENSORFLOW_TEXT_INSTALL = 'pip install "tensorflow-text==2.15.*"'


def tensorflow_text():
  """The `tensorflow_text` module, or None if the optional extra is absent."""
  try:
    with warnings.catch_warnings():
      # It imports tensorflow_hub, whose import warns that pkg_resources
      # is deprecated: nothing a user of this project can act on.
      warnings.filterwarnings("ignore", message=".*pkg_resources.*")
      import tensorflow_text as text  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return text


def read_metadata(saved_model_dir):
  """The bert_export.json of a SavedModel written here, checked.

  Raises:
    ValueError: the directory is not a SavedModel, or one without our
      assets; the message says what is missing and how to re-export.
  """
  if not tf.io.gfile.exists(os.path.join(saved_model_dir, "saved_model.pb")):
    raise ValueError(
        "%s is not a SavedModel directory (no saved_model.pb). Pass the "
        "<export_dir>/<timestamp>/ directory an --export_dir run wrote." %
        saved_model_dir)
  reexport = ("Re-export it with this version: run the script that trained "
              "it with --export_dir=DIR and no --do_* flag (same "
              "--output_dir, --task_name, --vocab_file, --bert_config_file).")
  missing = [name for name in (METADATA_FILE, VOCAB_FILE)
             if not tf.io.gfile.exists(os.path.join(saved_model_dir, "assets",
                                                    name))]
  if missing:
    raise ValueError("SavedModel %s lacks assets/%s: it was not exported by "
                     "this project's --export_dir, or by an older version. %s"
                     % (saved_model_dir, " and assets/".join(missing),
                        reexport))
  path = os.path.join(saved_model_dir, "assets", METADATA_FILE)
  try:
    with tf.io.gfile.GFile(path, "r") as f:
      metadata = json.load(f)
  except ValueError as e:
    raise ValueError("%s is not JSON (%s). %s" % (path, e, reexport))
  if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
    raise ValueError("%s is not a %s description. %s" % (path, FORMAT,
                                                         reexport))
  for key in ("task", "max_seq_length", "do_lower_case", "labels"):
    if key not in metadata:
      raise ValueError("%s has no %r. %s" % (path, key, reexport))
  if metadata["task"] not in TASKS:
    raise ValueError("%s: unknown task %r. %s" % (path, metadata["task"],
                                                  reexport))
  if metadata.get("precision") == "int8":
    kernels_off = int8_graph.onednn_disabled()
    if kernels_off:
      raise ValueError("SavedModel %s is an int8 export: %s." %
                       (saved_model_dir, kernels_off))
  return metadata

