"""ONNX copies of exported SavedModels, for ONNX Runtime and Triton users.

`--export_format=onnx` (the training scripts' `--export_dir` step) writes,
beside the SavedModel's `saved_model.pb`, `model.onnx`: its serving_default
signature (int32 `input_ids`, `input_mask`, `segment_ids`, dimensions
`batch` and `sequence`; the same outputs by the same names) with the
weights folded in. Before the export is kept, both run on sample inputs and
must agree to `TOLERANCE`; the difference is logged and recorded in
`bert_export.json` (`onnx`).

The conversion is tf2onnx's, on the frozen signature; ONNX Runtime checks it.
Both are an optional extra (`pip install -r requirements-onnx.txt`) that
nothing else imports.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import logging
import os

import numpy as np

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import export_format

ONNX_FILE = "model.onnx"
OPSET = 17
# The largest output difference from the SavedModel that an export keeps.
TOLERANCE = 1e-4
PACKAGES = ("onnx", "onnxruntime", "tf2onnx")
INSTALL = "pip install -r requirements-onnx.txt"
DIMENSIONS = ("batch", "sequence")


def missing_packages():
  """The packages of the ONNX extra that do not import, in PACKAGES order."""
  missing = []
  for name in PACKAGES:
    try:
      __import__(name)
    except ImportError:
      missing.append(name)
  return missing


def frozen_signature(saved_model_dir, signature="serving_default",
                     feeds=None):
  """(graph_def, {input: tensor}, {output: tensor}, results) of one signature
  of a SavedModel, its variables folded into constants and the rest of the
  graph (other signatures, the in-graph tokenizer) pruned away; `results`
  is {output: array} of the signature on `feeds` (None without them), from
  the same load of the SavedModel."""
  export_format.tensorflow_text()  # Registers serving_text's ops, if any.
  with tf.Graph().as_default() as graph, tf.Session(graph=graph) as sess:
    meta_graph = tf.saved_model.loader.load(sess, ["serve"], saved_model_dir)
    signature_def = meta_graph.signature_def[signature]
    inputs = {k: v.name for k, v in signature_def.inputs.items()}
    outputs = {k: v.name for k, v in signature_def.outputs.items()}
    results = None
    if feeds is not None:
      results = sess.run(outputs, {inputs[k]: v for k, v in feeds.items()})
    output_ops = sorted(set(name.split(":")[0] for name in outputs.values()))
    graph_def = tf.graph_util.convert_variables_to_constants(
        sess, graph.as_graph_def(), output_ops)
  graph_def = tf.graph_util.extract_sub_graph(graph_def, output_ops)
  input_ops = set(name.split(":")[0] for name in inputs.values())
  for node in graph_def.node:
    # Our exports' id inputs default to serving_text's tokenizer output; as
    # ONNX inputs they are plain placeholders.
    if node.name in input_ops and node.op == "PlaceholderWithDefault":
      node.op = "Placeholder"
      del node.input[:]
  return graph_def, inputs, outputs, results


def _name_dimensions(model):
  """Names the open dimensions of the inputs `batch` and `sequence`, and of
  the outputs `batch` (then `sequence` where one is [batch, sequence, ...])."""
  for value in list(model.graph.input) + list(model.graph.output):
    for dim, name in zip(value.type.tensor_type.shape.dim, DIMENSIONS):
      if not dim.HasField("dim_value"):
        dim.dim_param = name


def convert(graph_def, inputs, outputs, path):
  """Writes the ONNX model of a frozen graph to `path`; its inputs and
  outputs take the keys of `inputs` and `outputs` as names.

  tf2onnx's own ONNX rewrites are left out: on BERT they hold copies of
  every weight per pass (13 GB for 2 layers of BERT-base, 2.8 GB without
  them), and ONNX Runtime makes the same rewrites when it loads the model."""
  import onnx  # pylint: disable=g-import-not-at-top
  import tf2onnx  # pylint: disable=g-import-not-at-top
  from tf2onnx import tf_loader  # pylint: disable=g-import-not-at-top
  renames = {tensor: key for key, tensor in inputs.items()}
  renames.update({tensor: key for key, tensor in outputs.items()})
  input_names, output_names = sorted(inputs.values()), sorted(outputs.values())
  # tf2onnx narrates each pass at INFO; its warnings still show.
  logger = logging.getLogger("tf2onnx")
  level = logger.level
  logger.setLevel(max(level, logging.WARNING))
  try:
    with tf.Graph().as_default():
      graph_def = tf_loader.tf_optimize(input_names, output_names, graph_def)
    with tf.Graph().as_default() as graph:
      tf.import_graph_def(graph_def, name="")
      onnx_graph = tf2onnx.tfonnx.process_tf_graph(
          graph, input_names=input_names, output_names=output_names,
          opset=OPSET, tensors_to_rename=renames)
    model = onnx_graph.make_model("BERT serving_default")
  finally:
    logger.setLevel(level)
  _name_dimensions(model)
  onnx.save(model, path)
  return path


def sample_feeds(vocab_size, seq_length, batch_size=4, seed=0):
  """Token ids, masks and segments of `batch_size` examples of different
  lengths (the last one full), for comparing two runtimes."""
  rng = np.random.RandomState(seed)
  ids = rng.randint(1, vocab_size, size=[batch_size, seq_length])
  lengths = np.linspace(2, seq_length, batch_size).astype(np.int64)
  mask = (np.arange(seq_length)[None, :] < lengths[:, None]).astype(np.int32)
  segments = (np.arange(seq_length)[None, :] >= lengths[:, None] // 2)
  return {"input_ids": (ids * mask).astype(np.int32), "input_mask": mask,
          "segment_ids": (segments * mask).astype(np.int32)}


def run_onnx(path, feeds):
  """{output: array} of an ONNX model on `feeds`, in ONNX Runtime (CPU)."""
  import onnxruntime  # pylint: disable=g-import-not-at-top
  session = onnxruntime.InferenceSession(
      path, providers=["CPUExecutionProvider"])
  names = [output.name for output in session.get_outputs()]
  return dict(zip(names, session.run(names, feeds)))


def max_difference(expected, got):
  """The largest absolute difference between two {output: array} results
  (raises ValueError when their outputs or shapes differ)."""
  if sorted(expected) != sorted(got):
    raise ValueError("outputs %s, expected %s" % (sorted(got),
                                                  sorted(expected)))
  worst = 0.0
  for name, value in expected.items():
    if np.shape(got[name]) != np.shape(value):
      raise ValueError("output %s has shape %s, expected %s" % (
          name, np.shape(got[name]), np.shape(value)))
    worst = max(worst, float(np.max(np.abs(
        np.asarray(got[name], np.float64) - np.asarray(value, np.float64)))))
  return worst


def write_onnx(saved_model_dir, vocab_size, seq_length):
  """Writes `<saved_model_dir>/model.onnx` and checks it against the
  SavedModel on `sample_feeds`.

  Returns:
    (path, largest output difference).
  Raises:
    ValueError: the two disagree by more than TOLERANCE (the file is
      removed), or an output is missing.
  """
  path = os.path.join(saved_model_dir, ONNX_FILE)
  feeds = sample_feeds(vocab_size, seq_length)
  graph_def, inputs, outputs, expected = frozen_signature(
      saved_model_dir, feeds=feeds)
  convert(graph_def, inputs, outputs, path)
  del graph_def
  try:
    difference = max_difference(expected, run_onnx(path, feeds))
    if not difference <= TOLERANCE:
      raise ValueError(
          "%s differs from the SavedModel by %.3g on sample inputs (more "
          "than %g)" % (ONNX_FILE, difference, TOLERANCE))
  except BaseException:
    os.remove(path)
    raise
  return path, difference
