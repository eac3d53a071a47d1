"""Post-training int8 quantisation of a frozen BERT graph, for serving on CPU.

`quantize_dense_matmuls` rewrites every dense layer of a frozen GraphDef
(a float32 `MatMul` whose weight is a constant, with the `BiasAdd` after it)
into TensorFlow's own int8 kernels, the oneDNN ones that an x86 TensorFlow
runs by default:

  x (float32)  --Min/Max--> the tensor's range [lo, hi], lo <= 0 <= hi, at
                            run time (dynamic: no calibration data needed)
               --QuantizeV2 MIN_COMBINED-->
                            u8 = round((x - lo) * 255 / (hi - lo))
  QuantizedMatMulWithBiasAndDequantize(u8, w_s8, bias')  (u8 x s8 -> s32
                            on VNNI / AMX, dequantised to float32 with the
                            bias added, in one oneDNN primitive)
  * s                       the weight's scale per output channel

with the weights quantised once, here, per output channel:
s[j] = max_k |W[k, j]| / 127 and w_s8 = round(W / s) (63 instead of 127
on a CPU without int8 dot products, where larger weights saturate:
`WEIGHT_MAX_WITHOUT_DOT_PRODUCTS`). The kernel is run in
its SCALED mode over the shifted activations (it would otherwise sum the
weights again on every call to compensate the zero point), and the shift is
put back through the bias: since x ~ lo + (hi - lo) / 255 * u8 (QuantizeV2
shifts by lo exactly; measured, a shift rounded to whole steps is further
off),

  x @ W + b ~ s * ((hi - lo) / 255 * (u8 @ w_s8) + lo * colsum(w_s8) + b / s)

so bias' = lo * colsum(w_s8) + b / s, a vector computed per call. Layers
that read the same tensor (query, key and value) share its quantisation.
The kernel itself is given the constant range [0, 255] (a step of 1) and
the bias in steps, bias' * 255 / (hi - lo); the step (hi - lo) / 255 joins
s in the multiply after it. TensorFlow caches the kernel's oneDNN
primitive under the range's value, so a range that changed on every call
would build a new primitive for every layer of every request (measured:
0.07-0.13 ms a layer). A layer whose GELU runs in blocks (below) keeps
the range in the kernel, since the blocks' matrix is a constant.

A dense layer followed by `modeling.gelu` or `modeling.gelu_exact` (the
feed-forward layer) keeps its GELU's nodes, but they read the dequantised
output in 16-wide blocks through a float32 matmul by a 16 x 16 diagonal
matrix and a bias add: the form grappler's remapper fuses into one oneDNN
matmul with a GELU epilogue, as it does in the float32 graph (TensorFlow
2.15 has no int8 matmul with that epilogue). The GELU is the same function
to float rounding, computed in one pass over the [tokens, intermediate]
activation instead of seven. When a dense layer alone reads the GELU (the
feed-forward output layer), the diagonal also does the dequantising
multiply: the intermediate channels are reordered, the reader's weight
rows with them (exact in float32), so that the per-channel scales repeat
every 16 channels, each channel quantised with the largest scale among
its 1/16 of the channels sorted by scale (`quantize_weights_in_groups`);
otherwise the diagonal is the identity. The layer reading the GELU
quantises its outputs over [-0.1701, max]: the GELU's minimum bounds them,
so no Min pass is needed.

Everything else (embeddings, attention's batched products, layer norm,
softmax, the classifier's few-label output layer) stays float32. The result
is a plain GraphDef of standard ops: a SavedModel holding it runs in
TensorFlow, TF Serving (an x86 build with oneDNN) and `saved_model_cli`.
The kernels exist only with oneDNN on (`TF_ENABLE_ONEDNN_OPTS` not 0;
`quiet_tensorflow` turns it on where TensorFlow would leave it off).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import math
import os

import numpy as np
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import cpu_features

QUANTIZED_MATMUL = "QuantizedMatMulWithBiasAndDequantize"

# The same mapping as MIN_FIRST (u8 = round((x - lo) * 255 / (hi - lo))),
# in TensorFlow's own kernel, which takes a sixth of the time of oneDNN's
# MIN_FIRST one on BERT-base's activations (measured: 13 ms of a 370 ms
# batch of 8 x 128 tokens saved, the outputs unchanged).
QUANTIZE_MODE = b"MIN_COMBINED"

# A dense layer narrower than this on either side stays float32: the
# classifier's output layer (a few labels) costs nothing and decides the
# answer, so it keeps full precision.
MIN_WIDTH = 32

# What a SavedModel's bert_export.json says of an int8 export.
DESCRIPTION = ("dense layers int8: weights per output channel, activations "
               "uint8 per tensor at run time (TensorFlow's oneDNN "
               "QuantizedMatMulWithBiasAndDequantize); the rest float32")

# The result of a rewrite: the names of the MatMul nodes quantised and of
# those left float32, each with why.
Report = collections.namedtuple("Report", ["quantized", "kept"])

# The largest int8 weight. Without int8 dot-product instructions oneDNN
# adds each pair of u8 x s8 products into 16 bits (AVX2's `vpmaddubsw`),
# which saturates above 32767: 255 * 127 * 2 overflows, 255 * 63 * 2 does
# not, so 7-bit weights give the exact int32 sums there (one bit of weight
# resolution less; ONNX Runtime's `reduce_range` is the same idea).
WEIGHT_MAX = 127
WEIGHT_MAX_WITHOUT_DOT_PRODUCTS = 63

# What an int8 model gains on such a CPU: there oneDNN's int8 matmul packs
# the weights on every call (no blocked int8 kernel), and the quantising
# ops cost more than the narrower products save. Paired through the
# predictor on an AVX2-only AMD EPYC, int8 against float32: BERT-base
# 0.91-0.98x for single requests of 26 tokens and 1.02-1.04x at batch 32;
# 6 layers x 384 (all-MiniLM-L6-v2's shape) 0.79-0.84x and 0.98-0.99x.
SPEED_WITHOUT_DOT_PRODUCTS = (
    "Here the int8 model predicts at about float32's speed or slower "
    "(measured on an AVX2-only CPU: 0.8-1.04x float32's): it is for serving "
    "on a CPU with AVX512_VNNI, AVX_VNNI or AMX (1.7-3x float32 there).")


def weight_max_here():
  """The largest int8 weight whose sums are exact on this CPU."""
  if cpu_features.int8_support() == "none":
    return WEIGHT_MAX_WITHOUT_DOT_PRODUCTS
  return WEIGHT_MAX


def onednn_disabled():
  """Why this process cannot run the int8 kernels, or None if it can."""
  if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip() == "0":
    return ("TF_ENABLE_ONEDNN_OPTS=0 turns off TensorFlow's oneDNN kernels, "
            "which the int8 model needs: unset it")
  if not _int8_kernels_run():
    return ("TensorFlow's oneDNN kernels, which the int8 model needs, are off "
            "in this process (TensorFlow 2.15 leaves them off on a CPU "
            "without AVX512_VNNI, AVX512_BF16 or AMX unless "
            "TF_ENABLE_ONEDNN_OPTS=1 is set before it is imported, which "
            "this project's modules do when imported first): set "
            "TF_ENABLE_ONEDNN_OPTS=1 before the process starts")
  return None


_KERNELS_RUN = []


def _int8_kernels_run():
  """Whether an int8 dense layer runs in this process (checked once).

  The op is registered either way, but its oneDNN kernel is there only if
  oneDNN was on when TensorFlow was imported; without it the op's stand-in
  kernel returns no output ("Missing 0-th output"). TensorFlow's own
  IsMklEnabled() can say yes when the variable was set after the import,
  so the only sure answer is to run one."""
  if not _KERNELS_RUN:
    with tf.Graph().as_default() as graph:
      x = tf.placeholder(tf.float32, [None, 4], name="x")
      tf.matmul(x, tf.constant(np.eye(4, dtype=np.float32)), name="y")
    quantized, _ = quantize_dense_matmuls(graph.as_graph_def(), min_width=1)
    with tf.Graph().as_default():
      tf.import_graph_def(quantized, name="")
      with tf.Session() as sess:
        try:
          sess.run("y:0", {"x:0": np.ones([1, 4], np.float32)})
          _KERNELS_RUN.append(True)
        except tf.errors.InternalError:
          _KERNELS_RUN.append(False)
  return _KERNELS_RUN[0]


def saturates_here(weight_max):
  """None, or (where a model with int8 weights up to `weight_max` does not
  sum exactly on this CPU) why it is less exact here: a line for the
  loader's log."""
  if weight_max <= weight_max_here():
    return None
  return ("its weights reach %d and this CPU has no int8 dot-product "
          "instructions (AVX512_VNNI, AVX_VNNI or AMX; or ONEDNN_MAX_CPU_ISA "
          "caps them off), so oneDNN's int8 matmuls add each pair of "
          "u8 x s8 products in 16 bits, which saturates: outputs are further "
          "from float32's (measured: all-MiniLM-L6-v2 within 0.5 points of "
          "accuracy on MRPC and SST-2); an export made on this CPU uses "
          "weights up to %d, which do not saturate" %
          (weight_max, WEIGHT_MAX_WITHOUT_DOT_PRODUCTS))


