"""ONNX Runtime as a peer in the benchmarks: the serving system teams compare with.

The ONNX model comes from one of two sources (`--onnx_source`):

  hf       Hugging Face `BertForSequenceClassification` of the same shape,
           exported by `torch.onnx.export`: the graph onnxruntime's BERT
           fusions are written for, so the strongest peer (needs the
           optional `transformers` and `torch`);
  project  this project's own graph (`modeling.BertModel` plus the
           classifier layer), frozen and converted by tf2onnx: the same
           function as the TensorFlow rows, but onnxruntime's fusion
           patterns find nothing in it (0 fused operators, said in the
           output), so it is the weaker peer.

`auto` (the default) takes hf when it imports. Three variants, as a team
serving on CPU would try them:

  ort-fp32    the converted graph as it is;
  ort-fused   after onnxruntime.transformers' BERT fusions (attention,
              skip layer norm, GELU, embedding layer norm);
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

import bench_common

ORT_CONFIGS = ("ort-fp32", "ort-fused", "ort-int8")


def _imports(*names):
  try:
    for name in names:
      __import__(name)
  except ImportError:
    return False
  return True


def available(source):
  """Whether what `source` ("hf" or "project") needs imports."""
  if source == "hf":
    return _imports("onnx", "onnxruntime", "torch", "transformers")
  return _imports("onnx", "onnxruntime", "tf2onnx")


def resolve_source(source):
  """"auto" -> "hf" where transformers imports, else "project"."""
  if source != "auto":
    return source
  return "hf" if available("hf") else "project"


def versions(source):
  import onnxruntime  # pylint: disable=g-import-not-at-top
  if source == "hf":
    import torch  # pylint: disable=g-import-not-at-top
    import transformers  # pylint: disable=g-import-not-at-top
    return "onnxruntime %s, transformers %s, torch %s" % (
        onnxruntime.__version__, transformers.__version__, torch.__version__)
  import tf2onnx  # pylint: disable=g-import-not-at-top
  return "onnxruntime %s, tf2onnx %s" % (onnxruntime.__version__,
                                         tf2onnx.__version__)


def frozen_classifier(build_logits, seq_length):
  """(graph_def, input names, output name) of `build_logits(ids, mask)`
  with its variables folded into constants (random values).

  The batch dimension is left open, so that one model serves every batch
  size; the sequence length is fixed, as in the TensorFlow rows. The
  variables are perturbed (`bench_common.perturb_variables`) as a trained
  model's would be."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default() as graph:
    ids = tf.placeholder(tf.int32, [None, seq_length], name="input_ids")
    mask = tf.placeholder(tf.int32, [None, seq_length], name="input_mask")
    logits = tf.identity(build_logits(ids, mask), name="logits")
    with tf.Session(graph=graph) as sess:
      sess.run(tf.global_variables_initializer())
      bench_common.perturb_variables(sess)
      graph_def = tf.graph_util.convert_variables_to_constants(
          sess, graph.as_graph_def(), [logits.op.name])
  return graph_def, ["input_ids:0", "input_mask:0"], "logits:0"


def convert(graph_def, input_names, output_name, path):
  """Writes the ONNX model of a frozen graph to `path` (as
  `--export_format=onnx` converts: `onnx_export.convert`)."""
  import onnx_export  # pylint: disable=g-import-not-at-top
  return onnx_export.convert(
      graph_def, {name.split(":")[0]: name for name in input_names},
      {"logits": output_name}, path)


def hf_export(path, layers, hidden, seq_length, vocab_size):
  """Exports a random-weight Hugging Face BERT classifier of this shape
  (heads of 64, intermediate 4 x hidden, as `bench_common.bert_logits`)."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  config = transformers.BertConfig(
      vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
      num_attention_heads=hidden // 64, intermediate_size=4 * hidden,
      max_position_embeddings=max(512, seq_length), num_labels=2)
  model = transformers.BertForSequenceClassification(config).eval()
  ids = torch.ones([1, seq_length], dtype=torch.long)
  with torch.no_grad():
    torch.onnx.export(
        model, (ids, ids, torch.zeros_like(ids)), path,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits"], opset_version=17, dynamo=False,
        dynamic_axes=dict({n: {0: "batch", 1: "sequence"} for n in (
            "input_ids", "attention_mask", "token_type_ids")},
                          logits={0: "batch"}))
  return model, path


def fuse(path, out_path, num_heads, hidden_size, model_type):
  """onnxruntime.transformers' BERT fusions; returns the fused operator
  counts, so that a run says whether any pattern matched."""
  from onnxruntime.transformers import optimizer  # pylint: disable=g-import-not-at-top
  model = optimizer.optimize_model(
      path, model_type=model_type, num_heads=num_heads,
      hidden_size=hidden_size, opt_level=1)
  model.save_model_to_file(out_path)
  stats = model.get_fused_operator_statistics()
  return out_path, sum(stats.values())


def quantize(path, out_path):
  """Dynamic int8 quantisation of the matmuls (weights int8 per tensor)."""
  from onnxruntime.quantization import QuantType  # pylint: disable=g-import-not-at-top
  from onnxruntime.quantization import quantize_dynamic  # pylint: disable=g-import-not-at-top
  import onnx  # pylint: disable=g-import-not-at-top
  # The fused operators (com.microsoft domain) defeat ONNX shape
  # inference; their outputs are float32.
  quantize_dynamic(path, out_path, weight_type=QuantType.QInt8,
                   extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
  return out_path


MODEL_FILES = {"ort-fp32": "bert_fp32.onnx", "ort-fused": "bert_fused.onnx",
               "ort-int8": "bert_int8.onnx"}


def build_variants(directory, plain, num_heads, hidden_size, model_type):
  """Fuses and quantises the ONNX model at `plain`; returns the number of
  fused operators. Files are MODEL_FILES in `directory`."""
  fused, fusions = fuse(plain, os.path.join(directory,
                                            MODEL_FILES["ort-fused"]),
                        num_heads, hidden_size, model_type)
  quantize(fused, os.path.join(directory, MODEL_FILES["ort-int8"]))
  return fusions


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
  # The Hugging Face export takes token types and int64 ids.
  dtype = "int64" if "int64" in sess.get_inputs()[0].type else "int32"

  def run(ids, mask):
    feeds = (ids, mask, 0 * ids)[:len(names)]
    return sess.run(None, {n: a.astype(dtype) for n, a in zip(names, feeds)})[0]

  return run
