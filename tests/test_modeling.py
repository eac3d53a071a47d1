"""Tests of modeling.py: names, shapes, numerics against numpy, bad input."""

import json
import math
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import cpu_features
import modeling

VOCAB = 50
HIDDEN = 32
LAYERS = 2
HEADS = 4
INTERMEDIATE = 64
MAX_POS = 24
TYPES = 2


def tiny_config(**overrides):
  kwargs = dict(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
                hidden_act="gelu", hidden_dropout_prob=0.1,
                attention_probs_dropout_prob=0.1,
                max_position_embeddings=MAX_POS, type_vocab_size=TYPES,
                initializer_range=0.02)
  kwargs.update(overrides)
  return modeling.BertConfig(**kwargs)


def official_variable_shapes(num_layers=LAYERS):
  """The variables of an official checkpoint, written out from its naming."""
  shapes = {
      "bert/embeddings/word_embeddings": [VOCAB, HIDDEN],
      "bert/embeddings/token_type_embeddings": [TYPES, HIDDEN],
      "bert/embeddings/position_embeddings": [MAX_POS, HIDDEN],
      "bert/embeddings/LayerNorm/beta": [HIDDEN],
      "bert/embeddings/LayerNorm/gamma": [HIDDEN],
      "bert/pooler/dense/kernel": [HIDDEN, HIDDEN],
      "bert/pooler/dense/bias": [HIDDEN],
  }
  for i in range(num_layers):
    p = "bert/encoder/layer_%d/" % i
    for part in ("query", "key", "value"):
      shapes[p + "attention/self/%s/kernel" % part] = [HIDDEN, HIDDEN]
      shapes[p + "attention/self/%s/bias" % part] = [HIDDEN]
    shapes[p + "attention/output/dense/kernel"] = [HIDDEN, HIDDEN]
    shapes[p + "attention/output/dense/bias"] = [HIDDEN]
    shapes[p + "attention/output/LayerNorm/beta"] = [HIDDEN]
    shapes[p + "attention/output/LayerNorm/gamma"] = [HIDDEN]
    shapes[p + "intermediate/dense/kernel"] = [HIDDEN, INTERMEDIATE]
    shapes[p + "intermediate/dense/bias"] = [INTERMEDIATE]
    shapes[p + "output/dense/kernel"] = [INTERMEDIATE, HIDDEN]
    shapes[p + "output/dense/bias"] = [HIDDEN]
    shapes[p + "output/LayerNorm/beta"] = [HIDDEN]
    shapes[p + "output/LayerNorm/gamma"] = [HIDDEN]
  return shapes


def random_weights(seed=0):
  rng = np.random.RandomState(seed)
  weights = {}
  for name, shape in official_variable_shapes().items():
    if name.endswith("gamma"):
      weights[name] = (1.0 + 0.1 * rng.randn(*shape)).astype(np.float32)
    else:
      weights[name] = (0.3 * rng.randn(*shape)).astype(np.float32)
  return weights


def write_official_checkpoint(path, weights):
  """Writes a checkpoint with a plain Saver, as the official ones were."""
  with tf.Graph().as_default():
    variables = [tf.Variable(value, name=name)
                 for name, value in weights.items()]
    saver = tf.train.Saver(variables)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return saver.save(sess, path)


# ---------------------------------------------------------------------------
# An independent numpy forward pass, written from the paper's equations.


def np_layer_norm(x, gamma, beta, eps=1e-12):
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean) ** 2).mean(-1, keepdims=True)
  return (x - mean) / np.sqrt(var + eps) * gamma + beta


def np_gelu_tanh(x):
  return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def np_gelu_erf(x):
  from math import erf
  return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))


