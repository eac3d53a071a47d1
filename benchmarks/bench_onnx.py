"""ONNX Runtime as a peer in the benchmarks: the serving system teams compare with.

The ONNX model is built from this project's own graph (`modeling.BertModel`
plus the classifier layer, the weights the TensorFlow rows use), frozen and
converted by tf2onnx, so that both sides compute the same function on the
same inputs. Three variants, as a team serving on CPU would try them:

  ort-fp32    the converted graph as it is;
  ort-fused   after onnxruntime.transformers' BERT fusions (attention,
              layer norm, GELU, embedding; `model_type="bert_tf"`, the
              optimizer's pattern set for TensorFlow-converted BERT);
  ort-int8    the fused graph with dynamic int8 quantisation of its
              matmuls (`onnxruntime.quantization.quantize_dynamic`, int8
              weights, activations quantised per call).

The peer is optional (`pip install onnxruntime tf2onnx onnx`); the
benchmarks print a line and skip its rows when it does not import.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os

ORT_CONFIGS = ("ort-fp32", "ort-fused", "ort-int8")


def available():
  """Whether onnxruntime, onnx and tf2onnx all import."""
  try:
    import onnx  # pylint: disable=g-import-not-at-top,unused-import
    import onnxruntime  # pylint: disable=g-import-not-at-top,unused-import
    import tf2onnx  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


def versions():
  import onnxruntime  # pylint: disable=g-import-not-at-top
  import tf2onnx  # pylint: disable=g-import-not-at-top
  return "onnxruntime %s, tf2onnx %s" % (onnxruntime.__version__,
                                         tf2onnx.__version__)


def frozen_classifier(build_logits, seq_length):
  """(graph_def, input names, output name) of `build_logits(ids, mask)`
  with its variables folded into constants (random initial values).

  The batch dimension is left open, so that one model serves every batch
  size; the sequence length is fixed, as in the TensorFlow rows."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default() as graph:
    ids = tf.placeholder(tf.int32, [None, seq_length], name="input_ids")
    mask = tf.placeholder(tf.int32, [None, seq_length], name="input_mask")
    logits = tf.identity(build_logits(ids, mask), name="logits")
    with tf.Session(graph=graph) as sess:
      sess.run(tf.global_variables_initializer())
      graph_def = tf.graph_util.convert_variables_to_constants(
          sess, graph.as_graph_def(), [logits.op.name])
  return graph_def, ["input_ids:0", "input_mask:0"], "logits:0"


def convert(graph_def, input_names, output_name, path):
  """Writes the ONNX model of a frozen graph to `path`."""
  from tf2onnx import tfonnx  # pylint: disable=g-import-not-at-top,unused-import
  import tf2onnx  # pylint: disable=g-import-not-at-top
  tf2onnx.convert.from_graph_def(
      graph_def, input_names=input_names, output_names=[output_name],
      opset=17, output_path=path)
  return path


def fuse(path, out_path, num_heads, hidden_size):
  """onnxruntime.transformers' BERT fusions; logs how many it applied."""
  from onnxruntime.transformers import optimizer  # pylint: disable=g-import-not-at-top
  model = optimizer.optimize_model(
      path, model_type="bert_tf", num_heads=num_heads,
      hidden_size=hidden_size, opt_level=1)
  model.save_model_to_file(out_path)
  return out_path, model.get_fused_operator_statistics()


def quantize(path, out_path):
  """Dynamic int8 quantisation of the matmuls (weights int8 per tensor)."""
  from onnxruntime.quantization import QuantType  # pylint: disable=g-import-not-at-top
  from onnxruntime.quantization import quantize_dynamic  # pylint: disable=g-import-not-at-top
  quantize_dynamic(path, out_path, weight_type=QuantType.QInt8)
  return out_path


def build_models(directory, graph_def, inputs, output, num_heads,
                 hidden_size):
  """{config name: .onnx path} for every ORT configuration of a frozen
  graph (`frozen_classifier`)."""
  plain = convert(graph_def, inputs, output,
                  os.path.join(directory, "bert_fp32.onnx"))
  fused, _ = fuse(plain, os.path.join(directory, "bert_fused.onnx"),
                  num_heads, hidden_size)
  int8 = quantize(fused, os.path.join(directory, "bert_int8.onnx"))
  return {"ort-fp32": plain, "ort-fused": fused, "ort-int8": int8}


def session(path, threads=None):
  """An InferenceSession on the CPU with `threads` intra-op threads (default
  every core, as the TensorFlow rows use), all graph optimisations on."""
  import onnxruntime as ort  # pylint: disable=g-import-not-at-top
  options = ort.SessionOptions()
  options.intra_op_num_threads = threads or os.cpu_count()
  options.inter_op_num_threads = 1
  options.graph_optimization_level = (
      ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
  sess = ort.InferenceSession(path, options,
                              providers=["CPUExecutionProvider"])
  names = [i.name for i in sess.get_inputs()]

  def run(ids, mask):
    return sess.run(None, dict(zip(names, (ids, mask))))[0]

  return run