def quantize_weights(weights, weight_max=WEIGHT_MAX):
  """(int8 weights, float32 scale per output channel) of a [K, N] matrix,
  each column's largest value on +-`weight_max`.

  A column of zeros gets the scale 1 (its int8 values are all 0).
  """
  weights = np.asarray(weights, dtype=np.float32)
  scale = np.abs(weights).max(axis=0) / float(weight_max)
  scale[scale == 0] = 1.0
  quantized = np.clip(np.rint(weights / scale), -weight_max,
                      weight_max).astype(np.int8)
  return quantized, scale.astype(np.float32)


def quantize_weights_in_groups(weights, groups=None, weight_max=WEIGHT_MAX):
  """(order, int8 weights, scale per output channel) of a [K, N] matrix
  whose columns are reordered, `weights[:, order]`, so that the scales
  repeat every `groups` columns (GELU_BLOCK by default; N a multiple): the
  columns sorted by their own scale (`quantize_weights`) fall in `groups`
  runs of N / groups, each quantised with its run's largest scale, and
  column p of the result belongs to run p % groups. Neighbours in the
  sorted order have near-equal scales, so each column loses little
  resolution to its run's largest."""
  groups = groups or GELU_BLOCK
  weights = np.asarray(weights, dtype=np.float32)
  own = np.abs(weights).max(axis=0) / float(weight_max)
  units = own.size
  per_group = units // groups
  ranked = np.argsort(own, kind="stable")
  rank = np.arange(units)
  order = np.empty(units, np.int64)
  order[(rank % per_group) * groups + rank // per_group] = ranked
  group_scale = own[ranked].reshape(groups, per_group).max(axis=1)
  group_scale[group_scale == 0] = 1.0
  scale = np.tile(group_scale, per_group).astype(np.float32)
  quantized = np.clip(np.rint(weights[:, order] / scale), -weight_max,
                      weight_max).astype(np.int8)
  return order, quantized, scale


def quantize_dense_matmuls(graph_def, min_width=MIN_WIDTH, weight_max=None):
  """Returns (the rewritten GraphDef, a `Report`); see the module doc.

  Args:
    graph_def: a frozen GraphDef (weights are constants).
    min_width: a matmul with fewer input or output units stays float32.
    weight_max: the largest int8 weight: 127, or 63 for sums that are exact
      on every CPU; by default the largest exact on this one
      (`weight_max_here`).
  """
  graph = _Graph(graph_def, weight_max or weight_max_here())
  quantized, kept = [], []
  # (By name, in the copy: a rewrite may change a later layer's weight.)
  for name in [n.name for n in graph.graph_def.node if n.op == "MatMul"]:
    node = graph.nodes[name]
    why_not = _why_not_quantizable(graph, node, min_width)
    if why_not:
      kept.append((node.name, why_not))
      continue
    _rewrite(graph, node)
    quantized.append(node.name)
  return graph.pruned(), Report(quantized, kept)


class _Graph(object):
  """A GraphDef being rewritten: nodes by name and who reads them."""

  def __init__(self, graph_def, weight_max):
    self.graph_def = tf.GraphDef()
    self.graph_def.CopyFrom(graph_def)
    self.nodes = {n.name: n for n in self.graph_def.node}
    self.released = set()
    self.weight_max = weight_max
    self.quantized_inputs = {}
    self.input_steps = {}
    # Tensors with a known lower bound (GELU outputs): no Min over them.
    self.lower_bounds = {}

  def readers(self, name):
    """The nodes with an input from output 0 of node `name`."""
    return [n for n in self.graph_def.node
            if any(_source(i) == name and not i.startswith("^")
                   for i in n.input)]

  def constant(self, name):
    """The value of the constant that `name` reads through Identity nodes,
    or None if it is not a constant."""
    node = self.nodes.get(_source(name))
    while node is not None and node.op == "Identity":
      node = self.nodes.get(_source(node.input[0]))
    if node is None or node.op != "Const":
      return None
    return tf.make_ndarray(node.attr["value"].tensor)

  def add(self, op, name, inputs=(), **attrs):
    node = self.graph_def.node.add(op=op, name=name)
    node.input.extend(inputs)
    for key, value in attrs.items():
      node.attr[key].CopyFrom(value)
    self.nodes[name] = node
    return name

  def add_constant(self, name, value, dtype=None):
    value = np.asarray(value)
    return self.add("Const", name,
                    dtype=_type(dtype or tf.as_dtype(value.dtype)),
                    value=tf.AttrValue(tensor=tf.make_tensor_proto(
                        value, dtype=dtype)))

  def remove(self, name):
    node = self.nodes.pop(name)
    self.graph_def.node.remove(node)

  def release(self, name):
    """Marks the node that input `name` reads as possibly unread now."""
    self.released.add(_source(name))

  def pruned(self):
    """The GraphDef without the released constants (and Identity reads of
    them) that nothing reads any more: the float32 weights replaced."""
    while self.released:
      read = set(_source(i) for n in self.graph_def.node for i in n.input)
      unread = [name for name in self.released
                if name in self.nodes and name not in read and
                self.nodes[name].op in ("Const", "Identity")]
      self.released = set()
      for name in unread:
        for source in self.nodes[name].input:
          self.release(source)
        self.remove(name)
    return self.graph_def


def _why_not_quantizable(graph, node, min_width):
  if node.attr["T"].type != tf.float32.as_datatype_enum:
    return "not float32"
  if node.attr["transpose_a"].b:
    return "transposed input"
  weights = graph.constant(node.input[1])
  if weights is None or weights.ndim != 2:
    return "its weight is not a constant matrix"
  if min(weights.shape) < min_width:
    return "narrower than %d units" % min_width
  return None


def _bias_after(graph, node, units):
  """(the node adding a constant [units] bias to `node`'s output, the bias)
  if that node is its only reader, else (None, None)."""
  readers = graph.readers(node.name)
  if len(readers) != 1 or readers[0].op not in ("BiasAdd", "Add", "AddV2"):
    return None, None
  adder = readers[0]
  if _source(adder.input[0]) != node.name or adder.input[0].endswith(":1"):
    return None, None
  if adder.op == "BiasAdd" and adder.attr["data_format"].s not in (
      b"", b"NHWC"):
    return None, None
  bias = graph.constant(adder.input[1])
  if bias is None or bias.shape != (units,):
    return None, None
  return adder, bias


def _rewrite(graph, node):
  """Replaces MatMul `node` (and the bias addition after it) with the int8
  subgraph of the module doc, whose last node takes the replaced name."""
  weights = graph.constant(node.input[1])
  if node.attr["transpose_b"].b:
    weights = weights.T
  units = weights.shape[1]
  adder, bias = _bias_after(graph, node, units)
  if bias is None:
    bias = np.zeros([units], np.float32)
  out_name = adder.name if adder is not None else node.name
  # (The GELU's blocks need every row to fill whole ones.)
  gelu_out = (_gelu_after(graph, out_name) if units % GELU_BLOCK == 0
              else None)
  next_layer = (_dense_reading(graph, gelu_out.name, units)
                if gelu_out is not None else None)
  if next_layer:
    # The scales go into the GELU blocks' matrix instead of a multiply.
    order, quantized, scale = quantize_weights_in_groups(
        weights, weight_max=graph.weight_max)
    bias = bias[order]
  else:
    quantized, scale = quantize_weights(weights, graph.weight_max)
  x = node.input[0]
  device = node.device
  prefix = node.name + "/int8/"
  f32 = _type(tf.float32)

  def c(name, value, dtype=None):
    return graph.add_constant(prefix + name, value, dtype)

  zero = c("zero", np.float32(0))
  quantize, q_lo, width = _quantized_input(graph, x, prefix)
  column_sums = quantized.astype(np.int64).sum(axis=0).astype(np.float32)
  shifted_bias = graph.add("AddV2", prefix + "bias", [
      graph.add("Mul", prefix + "zero_point_term",
                [q_lo, c("column_sums", column_sums)], T=f32),
      c("bias_over_scale", (bias / scale).astype(np.float32))], T=f32)
  if gelu_out is None:
    # A constant range for the kernel (see the module doc), the step after.
    kernel_range, step, steps_per_unit = _input_step(graph, x, prefix)
    kernel_bias = graph.add("Mul", prefix + "bias_in_steps",
                            [shifted_bias, steps_per_unit], T=f32)
  else:
    # (The GELU blocks' constant matrix scales their input; the step stays
    # in the kernel.)
    kernel_bias, kernel_range = shifted_bias, width
  matmul = graph.add(
      QUANTIZED_MATMUL, prefix + "matmul",
      [quantize, c("weights", quantized, tf.qint8), kernel_bias,
       zero, kernel_range, c("weight_min", np.float32(-127)),
       c("weight_max", np.float32(127)), zero, zero],
      T1=_type(tf.quint8), T2=_type(tf.qint8), Tbias=f32, Toutput=f32,
      transpose_a=tf.AttrValue(b=False), transpose_b=tf.AttrValue(b=False),
      input_quant_mode=tf.AttrValue(s=b"SCALED"))
  if adder is not None:
    graph.release(adder.input[1])
    graph.remove(adder.name)
  graph.release(node.input[1])
  graph.remove(node.name)
  if gelu_out is None:
    graph.add("Mul", out_name, [matmul, graph.add(
        "Mul", prefix + "scale_per_step", [c("scale", scale), step], T=f32)],
              T=f32)
  elif next_layer:
    _permute_rows(graph, next_layer, order, prefix)
    _gelu_in_blocks(graph, gelu_out, matmul, out_name, units,
                    prefix + "gelu/", np.diag(scale[:GELU_BLOCK]))
  else:
    dequantized = graph.add("Mul", prefix + "dequantized",
                            [matmul, c("scale", scale)], T=f32)
    _gelu_in_blocks(graph, gelu_out, dequantized, out_name, units,
                    prefix + "gelu/", np.eye(GELU_BLOCK))
  for name in [n for n in graph.nodes if n.startswith(prefix)] + [out_name]:
    graph.nodes[name].device = device


# The width of the blocks a GELU after an int8 layer runs over (see
# `_gelu_in_blocks`): the matmul by a 16 x 16 identity costs 32 flops per
# element and reads and writes it once, where the GELU as separate ops
# reads and writes it seven times (measured on [1024, 3072]: 5.2 -> 3.2 ms
# with the scale multiply; widths 4, 8 and 32 were slower).
GELU_BLOCK = 16
# The blocks' bias: grappler drops a bias add of zeros, and the remapper
# then leaves the GELU unfused; the smallest normal float32 changes no
# value but one below 1e-30 in magnitude.
_NOT_ZERO = float(np.finfo(np.float32).tiny)

# modeling.gelu's constants.
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_CUBE = 0.044715
# Below every value the GELU takes (the tanh form's minimum is -0.170041,
# at -0.7525, the erf form's -0.169971; the float32 forms' are the same to
# 1e-7): the low end of the range its outputs are quantised over, instead
# of a Min over the activation.
_GELU_LOW = -0.1701


def _gelu_after(graph, x):
  """The last node of `modeling.gelu(x)` or `modeling.gelu_exact(x)` (the
  erf form of converted Hugging Face models) if that GELU's nodes are all
  that reads node `x`, else None."""
  return _tanh_gelu_after(graph, x) or _erf_gelu_after(graph, x)


def _chain(graph, first, links):
  """[first, and after it each link's node], or None: each link is (op
  types, the check on the node found), and every node but the last has
  that one reader."""
  chain = [first]
  for ops, check in links:
    node = _only_reader(graph, chain[-1].name, *ops)
    if node is None or not check(node, chain):
      return None
    chain.append(node)
  return chain


def _tanh_gelu_after(graph, x):
  """`_gelu_after` for 0.5 * x * (1 + tanh(c * (x + 0.044715 * x^3)))."""
  readers = graph.readers(x)
  half = _one(readers, lambda n: _mul_of(graph, n, x, 0.5))
  square = _one(readers, lambda n: n.op == "Square" or (
      n.op == "Mul" and [_source(i) for i in n.input] == [x, x]))
  if half is None or square is None:
    return None
  chain = _chain(graph, square, (
      (("Mul",), lambda n, c: _inputs(n) == sorted([square.name, x])),
      (("Mul",), lambda n, c: _mul_of(graph, n, c[1].name, _GELU_CUBE)),
      (("AddV2", "Add"), lambda n, c: _inputs(n) == sorted([x, c[2].name])),
      (("Mul",), lambda n, c: _mul_of(graph, n, c[3].name, _GELU_C)),
      (("Tanh",), lambda n, c: True),
      (("AddV2", "Add"), lambda n, c: _add_of(graph, n, c[5].name, 1.0))))
  if chain is None:
    return None
  out = _only_reader(graph, half.name, "Mul")
  if (out is None or _only_reader(graph, chain[-1].name, "Mul") is not out or
      _inputs(out) != sorted([half.name, chain[-1].name]) or
      set(n.name for n in readers) != set(
          n.name for n in (half, square, chain[1], chain[3]))):
    return None
  return out


def _erf_gelu_after(graph, x):
  """`_gelu_after` for x * (0.5 * (1 + erf(x / sqrt(2))))."""
  def is_scaled(node):
    if node.op == "RealDiv":
      return (_source(node.input[0]) == x and
              _with_scalar(graph, node, x, math.sqrt(2.0)))
    return _mul_of(graph, node, x, 1 / math.sqrt(2.0))

  readers = graph.readers(x)
  scaled = _one(readers, is_scaled)
  if scaled is None or len(readers) != 2:
    return None
  chain = _chain(graph, scaled, (
      (("Erf",), lambda n, c: True),
      (("AddV2", "Add"), lambda n, c: _add_of(graph, n, c[1].name, 1.0)),
      (("Mul",), lambda n, c: _mul_of(graph, n, c[2].name, 0.5)),
      (("Mul",), lambda n, c: _inputs(n) == sorted([x, c[3].name]))))
  # Its last node reads `x` (checked above), so with `scaled` it is all
  # that reads it.
  return chain[-1] if chain else None


def _gelu_in_blocks(graph, gelu_out, z_name, x_name, units, prefix, matrix):
  """Runs the GELU whose last node is `gelu_out` (its own nodes) over
  [n * units / GELU_BLOCK, GELU_BLOCK] blocks of node `z_name`, behind a
  float32 matmul by the diagonal `matrix` (the identity, or the channels'
  scales when they repeat every GELU_BLOCK channels) and a bias add (node
  `x_name`, which the GELU reads): the form grappler's remapper fuses into
  one oneDNN matmul with a GELU epilogue, as in the float32 graph. Its
  output, reshaped back to [n, units], keeps the GELU output's name. (The
  matrix's zeros would spread an inf in a block to its neighbours as NaN;
  outputs with an inf in the feed-forward layer are lost either way.)"""
  f32 = _type(tf.float32)
  i32 = _type(tf.int32)

  def c(name, value, dtype=None):
    return graph.add_constant(prefix + name, value, dtype)

  blocks = graph.add("Reshape", prefix + "blocks", [
      z_name, c("block_shape", np.array([-1, GELU_BLOCK], np.int32))],
                     T=f32, Tshape=i32)
  diagonal = graph.add(
      "MatMul", prefix + "diagonal",
      [blocks, c("matrix", matrix.astype(np.float32))], T=f32,
      transpose_a=tf.AttrValue(b=False), transpose_b=tf.AttrValue(b=False))
  graph.add("BiasAdd", x_name, [diagonal, c("bias", np.full(
      [GELU_BLOCK], _NOT_ZERO, np.float32))], T=f32,
            data_format=tf.AttrValue(s=b"NHWC"))
  out_name = gelu_out.name
  del graph.nodes[out_name]
  gelu_out.name = prefix + "output_blocks"
  graph.nodes[gelu_out.name] = gelu_out
  graph.add("Reshape", out_name, [
      gelu_out.name, c("shape", np.array([-1, units], np.int32))], T=f32,
            Tshape=i32)
  graph.lower_bounds[out_name] = _GELU_LOW


def _dense_reading(graph, name, units):
  """The MatMul node that alone reads node `name` ([n, units]) by a
  constant matrix, or None."""
  readers = graph.readers(name)
  if len(readers) != 1 or readers[0].op != "MatMul":
    return None
  matmul = readers[0]
  if (matmul.input[0] != name or matmul.attr["transpose_a"].b or
      matmul.attr["T"].type != tf.float32.as_datatype_enum):
    return None
  weights = graph.constant(matmul.input[1])
  rows = 1 if matmul.attr["transpose_b"].b else 0
  if weights is None or weights.ndim != 2 or weights.shape[rows] != units:
    return None
  return matmul


def _permute_rows(graph, matmul, order, prefix):
  """Makes MatMul `matmul` read its input's columns in `order`: its
  weight's rows (columns if transposed) reordered to match."""
  weights = graph.constant(matmul.input[1])
  if matmul.attr["transpose_b"].b:
    permuted = weights[:, order]
  else:
    permuted = weights[order]
  graph.release(matmul.input[1])
  matmul.input[1] = graph.add_constant(prefix + "reader_weights",
                                       permuted.astype(np.float32))


def _inputs(node):
  return sorted(_source(i) for i in node.input)


def _one(nodes, matches):
  found = [n for n in nodes if matches(n)]
  return found[0] if len(found) == 1 else None


def _only_reader(graph, name, *ops):
  readers = graph.readers(name)
  if len(readers) == 1 and readers[0].op in ops:
    return readers[0]
  return None


def _mul_of(graph, node, name, value):
  """Whether `node` multiplies node `name` by the scalar `value`."""
  return node.op == "Mul" and _with_scalar(graph, node, name, value)


def _add_of(graph, node, name, value):
  return node.op in ("AddV2", "Add") and _with_scalar(graph, node, name,
                                                       value)


def _with_scalar(graph, node, name, value):
  sources = [_source(i) for i in node.input]
  if len(sources) != 2 or name not in sources:
    return False
  other = node.input[1 - sources.index(name)]
  constant = graph.constant(other)
  return (constant is not None and constant.size == 1 and
          abs(float(constant.reshape(())) - value) <= 1e-6 * abs(value))


def _quantized_input(graph, x, prefix):
  """(uint8 tensor, its range's low end, the range's width) of input `x`,
  added once per input: query, key and value share theirs. Its nodes are
  named under `prefix`, whose device `_rewrite` sets."""
  if x in graph.quantized_inputs:
    return graph.quantized_inputs[x]
  f32 = _type(tf.float32)
  axes = graph.add_constant(prefix + "axes", np.array([0, 1], np.int32))
  zero = graph.add_constant(prefix + "input_zero", np.float32(0))

  def reduced(op, name, bound):
    return graph.add(bound, prefix + name, [
        graph.add(op, prefix + name + "_of_input", [x, axes], T=f32,
                  Tidx=_type(tf.int32), keep_dims=tf.AttrValue(b=False)),
        zero], T=f32)

  # The range includes 0, so that zero padding stays exactly 0.
  if x in graph.lower_bounds:
    lo = graph.add_constant(prefix + "lo", np.float32(graph.lower_bounds[x]))
  else:
    lo = reduced("Min", "lo", "Minimum")
  hi = reduced("Max", "hi", "Maximum")
  quantize = graph.add("QuantizeV2", prefix + "quantize", [x, lo, hi],
                       T=_type(tf.quint8),
                       mode=tf.AttrValue(s=QUANTIZE_MODE))
  width = graph.add("Sub", prefix + "range",
                    [quantize + ":2", quantize + ":1"], T=f32)
  graph.quantized_inputs[x] = (quantize, quantize + ":1", width)
  return graph.quantized_inputs[x]


def _input_step(graph, x, prefix):
  """(the constant 255, one uint8 step of quantised input `x`'s range and
  steps per unit: width / 255 and 255 / width), added once per input,
  under `prefix`."""
  if x not in graph.input_steps:
    f32 = _type(tf.float32)
    width = graph.quantized_inputs[x][2]
    levels = graph.add_constant(prefix + "levels", np.float32(255))
    graph.input_steps[x] = (
        levels,
        graph.add("RealDiv", prefix + "step", [width, levels], T=f32),
        graph.add("RealDiv", prefix + "steps_per_unit", [levels, width],
                  T=f32))
  return graph.input_steps[x]


def _source(input_name):
  """The node name of a NodeDef input ("^a", "a:1" -> "a")."""
  return input_name.lstrip("^").split(":")[0]


def _type(dtype):
  return tf.AttrValue(type=tf.as_dtype(dtype).as_datatype_enum)