def np_bert(w, ids, mask, types, act=np_gelu_tanh):
  ids = np.asarray(ids)
  b, s = ids.shape
  h = w["bert/embeddings/word_embeddings"][ids]
  h = h + w["bert/embeddings/token_type_embeddings"][np.asarray(types)]
  h = h + w["bert/embeddings/position_embeddings"][:s][None]
  h = np_layer_norm(h, w["bert/embeddings/LayerNorm/gamma"],
                    w["bert/embeddings/LayerNorm/beta"])
  adder = (1.0 - np.asarray(mask, np.float64))[:, None, None, :] * -10000.0
  d = HIDDEN // HEADS
  layers = []
  for i in range(LAYERS):
    p = "bert/encoder/layer_%d/" % i

    def lin(x, name):
      return x @ w[p + name + "/kernel"] + w[p + name + "/bias"]

    def heads(x):
      return x.reshape(b, s, HEADS, d).transpose(0, 2, 1, 3)

    q = heads(lin(h, "attention/self/query"))
    k = heads(lin(h, "attention/self/key"))
    v = heads(lin(h, "attention/self/value"))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + adder
    scores -= scores.max(-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(-1, keepdims=True)
    ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, s, HIDDEN)
    a = np_layer_norm(lin(ctx, "attention/output/dense") + h,
                      w[p + "attention/output/LayerNorm/gamma"],
                      w[p + "attention/output/LayerNorm/beta"])
    f = lin(act(lin(a, "intermediate/dense")), "output/dense")
    h = np_layer_norm(f + a, w[p + "output/LayerNorm/gamma"],
                      w[p + "output/LayerNorm/beta"])
    layers.append(h)
  pooled = np.tanh(h[:, 0] @ w["bert/pooler/dense/kernel"] +
                   w["bert/pooler/dense/bias"])
  return layers, pooled


# ---------------------------------------------------------------------------


def build_and_run(config, ckpt, ids, mask, types, compute_type=tf.float32,
                  is_training=False):
  with tf.Graph().as_default():
    model = modeling.BertModel(
        config=config, is_training=is_training,
        input_ids=tf.constant(ids, tf.int32),
        input_mask=tf.constant(mask, tf.int32),
        token_type_ids=tf.constant(types, tf.int32),
        compute_type=compute_type)
    tvars = tf.trainable_variables()
    assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(
        tvars, ckpt)
    tf.train.init_from_checkpoint(ckpt, assignment_map)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      out = sess.run({
          "sequence": model.get_sequence_output(),
          "pooled": model.get_pooled_output(),
          "layers": model.get_all_encoder_layers(),
          "embedding": model.get_embedding_output(),
      })
    out["initialized"] = initialized
    out["tvars"] = tvars
    return out


IDS = [[2, 7, 11, 13, 4, 0, 0, 0], [2, 21, 4, 33, 41, 49, 4, 0]]
MASK = [[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 0]]
TYPES_ = [[0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1, 0]]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
  weights = random_weights()
  path = str(tmp_path_factory.mktemp("ckpt") / "bert_model.ckpt")
  return weights, write_official_checkpoint(path, weights)


def test_variable_names_and_shapes_match_official_checkpoints():
  with tf.Graph().as_default():
    modeling.BertModel(tiny_config(), False, tf.zeros([2, 8], tf.int32))
    got = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
  assert got == official_variable_shapes()


def test_outputs_match_numpy_reference_after_restore(checkpoint):
  weights, ckpt = checkpoint
  out = build_and_run(tiny_config(), ckpt, IDS, MASK, TYPES_)
  # Every graph variable was found in the checkpoint.
  for v in out["tvars"]:
    assert v.name in out["initialized"]
  ref_layers, ref_pooled = np_bert(weights, IDS, MASK, TYPES_)
  assert out["sequence"].shape == (2, 8, HIDDEN)
  assert out["pooled"].shape == (2, HIDDEN)
  assert len(out["layers"]) == LAYERS
  np.testing.assert_allclose(out["sequence"], ref_layers[-1], atol=1e-5)
  np.testing.assert_allclose(out["layers"][0], ref_layers[0], atol=1e-5)
  np.testing.assert_allclose(out["pooled"], ref_pooled, atol=1e-5)


def test_gelu_exact_activation_matches_erf_form(checkpoint):
  weights, ckpt = checkpoint
  out = build_and_run(tiny_config(hidden_act="gelu_exact"), ckpt, IDS, MASK,
                      TYPES_)
  ref_layers, _ = np_bert(weights, IDS, MASK, TYPES_, act=np_gelu_erf)
  np.testing.assert_allclose(out["sequence"], ref_layers[-1], atol=1e-5)
  tanh_layers, _ = np_bert(weights, IDS, MASK, TYPES_, act=np_gelu_tanh)
  # The two forms differ enough to tell apart.
  assert np.abs(out["sequence"] - tanh_layers[-1]).max() > 1e-5


def test_padding_does_not_change_unpadded_positions(checkpoint):
  _, ckpt = checkpoint
  short_ids = [[2, 7, 11, 13, 4]]
  base = build_and_run(tiny_config(), ckpt, short_ids, [[1] * 5], [[0] * 5])
  # Same sentence, padded with arbitrary (non-zero) ids that are masked out.
  padded_ids = [[2, 7, 11, 13, 4, 30, 31, 32, 33, 34]]
  padded = build_and_run(tiny_config(), ckpt, padded_ids,
                         [[1] * 5 + [0] * 5], [[0] * 10])
  np.testing.assert_allclose(padded["sequence"][:, :5], base["sequence"],
                             atol=1e-5)
  np.testing.assert_allclose(padded["pooled"], base["pooled"], atol=1e-5)
  # Unmasked, the extra tokens do change the outputs.
  unmasked = build_and_run(tiny_config(), ckpt, padded_ids, [[1] * 10],
                           [[0] * 10])
  assert np.abs(unmasked["sequence"][:, :5] - base["sequence"]).max() > 1e-3


def test_bfloat16_compute_is_close_to_float32_and_returns_float32(checkpoint):
  _, ckpt = checkpoint
  fp32 = build_and_run(tiny_config(), ckpt, IDS, MASK, TYPES_)
  bf16 = build_and_run(tiny_config(), ckpt, IDS, MASK, TYPES_,
                       compute_type=tf.bfloat16)
  assert bf16["sequence"].dtype == np.float32
  # bfloat16 keeps 8 bits of mantissa: about 2-3 significant digits.
  np.testing.assert_allclose(bf16["sequence"], fp32["sequence"], atol=0.1)
  assert np.abs(bf16["sequence"] - fp32["sequence"]).mean() < 0.02
  # Variables stay float32 so the checkpoint is unchanged.
  assert all(v.dtype.base_dtype == tf.float32 for v in bf16["tvars"])


def test_dropout_only_in_training(checkpoint):
  _, ckpt = checkpoint
  a = build_and_run(tiny_config(), ckpt, IDS, MASK, TYPES_, is_training=False)
  b = build_and_run(tiny_config(), ckpt, IDS, MASK, TYPES_, is_training=False)
  np.testing.assert_array_equal(a["sequence"], b["sequence"])
  c = build_and_run(tiny_config(hidden_dropout_prob=0.5), ckpt, IDS, MASK,
                    TYPES_, is_training=True)
  assert np.abs(c["sequence"] - a["sequence"]).max() > 1e-2


def test_one_hot_embeddings_equal_gather():
  ids = np.array(IDS)
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    gathered = modeling.BertModel(tiny_config(), False, tf.constant(ids),
                                  scope="bert")
    one_hot = modeling.BertModel(tiny_config(), False, tf.constant(ids),
                                 use_one_hot_embeddings=True, scope="bert2")
    copy_ops = [dst.assign(src) for src, dst in zip(
        tf.global_variables("bert/"), tf.global_variables("bert2/"))]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(copy_ops)
      a, b = sess.run([gathered.get_sequence_output(),
                       one_hot.get_sequence_output()])
  np.testing.assert_allclose(a, b, atol=1e-5)


def test_dynamic_batch_and_sequence_length(checkpoint):
  weights, ckpt = checkpoint
  with tf.Graph().as_default():
    ids = tf.placeholder(tf.int32, [None, None])
    mask = tf.placeholder(tf.int32, [None, None])
    types = tf.placeholder(tf.int32, [None, None])
    model = modeling.BertModel(tiny_config(), False, ids, mask, types)
    amap, _ = modeling.get_assignment_map_from_checkpoint(
        tf.trainable_variables(), ckpt)
    tf.train.init_from_checkpoint(ckpt, amap)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      seq = sess.run(model.get_sequence_output(),
                     {ids: IDS, mask: MASK, types: TYPES_})
  ref_layers, _ = np_bert(weights, IDS, MASK, TYPES_)
  np.testing.assert_allclose(seq, ref_layers[-1], atol=1e-5)


def test_gelu_and_activations():
  x = np.linspace(-5, 5, 101).astype(np.float32)
  with tf.Graph().as_default(), tf.Session() as sess:
    g, ge = sess.run([modeling.gelu(tf.constant(x)),
                      modeling.gelu_exact(tf.constant(x))])
  np.testing.assert_allclose(g, np_gelu_tanh(x), atol=1e-6)
  np.testing.assert_allclose(ge, np_gelu_erf(x), atol=1e-6)
  assert modeling.get_activation("linear") is None
  assert modeling.get_activation("") is None
  assert modeling.get_activation("ReLU") is tf.nn.relu
  assert modeling.get_activation(np.tanh) is np.tanh
  with pytest.raises(ValueError, match="Unsupported activation: swish"):
    modeling.get_activation("swish")


def test_layer_norm_names_and_values():
  x = np.random.RandomState(3).randn(4, 6).astype(np.float32) * 5 + 2
  with tf.Graph().as_default(), tf.Session() as sess:
    y = modeling.layer_norm(tf.constant(x))
    y2 = modeling.layer_norm(tf.constant(x))
    names = sorted(v.op.name for v in tf.global_variables())
    sess.run(tf.global_variables_initializer())
    got = sess.run(y)
  assert names == ["LayerNorm/beta", "LayerNorm/gamma", "LayerNorm_1/beta",
                   "LayerNorm_1/gamma"]
  del y2
  np.testing.assert_allclose(got, np_layer_norm(x, 1.0, 0.0), atol=1e-5)


def test_config_json_round_trip(tmp_path):
  config = tiny_config(hidden_act="relu")
  path = tmp_path / "bert_config.json"
  path.write_text(config.to_json_string())
  loaded = modeling.BertConfig.from_json_file(str(path))
  assert loaded.to_dict() == config.to_dict()
  assert json.loads(config.to_json_string())["hidden_act"] == "relu"


def test_config_accepts_official_multilingual_extras(tmp_path):
  d = tiny_config().to_dict()
  d.update({"directionality": "bidi", "pooler_type": "first_token_transform",
            "pooler_fc_size": 768})
  path = tmp_path / "c.json"
  path.write_text(json.dumps(d))
  assert modeling.BertConfig.from_json_file(str(path)).hidden_size == HIDDEN


def test_config_missing_key_is_an_error(tmp_path):
  d = tiny_config().to_dict()
  del d["num_attention_heads"]
  path = tmp_path / "bert_config.json"
  path.write_text(json.dumps(d))
  with pytest.raises(ValueError, match=r"bert_config.json is missing key\(s\) "
                     "num_attention_heads"):
    modeling.BertConfig.from_json_file(str(path))


def test_config_unknown_key_is_an_error(tmp_path):
  d = tiny_config().to_dict()
  d["hidden_sise"] = 12
  path = tmp_path / "bert_config.json"
  path.write_text(json.dumps(d))
  with pytest.raises(ValueError, match=r"Unknown BERT config key\(s\) "
                     "hidden_sise; the known keys are vocab_size"):
    modeling.BertConfig.from_json_file(str(path))


def test_config_file_errors(tmp_path):
  with pytest.raises(ValueError, match="nope.json does not exist"):
    modeling.BertConfig.from_json_file(str(tmp_path / "nope.json"))
  bad = tmp_path / "bad.json"
  bad.write_text("{\"vocab_size\": 3,")
  with pytest.raises(ValueError, match="bad.json is not valid JSON"):
    modeling.BertConfig.from_json_file(str(bad))
  with pytest.raises(ValueError, match="no `vocab_size`"):
    modeling.BertConfig.from_dict({"hidden_size": 3})


def test_wrong_input_rank_is_an_error():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match="actual rank `3`.*expected rank `2`"):
      modeling.BertModel(tiny_config(), False, tf.zeros([2, 8, 1], tf.int32))


def test_sequence_longer_than_max_position_embeddings_is_an_error():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match="sequence length 30 is longer than "
                       "max_position_embeddings=24"):
      modeling.BertModel(tiny_config(), False, tf.zeros([2, 30], tf.int32))


def test_sequence_too_long_at_run_time_is_an_error():
  with tf.Graph().as_default():
    ids = tf.placeholder(tf.int32, [None, None])
    model = modeling.BertModel(tiny_config(), False, ids)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      with pytest.raises(tf.errors.InvalidArgumentError,
                         match="longer than max_position_embeddings"):
        sess.run(model.get_sequence_output(), {ids: np.zeros([1, 30])})


def test_hidden_size_must_divide_heads():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=r"hidden size \(32\) is not a "
                       r"multiple of the number of attention heads \(5\)"):
      modeling.BertModel(tiny_config(num_attention_heads=5), False,
                         tf.zeros([1, 4], tf.int32))


def test_shape_helpers():
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 3, 4])
    shape = modeling.get_shape_list(x)
    assert isinstance(shape[0], tf.Tensor) and shape[1:] == [3, 4]
    m = modeling.reshape_to_matrix(x)
    assert m.shape.as_list() == [None, 4]
    back = modeling.reshape_from_matrix(m, shape)
    assert back.shape.as_list() == [None, 3, 4]
    with pytest.raises(ValueError, match="at least rank 2"):
      modeling.reshape_to_matrix(tf.zeros([3]))
    modeling.assert_rank(x, [2, 3])
    with pytest.raises(ValueError, match="expected rank `2`"):
      modeling.assert_rank(x, 2)


def test_attention_mask_from_input_mask():
  with tf.Graph().as_default(), tf.Session() as sess:
    mask = modeling.create_attention_mask_from_input_mask(
        tf.zeros([2, 3]), tf.constant([[1, 1, 0, 0], [1, 0, 0, 1]]))
    got = sess.run(mask)
  assert got.shape == (2, 3, 4)
  np.testing.assert_array_equal(got[0], [[1, 1, 0, 0]] * 3)
  np.testing.assert_array_equal(got[1], [[1, 0, 0, 1]] * 3)


def test_assignment_map_skips_names_not_in_checkpoint(checkpoint):
  _, ckpt = checkpoint
  with tf.Graph().as_default():
    modeling.BertModel(tiny_config(), False, tf.zeros([1, 4], tf.int32))
    extra = tf.get_variable("output_weights", [2, HIDDEN])
    amap, initialized = modeling.get_assignment_map_from_checkpoint(
        tf.trainable_variables(), ckpt)
  assert "output_weights" not in amap
  assert extra.name not in initialized
  assert amap["bert/pooler/dense/kernel"] == "bert/pooler/dense/kernel"
  assert len(amap) == len(official_variable_shapes())


def test_inference_gelu_is_fused_into_the_matmul():
  # The remapper folds the GELU (and the pooler's tanh) into oneDNN's
  # _FusedMatMul only when it is written in the form it matches; a form it
  # does not match leaves Tanh and its multiplies as separate ops.
  with tf.Graph().as_default():
    model = modeling.BertModel(tiny_config(), False,
                               tf.constant(IDS, tf.int32))
    counts = bert_testing.optimized_op_types(model.get_pooled_output())
    in_ffn = bert_testing.optimized_op_types(model.get_pooled_output(),
                                             name_part="/intermediate/")
  assert "Tanh" not in counts, counts
  # (Layer norm squares its centred values; the GELU's cube is gone.)
  assert "Pow" not in in_ffn and "Square" not in in_ffn, in_ffn


def test_inference_layer_norm_is_one_fused_op_with_the_same_values():
  # for_inference=True is Keras' batch-norm form, which grappler's remapper
  # replaces by one oneDNN _MklLayerNorm when the row count is known at run
  # time only; with static rows (where grappler would fold the pattern's
  # Fill nodes) it stays the separate-op form. Every case gives the numpy
  # values, and none aborts the process (TF 2.15's remapper did, on the
  # tf.nn.moments form of a placeholder with variable gamma and beta).
  rng = np.random.RandomState(4)
  x = rng.randn(6, 5, 16).astype(np.float32) * 3 + 1
  gamma = rng.randn(16).astype(np.float32)
  beta = rng.randn(16).astype(np.float32)
  want = np_layer_norm(x, gamma, beta)
  for rows, for_inference in ((None, True), (6, True), (None, False)):
    with tf.Graph().as_default():
      inputs = tf.placeholder(tf.float32, [rows, 5, 16])
      y = modeling.layer_norm(inputs, for_inference=for_inference)
      with tf.Session() as sess:
        for v in tf.global_variables():
          v.load(gamma if v.op.name.endswith("gamma") else beta, sess)
        got = sess.run(y, {inputs: x})
      counts = bert_testing.optimized_op_types(y, {inputs: x})
    np.testing.assert_allclose(got, want, atol=1e-5)
    if rows is None and for_inference:
      assert counts.get("_MklLayerNorm") == 1, counts
      assert "Rsqrt" not in counts, counts
    else:
      assert "_MklLayerNorm" not in counts, counts
      assert not [op for op in counts if "BatchNorm" in op], counts


def test_only_inference_models_build_the_fused_layer_norm():
  # One per block twice and one for the embeddings when predicting; none in
  # training, whose gradient through the batch-norm form is slower.
  for is_training in (False, True):
    with tf.Graph().as_default():
      ids = tf.placeholder(tf.int32, [None, 8])
      model = modeling.BertModel(tiny_config(), is_training, ids)
      counts = bert_testing.optimized_op_types(model.get_sequence_output(),
                                               {ids: IDS})
    if is_training:
      assert not [op for op in counts if "Norm" in op], counts
    else:
      assert counts.get("_MklLayerNorm") == 2 * LAYERS + 1, counts


def test_einsum_dense_layers_share_variables_and_values_with_matmul():
  # bert-tensorflow 1.0.4's einsum layers over the 2-D `kernel` variables:
  # the same variables as the matmul `dense_layer`, the same numbers.
  rng = np.random.RandomState(5)
  x = rng.randn(2, 3, 8).astype(np.float32)
  heads_in = rng.randn(2, 3, 4, 5).astype(np.float32)
  init = tf.random_normal_initializer(stddev=0.5, seed=1)
  with tf.Graph().as_default(), tf.Session() as sess:
    with tf.variable_scope("q"):
      by_3d = modeling.dense_layer_3d(tf.constant(x), 4, 5, init, None)
    with tf.variable_scope("q", reuse=True):
      by_matmul = modeling.dense_layer(tf.constant(x.reshape(6, 8)), 20)
    with tf.variable_scope("proj"):
      proj = modeling.dense_layer_3d_proj(tf.constant(heads_in), 8, 5,
                                          init, tf.tanh)
    with tf.variable_scope("proj", reuse=True):
      proj_matmul = modeling.dense_layer(
          tf.constant(heads_in.reshape(6, 20)), 8, activation=tf.tanh)
    with tf.variable_scope("ffn"):
      ffn = modeling.dense_layer_2d(tf.constant(x), 7, init, modeling.gelu,
                                    name="dense")
    shapes = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
    sess.run(tf.global_variables_initializer())
    # Non-zero biases, so that a bias added on the wrong axis shows.
    for v in tf.global_variables():
      if v.op.name.endswith("bias"):
        v.load(rng.randn(*v.shape.as_list()).astype(np.float32), sess)
    got = sess.run({"3d": by_3d, "matmul": by_matmul, "proj": proj,
                    "proj_matmul": proj_matmul, "ffn": ffn})
    weights = {v.op.name: sess.run(v) for v in tf.global_variables()}
  assert shapes == {"q/dense/kernel": [8, 20], "q/dense/bias": [20],
                    "proj/dense/kernel": [20, 8], "proj/dense/bias": [8],
                    "ffn/dense/kernel": [8, 7], "ffn/dense/bias": [7]}
  assert got["3d"].shape == (2, 3, 4, 5)
  np.testing.assert_allclose(got["3d"].reshape(6, 20), got["matmul"],
                             atol=1e-5)
  np.testing.assert_allclose(
      got["3d"], (x @ weights["q/dense/kernel"] +
                  weights["q/dense/bias"]).reshape(2, 3, 4, 5), atol=1e-5)
  assert got["proj"].shape == (2, 3, 8)
  np.testing.assert_allclose(got["proj"].reshape(6, 8), got["proj_matmul"],
                             atol=1e-5)
  np.testing.assert_allclose(
      got["ffn"], np_gelu_tanh(x @ weights["ffn/dense/kernel"] +
                               weights["ffn/dense/bias"]), atol=1e-5)


def test_word_embedding_output_is_the_table_rows(checkpoint):
  weights, ckpt = checkpoint
  with tf.Graph().as_default():
    model = modeling.BertModel(tiny_config(), False,
                               tf.constant(IDS, tf.int32))
    amap, _ = modeling.get_assignment_map_from_checkpoint(
        tf.trainable_variables(), ckpt)
    tf.train.init_from_checkpoint(ckpt, amap)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      words = sess.run(model.get_word_embedding_output())
  np.testing.assert_array_equal(
      words, weights["bert/embeddings/word_embeddings"][np.array(IDS)])


def test_bf16_rewrite_keeps_the_gelu_fused(monkeypatch):
  # The oneDNN bf16 rewrite keeps Tanh in float32 by default, which puts
  # casts inside the GELU and leaves it unfused; runtime's set-up lists it.
  import runtime  # pylint: disable=g-import-not-at-top
  if cpu_features.bf16_support() == "none":
    # (The rewrite still makes bf16 ops, which run unfused on TensorFlow's
    # own kernels: runtime warns that bf16 is emulated there.)
    pytest.skip("oneDNN has no bf16 kernels on this CPU (no AVX512_BF16 or "
                "AMX): no fusion to check")
  monkeypatch.delenv(runtime._BF16_INFERLIST_ENV, raising=False)
  config = runtime.enable_onednn_bf16_rewrite(tf.ConfigProto())
  assert os.environ[runtime._BF16_INFERLIST_ENV] == "Tanh"
  runtime.enable_onednn_bf16_rewrite(config)  # Listed once, not twice.
  assert os.environ[runtime._BF16_INFERLIST_ENV] == "Tanh"
  with tf.Graph().as_default():
    model = modeling.BertModel(tiny_config(), False,
                               tf.constant(IDS, tf.int32))
    # The sequence output: the GELUs, without the pooler's tanh.
    counts = bert_testing.optimized_op_types(model.get_sequence_output(),
                                             config=config)
  assert "Tanh" not in counts, counts


def test_dropout_drops_at_the_rate_and_scales_what_it_keeps():
  rng = np.random.RandomState(2)
  x = rng.rand(3, 257, 101).astype(np.float32) + 0.5  # odd count, no zeros
  with tf.Graph().as_default(), tf.Session() as sess:
    tf.set_random_seed(3)
    x_t = tf.constant(x)
    y = modeling.dropout(x_t, 0.1)
    grad = tf.gradients(tf.reduce_sum(y * 2.0), x_t)[0]
    y_bf16 = modeling.dropout(tf.cast(x_t, tf.bfloat16), 0.3)
    dynamic = tf.placeholder(tf.float32, [None, None])
    y_dynamic = modeling.dropout(dynamic, 0.5)
    got, got_grad, got_bf16 = sess.run([y, grad, y_bf16])
    again = sess.run(y)
    got_dynamic = sess.run(y_dynamic, {dynamic: x[0]})
  kept = got != 0
  # 77857 draws: a standard error of 0.0011 on the dropped fraction.
  assert abs(1.0 - kept.mean() - 0.1) < 0.006
  np.testing.assert_allclose(got[kept], x[kept] / 0.9, rtol=1e-6)
  np.testing.assert_allclose(got_grad, np.where(kept, 2.0 / 0.9, 0.0),
                             rtol=1e-6)
  assert (again != got).any()  # A new mask every step.
  assert got_bf16.dtype == tf.bfloat16.as_numpy_dtype
  assert abs(1.0 - (got_bf16 != 0).mean() - 0.3) < 0.01
  assert abs(1.0 - (got_dynamic != 0).mean() - 0.5) < 0.03
  assert modeling.dropout(x_t, 0.0) is x_t
  with pytest.raises(ValueError, match=r"dropout_prob must be in \[0, 1\)"):
    modeling.dropout(x_t, 1.0)


def seeded_masks(seed, step, dtype=tf.float32, sites=3, xla=False):
  """The keep masks of `sites` dropout calls (rate 0.1) in a new graph whose
  dropout seed is `seed` with the global step `step` folded in."""
  with tf.Graph().as_default():
    step_t = tf.placeholder(tf.int64, [])
    modeling.set_dropout_seed(seed, step_t)
    ones = tf.ones([4, 33, 65], dtype)  # An odd count: a half-used draw.
    outputs = [modeling.dropout(ones, 0.1) for _ in range(sites)]
    if xla:
      outputs = tf.xla.experimental.compile(lambda: outputs)
    with tf.Session() as sess:
      return [out != 0 for out in sess.run(outputs, {step_t: step})]


def test_seeded_dropout_mask_is_a_function_of_seed_step_and_site():
  """With a dropout seed (what --seed sets in training) a mask is a pure
  function of (seed, step, call site): a resumed run, in a new graph and
  process, repeats the masks of the uninterrupted one."""
  first = seeded_masks(5, 7)
  again = seeded_masks(5, 7)
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)  # Another graph, the same masks.
  next_step = seeded_masks(5, 8)
  other_seed = seeded_masks(6, 7)
  for i, mask in enumerate(first):
    assert abs(1.0 - mask.mean() - 0.1) < 0.015
    assert (mask != next_step[i]).any()  # Another step, another mask.
    assert (mask != other_seed[i]).any()
    for other in first[i + 1:]:
      assert (mask != other).any()  # Each site its own mask.
  # bf16 (--bf16_implementation=cast) draws the same bits.
  for a, b in zip(first, seeded_masks(5, 7, tf.bfloat16)):
    np.testing.assert_array_equal(a, b)


def test_seeded_dropout_compiles_with_xla():
  masks = seeded_masks(5, 7, sites=2, xla=True)
  for a, b in zip(masks, seeded_masks(5, 7, sites=2, xla=True)):
    np.testing.assert_array_equal(a, b)
  assert abs(1.0 - masks[0].mean() - 0.1) < 0.015


def test_dropout_without_a_seed_stays_random():
  with tf.Graph().as_default():
    step_t = tf.placeholder(tf.int64, [])
    modeling.set_dropout_seed(5, step_t)
    modeling.set_dropout_seed(None)  # Seeded, then not: stateful again.
    assert modeling.dropout_seed() is None
    mask = tf.not_equal(modeling.dropout(tf.ones([2000]), 0.5), 0)
    assert not any(op.type.startswith("Stateless") and
                   op.name.startswith("dropout/")
                   for op in tf.get_default_graph().get_operations())
    with tf.Session() as sess:
      a, b = sess.run(mask), sess.run(mask)
  assert (a != b).any()
  with tf.Graph().as_default():
    assert modeling.dropout_seed() is None  # Not another graph's.


def test_every_op_of_a_training_graph_is_reachable_from_its_outputs():
  """The original's modeling_test checks this: no op the model creates is
  left dangling (a custom gradient leaves an unused Identity, for one)."""
  with tf.Graph().as_default() as graph:
    model = modeling.BertModel(tiny_config(), True,
                               tf.constant(IDS, tf.int32))
    outputs = [model.get_pooled_output(), model.get_sequence_output(),
               model.get_embedding_output()] + model.get_all_encoder_layers()
    reached, frontier = set(), [t.op for t in outputs]
    while frontier:
      op = frontier.pop()
      if op.name in reached:
        continue
      reached.add(op.name)
      frontier.extend(t.op for t in op.inputs)
      frontier.extend(op.control_inputs)
    # What makes and initialises the variables feeds no output.
    setup = ("VarHandleOp", "VarIsInitializedOp", "AssignVariableOp",
             "VariableV2", "Assign", "NoOp")
    dangling = [op.name for op in graph.get_operations()
                if op.name not in reached and op.type not in setup and
                "/Initializer/" not in op.name and
                "/initializer/" not in op.name and
                not op.name.endswith("/Read/ReadVariableOp") and
                # As the original's test: the run-time length check.
                "/assert_less_equal/" not in op.name]
    assert not dangling, dangling[:10]

