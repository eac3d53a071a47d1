"""Tests of optimization.py: schedule, AdamW and LAMB against numpy, slots."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import optimization

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def np_schedule(step, init_lr, num_train_steps, num_warmup_steps,
                decay="from_step_0"):
  if num_warmup_steps and step < num_warmup_steps:
    return init_lr * step / num_warmup_steps
  if decay == "after_warmup" and num_warmup_steps:
    return init_lr * (1 - (min(step, num_train_steps) - num_warmup_steps) /
                      (num_train_steps - num_warmup_steps))
  return init_lr * (1 - min(step, num_train_steps) / num_train_steps)


def test_learning_rate_schedule_values():
  with tf.Graph().as_default(), tf.Session() as sess:
    step = tf.placeholder(tf.int64, [])
    lr = optimization.learning_rate_schedule(step, 1e-3, 100, 10)
    lr0 = optimization.learning_rate_schedule(step, 1e-3, 100, 0)
    for s in (0, 1, 5, 9, 10, 11, 50, 99, 100, 150):
      np.testing.assert_allclose(sess.run(lr, {step: s}),
                                 np_schedule(s, 1e-3, 100, 10), rtol=1e-5,
                                 atol=1e-12)
      np.testing.assert_allclose(sess.run(lr0, {step: s}),
                                 np_schedule(s, 1e-3, 100, 0), rtol=1e-5,
                                 atol=1e-12)


def np_adamw_step(params, grads, m, v, lr, decay_names, lamb=False,
                  norm_terms=None, bias_correction_t=None):
  """One step of BERT's Adam (no bias correction) on numpy arrays.

  With `bias_correction_t`, Adam's bias-corrected moments of update number t
  (Kingma & Ba's m_hat / (sqrt(v_hat) + eps)) replace m and v in the update.

  `norm_terms` are the arrays whose squares make the global norm; for an
  embedding gathered with repeated ids TF (and the original) takes the norm
  of the gathered rows' gradients before they are summed.
  """
  terms = norm_terms if norm_terms is not None else list(grads.values())
  clip = np.sqrt(sum((g ** 2).sum() for g in terms))
  scale = 1.0 / max(clip, 1.0)
  for name in params:
    g = grads[name] * scale
    m[name] = 0.9 * m[name] + 0.1 * g
    v[name] = 0.999 * v[name] + 0.001 * g * g
    m_used, v_used = m[name], v[name]
    if bias_correction_t is not None:
      m_used = m_used / (1 - 0.9 ** bias_correction_t)
      v_used = v_used / (1 - 0.999 ** bias_correction_t)
    update = m_used / (np.sqrt(v_used) + 1e-6)
    if name in decay_names:
      update = update + 0.01 * params[name]
    step = lr
    if lamb and name in decay_names:
      w_norm = np.linalg.norm(params[name])
      u_norm = np.linalg.norm(update)
      if w_norm > 0 and u_norm > 0:
        step = lr * w_norm / u_norm
    params[name] = params[name] - step * update


def run_training(optimizer_name, steps=6, use_sparse=True,
                 learning_rate_decay="from_step_0", adam_bias_correction=False):
  """A small model with a dense kernel, a LayerNorm and an embedding."""
  rng = np.random.RandomState(0)
  init = {
      "layer/kernel": rng.randn(4, 3).astype(np.float32),
      "layer/bias": rng.randn(3).astype(np.float32),
      "layer/LayerNorm/gamma": rng.randn(3).astype(np.float32),
      "emb/word_embeddings": rng.randn(5, 4).astype(np.float32),
  }
  x = rng.randn(8, 4).astype(np.float32)
  ids = np.array([0, 2, 2, 4, 1, 0, 0, 3])
  y = rng.randn(8, 3).astype(np.float32)
  with tf.Graph().as_default():
    tvars = {n: tf.get_variable(n, initializer=v) for n, v in init.items()}
    if use_sparse:
      emb = tf.gather(tvars["emb/word_embeddings"], ids)
    else:
      emb = tf.matmul(tf.one_hot(ids, 5), tvars["emb/word_embeddings"])
    h = tf.matmul(x + emb, tvars["layer/kernel"]) + tvars["layer/bias"]
    h = h * tvars["layer/LayerNorm/gamma"]
    loss = tf.reduce_mean(tf.square(h - y)) * 20.0
    grads_t = tf.gradients(loss, list(tvars.values()))
    train_op = optimization.create_optimizer(
        loss, 0.05, 20, 2, False, optimizer_name,
        learning_rate_decay=learning_rate_decay,
        adam_bias_correction=adam_bias_correction)
    gstep = tf.train.get_global_step()
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      # The reference runs in float64, so that it checks the algorithm,
      # not one order of float32 rounding.
      params = {n: v.astype(np.float64) for n, v in init.items()}
      m = {n: np.zeros_like(v) for n, v in params.items()}
      v_ = {n: np.zeros_like(v) for n, v in params.items()}
      for _ in range(steps):
        step = sess.run(gstep)
        lr = np_schedule(step, 0.05, 20, 2, learning_rate_decay)
        g_values = sess.run(grads_t)
        grads, norm_terms = {}, []
        for name, g in zip(tvars, g_values):
          if hasattr(g, "indices"):  # IndexedSlices value -> dense
            norm_terms.append(g.values)
            dense = np.zeros_like(params[name])
            np.add.at(dense, g.indices, g.values)
            g = dense
          else:
            norm_terms.append(g)
          grads[name] = g
        np_adamw_step(params, grads, m, v_, lr,
                      decay_names={"layer/kernel", "emb/word_embeddings"},
                      lamb=(optimizer_name == "lamb"), norm_terms=norm_terms,
                      bias_correction_t=(step + 1 if adam_bias_correction
                                         else None))
        sess.run(train_op)
      got = sess.run(tvars)
      slots = {v.op.name for v in tf.global_variables()}
      final_step = sess.run(gstep)
  return got, params, slots, final_step


@pytest.mark.parametrize("optimizer_name,use_sparse",
                         [("adamw", True), ("adamw", False), ("lamb", True)])
def test_updates_match_numpy_after_several_steps(optimizer_name, use_sparse):
  got, expected, _, final_step = run_training(optimizer_name,
                                              use_sparse=use_sparse)
  assert final_step == 6
  # AdamW runs in TF's fused Adam kernel, which forms 1 - beta_2 in float32:
  # 0.00099998713 instead of 0.001, a 1.3e-5 relative change in the second
  # moment that moves these weights by about 6e-6 after 6 steps of lr 0.05.
  # LAMB's op-by-op update stays within 2e-7 of the float64 reference.
  # Leaving out the weight decay alone would move them by about 1e-3.
  atol = 2e-5 if optimizer_name == "adamw" else 1e-6
  for name in expected:
    np.testing.assert_allclose(got[name], expected[name], atol=atol,
                               err_msg=name)


def test_learning_rate_decay_after_warmup_schedule():
  with tf.Graph().as_default(), tf.Session() as sess:
    step = tf.placeholder(tf.int64, [])
    lr = optimization.learning_rate_schedule(step, 1e-3, 100, 10,
                                             "after_warmup")
    for s in (0, 5, 9, 10, 11, 55, 99, 100, 150):
      np.testing.assert_allclose(
          sess.run(lr, {step: s}), np_schedule(s, 1e-3, 100, 10,
                                               "after_warmup"),
          rtol=1e-5, atol=1e-12)
    # The original's schedule drops from 9e-4 to 9e-4 across the end of
    # warm-up; this one reaches the peak there and then decays from it.
    assert sess.run(lr, {step: 10}) == pytest.approx(1e-3)
    original = optimization.learning_rate_schedule(step, 1e-3, 100, 10)
    assert sess.run(original, {step: 10}) == pytest.approx(9e-4)
    # Without warm-up both are the same line.
    plain = optimization.learning_rate_schedule(step, 1e-3, 100, 0,
                                                "after_warmup")
    assert sess.run(plain, {step: 40}) == pytest.approx(6e-4)
  with pytest.raises(ValueError, match="Unknown learning_rate_decay 'x'"):
    optimization.learning_rate_schedule(tf.constant(0), 1e-3, 10, 1, "x")


@pytest.mark.parametrize("optimizer_name", ["adamw", "lamb"])
def test_adam_bias_correction_matches_float64_reference(optimizer_name):
  got, expected, _, final_step = run_training(
      optimizer_name, learning_rate_decay="after_warmup",
      adam_bias_correction=True)
  assert final_step == 6
  # As above; corrected steps are larger early on (the moments are no longer
  # shrunk towards 0), and so is LAMB's float32 rounding (1.5e-6 measured).
  atol = 2e-5 if optimizer_name == "adamw" else 5e-6
  for name in expected:
    np.testing.assert_allclose(got[name], expected[name], atol=atol,
                               err_msg=name)
  # The original's uncorrected Adam ends far from the corrected reference.
  plain, _, _, _ = run_training(optimizer_name,
                                learning_rate_decay="after_warmup")
  assert max(np.abs(plain[n] - expected[n]).max() for n in expected) > 1e-2


def test_step_0_applies_learning_rate_0_in_every_run():
  """The increment of global_step waits for the update, so the first update
  always reads step 0 and its warm-up rate of 0: no weight moves (the
  original's unordered group moved them in some runs and not in others)."""
  rng = np.random.RandomState(1)
  init = rng.randn(6, 5).astype(np.float32)
  bias = rng.randn(5).astype(np.float32)
  x = rng.randn(4, 6).astype(np.float32)
  for _ in range(12):
    with tf.Graph().as_default():
      w = tf.get_variable("dense/kernel", initializer=init)
      b = tf.get_variable("dense/LayerNorm/beta", initializer=bias)
      loss = tf.reduce_sum(tf.square(tf.matmul(x, w) + b))
      train_op = optimization.create_optimizer(loss, 0.1, 10, 3, False)
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train_op)
        got_w, got_b, step = sess.run([w, b, tf.train.get_global_step()])
    assert step == 1
    np.testing.assert_array_equal(got_w, init)
    np.testing.assert_array_equal(got_b, bias)


@pytest.mark.parametrize("optimizer_name", optimization.OPTIMIZERS)
def test_global_step_increment_waits_for_every_update(optimizer_name):
  """The structural reason for the test above, which a race does not always
  show on a small graph: the increment of global_step depends (through
  control edges) on every op that writes a weight, so no update can read
  the incremented step. The original's tf.group(update, increment) has no
  such edge."""
  with tf.Graph().as_default() as graph:
    w = tf.get_variable("dense/kernel", [3, 2])
    b = tf.get_variable("dense/bias", [2])
    loss = tf.reduce_sum(tf.square(tf.matmul(tf.ones([4, 3]), w) + b))
    optimization.create_optimizer(loss, 0.1, 10, 3, False, optimizer_name)
    gstep = tf.train.get_global_step()
  handles = {w.handle.op, b.handle.op}
  increments = [op for op in graph.get_operations()
                if op.type == "AssignAddVariableOp" and
                op.inputs[0].op is gstep.handle.op]
  writes = [op for op in graph.get_operations()
            if op.type.startswith(("Assign", "ResourceApply")) and
            op.inputs[0].op in handles and
            op not in (w.initializer, b.initializer)]
  assert len(increments) == 1 and writes
  for op in writes:
    assert op in _ancestors(increments[0]), op.name


def test_lamb_differs_from_adamw():
  # Step 0 has a learning rate of 0 (warm-up), so after two steps exactly
  # one update has been applied, from identical parameters.
  adamw, _, _, _ = run_training("adamw", steps=2)
  lamb, _, _, _ = run_training("lamb", steps=2)
  assert np.abs(adamw["layer/kernel"] - lamb["layer/kernel"]).max() > 1e-4
  # Excluded from layer adaptation: the same update, up to the fused AdamW
  # kernel's float32 1 - beta_2 (see above; about 7e-7 here).
  np.testing.assert_allclose(adamw["layer/bias"], lamb["layer/bias"],
                             atol=2e-6)


def test_slot_names_match_original_checkpoints():
  _, _, names, _ = run_training("adamw", steps=1)
  assert names == {
      "global_step",
      "layer/kernel", "layer/kernel/adam_m", "layer/kernel/adam_v",
      "layer/bias", "layer/bias/adam_m", "layer/bias/adam_v",
      "layer/LayerNorm/gamma", "layer/LayerNorm/gamma/adam_m",
      "layer/LayerNorm/gamma/adam_v",
      "emb/word_embeddings", "emb/word_embeddings/adam_m",
      "emb/word_embeddings/adam_v",
  }


def test_weight_decay_exclusions():
  opt = optimization.AdamWeightDecayOptimizer(
      0.1, weight_decay_rate=0.01,
      exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"])
  assert opt._do_use_weight_decay("bert/encoder/layer_0/output/dense/kernel")
  assert not opt._do_use_weight_decay("bert/encoder/layer_0/output/dense/bias")
  assert not opt._do_use_weight_decay("bert/embeddings/LayerNorm/gamma")
  no_decay = optimization.AdamWeightDecayOptimizer(0.1)
  assert not no_decay._do_use_weight_decay("x/kernel")
  assert opt._get_variable_name("a/b/kernel:0") == "a/b/kernel"


def test_apply_gradients_leaves_global_step_alone():
  with tf.Graph().as_default(), tf.Session() as sess:
    var = tf.get_variable("w", initializer=[1.0, 2.0])
    gstep = tf.train.get_or_create_global_step()
    opt = optimization.AdamWeightDecayOptimizer(0.1)
    op = opt.apply_gradients([(tf.constant([1.0, 1.0]), var)],
                             global_step=gstep)
    sess.run(tf.global_variables_initializer())
    sess.run(op)
    assert sess.run(gstep) == 0
    # First step of Adam without bias correction: m=0.1, v=0.001 (to the
    # fused kernel's float32 1 - beta_2: 3e-6 of the step).
    step = 0.1 * 0.1 / (np.sqrt(0.001) + 1e-6)
    np.testing.assert_allclose(sess.run(var), [1.0, 2.0] - step,
                               atol=1e-5 * step)


def test_unknown_optimizer_is_an_error():
  with pytest.raises(ValueError, match="Unknown optimizer 'sgd': expected one "
                     "of adamw, lamb"):
    optimization.make_optimizer("sgd", 0.1)


MIRRORED_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, %r)
    import numpy as np
    import tensorflow as tf2
    import tensorflow.compat.v1 as tf
    cpu = tf2.config.list_physical_devices("CPU")[0]
    tf2.config.set_logical_device_configuration(
        cpu, [tf2.config.LogicalDeviceConfiguration()] * 2)
    import optimization

    def model_fn(features, labels, mode):
      w = tf.get_variable("dense/kernel", initializer=tf.ones([3, 1]))
      b = tf.get_variable("dense/bias", initializer=tf.zeros([1]))
      loss = tf.reduce_mean(tf.square(tf.matmul(features, w) + b - labels))
      op = optimization.create_optimizer(loss, 0.1, 10, 1, False)
      return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=op)

    def make_input_fn(batch_size):
      def input_fn():
        # Every example alike, so that how the records are split between
        # replicas cannot change the gradient.
        x = np.tile(np.array([[0.1, 0.5, 0.9]], np.float32), [16, 1])
        y = x.sum(1, keepdims=True) * 2.0
        d = tf.data.Dataset.from_tensor_slices((x, y))
        return d.repeat().batch(batch_size)
      return input_fn

    strategy = tf.distribute.MirroredStrategy(
        devices=["/cpu:0", "/cpu:1"],
        cross_device_ops=tf.distribute.ReductionToOneDevice())
    config = tf.estimator.RunConfig(model_dir=sys.argv[1],
                                    train_distribute=strategy)
    est = tf.estimator.Estimator(model_fn, config=config)
    # Estimator feeds each replica a batch of the input_fn's size.
    est.train(make_input_fn(4), max_steps=5)
    names = [n for n, _ in tf.train.list_variables(sys.argv[1])]
    print("STEP", est.get_variable_value("global_step"))
    print("NAMES", ",".join(sorted(names)))
    single = tf.estimator.Estimator(
        model_fn, config=tf.estimator.RunConfig(model_dir=sys.argv[1] + "1"))
    single.train(make_input_fn(8), max_steps=5)
    diff = np.abs(est.get_variable_value("dense/kernel") -
                  single.get_variable_value("dense/kernel")).max()
    print("DIFF", diff)
    """) % ROOT


def test_works_under_mirrored_strategy(tmp_path):
  script = tmp_path / "mirrored.py"
  script.write_text(MIRRORED_SCRIPT)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.run([sys.executable, str(script), str(tmp_path / "model")],
                        capture_output=True, text=True, timeout=240, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "STEP 5" in proc.stdout
  names = proc.stdout.split("NAMES ")[1].strip().split(",")
  assert "dense/kernel/adam_m" in names and "dense/bias/adam_v" in names
  assert not [n for n in names if "replica" in n]
  # Two replicas of batch 4 update as one device with batch 8.
  assert float(proc.stdout.split("DIFF ")[1].split()[0]) < 1e-6


def _regression_graph(num_accumulation_steps=1, loss_scale=None):
  """A linear model fed through placeholders; returns tensors and train op."""
  x = tf.placeholder(tf.float32, [None, 4])
  y = tf.placeholder(tf.float32, [None, 2])
  poison = tf.placeholder_with_default(1.0, [])
  kernel = tf.get_variable(
      "dense/kernel", initializer=np.arange(8, dtype=np.float32).reshape(4, 2)
      / 10.0)
  bias = tf.get_variable("dense/bias", initializer=[0.5, -0.5])
  # An embedding row picked by each example, so that one gradient is sparse.
  table = tf.get_variable(
      "emb/word_embeddings",
      initializer=np.linspace(-1, 1, 20, dtype=np.float32).reshape(5, 4))
  ids = tf.math.floormod(tf.cast(tf.abs(x[:, 0]) * 7.0, tf.int32), 5)
  inputs = x + tf.gather(table, ids)
  # Scaled so that clipping stays off: a clipped big batch takes the norm of
  # the embedding's gathered rows (as the original), accumulation that of
  # their sums, and the two differ where rows repeat.
  loss = tf.reduce_mean(tf.square(tf.matmul(inputs, kernel) + bias - y)) * (
      poison * 0.05)
  train_op = optimization.create_optimizer(
      loss, 0.05, 50, 0, False, num_accumulation_steps=num_accumulation_steps,
      loss_scale=loss_scale)
  return x, y, poison, train_op


def _data(n=8, seed=0):
  rng = np.random.RandomState(seed)
  return rng.randn(n, 4).astype(np.float32), rng.randn(n, 2).astype(np.float32)


def test_gradient_accumulation_equals_one_big_batch():
  batches = [_data(8, seed) for seed in range(3)]
  with tf.Graph().as_default(), tf.Session() as sess:
    x, y, _, op = _regression_graph()
    sess.run(tf.global_variables_initializer())
    for bx, by in batches:
      sess.run(op, {x: bx, y: by})
    big = sess.run(tf.trainable_variables())
  with tf.Graph().as_default(), tf.Session() as sess:
    x, y, _, op = _regression_graph(num_accumulation_steps=4)
    sess.run([tf.global_variables_initializer(),
              tf.local_variables_initializer()])
    gstep = tf.train.get_global_step()
    steps = []
    for bx, by in batches:
      for i in range(4):
        sess.run(op, {x: bx[2 * i:2 * i + 2], y: by[2 * i:2 * i + 2]})
        steps.append(sess.run(gstep))
    small = sess.run(tf.trainable_variables())
    names = {v.op.name for v in tf.global_variables()}
  # global_step counts optimizer updates: once every 4 micro-batches.
  assert steps == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3]
  # Summing four micro-batch means rounds differently from one mean, and
  # Adam's division by sqrt(v) magnifies that a little: 1e-5, not 1e-6.
  for a, b in zip(big, small):
    np.testing.assert_allclose(a, b, atol=1e-5)
  # Accumulators are local: checkpoints keep the original's variable set.
  assert not [n for n in names if "accumulation" in n]


def test_dynamic_loss_scaling_skips_non_finite_steps():
  batches = [_data(8, seed) for seed in range(4)]
  with tf.Graph().as_default(), tf.Session() as sess:
    x, y, _, op = _regression_graph()
    sess.run(tf.global_variables_initializer())
    for bx, by in batches:
      sess.run(op, {x: bx, y: by})
    reference = sess.run(tf.trainable_variables())
  with tf.Graph().as_default(), tf.Session() as sess:
    x, y, poison, op = _regression_graph(loss_scale="dynamic")
    sess.run(tf.global_variables_initializer())
    gstep = tf.train.get_global_step()
    scale = [v for v in tf.global_variables() if v.op.name == "loss_scale"][0]
    assert sess.run(scale) == 2.0 ** 15
    sess.run(op, {x: batches[0][0], y: batches[0][1]})
    before = sess.run(tf.trainable_variables())
    # An infinite loss: the step is skipped and the scale halved.
    sess.run(op, {x: batches[1][0], y: batches[1][1], poison: np.inf})
    assert sess.run(gstep) == 1
    assert sess.run(scale) == 2.0 ** 14
    for a, b in zip(before, sess.run(tf.trainable_variables())):
      np.testing.assert_array_equal(a, b)
    for bx, by in batches[1:]:
      sess.run(op, {x: bx, y: by})
    assert sess.run(gstep) == 4
    scaled = sess.run(tf.trainable_variables())
  for a, b in zip(reference, scaled):
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_fused_adamw_updates_ref_and_resource_variables_alike():
  """The fused kernel has one form for resource variables and one for the
  reference variables of graphs that turn resource variables off."""
  values = []
  for use_resource in (True, False):
    with tf.Graph().as_default(), tf.Session() as sess:
      var = tf.Variable([[1.0, -2.0], [0.5, 3.0]], name="dense/kernel",
                        use_resource=use_resource)
      opt = optimization.AdamWeightDecayOptimizer(0.1, weight_decay_rate=0.01)
      op = opt.apply_gradients([(tf.constant([[1.0, 0.5], [-1.0, 2.0]]),
                                 var)])
      sess.run(tf.global_variables_initializer())
      for _ in range(3):
        sess.run(op)
      values.append(sess.run([var, opt.get_slot(var, "m"),
                              opt.get_slot(var, "v")]))
  for a, b in zip(*values):
    np.testing.assert_array_equal(a, b)
  # Three steps of a constant gradient g: m = (1 - 0.9^3) g, and the weights
  # moved against g with decay on top.
  np.testing.assert_allclose(values[0][1],
                             0.271 * np.array([[1.0, 0.5], [-1.0, 2.0]]),
                             rtol=1e-5)
  assert values[0][0][0, 0] < 1.0 - 3 * 0.1 * 0.9


@pytest.mark.parametrize("optimizer_name", optimization.OPTIMIZERS)
def test_no_variable_is_written_before_the_forward_pass_read_it(
    optimizer_name):
  """Every op of the train step that writes a trainable variable waits (by
  data or control edges) for the forward pass's reads of that variable, so
  they always see the previous step's weights. A write that needs only the
  learning rate (such as a decoupled weight decay) would otherwise race with
  them."""
  with tf.Graph().as_default() as graph:
    x = tf.placeholder(tf.float32, [None, 4])
    kernel = tf.get_variable("dense/kernel", [4, 2])
    table = tf.get_variable("emb/word_embeddings", [5, 4])
    ids = tf.math.floormod(tf.cast(tf.abs(x[:, 0]) * 7.0, tf.int32), 5)
    loss = tf.reduce_mean(tf.square(tf.matmul(x + tf.gather(table, ids),
                                              kernel)))
    optimization.create_optimizer(loss, 0.05, 50, 0, False, optimizer_name)
  forward = _ancestors(loss.op)
  for var in (kernel, table):
    handle = var.handle.op
    reads = {op for op in forward if handle in [t.op for t in op.inputs]}
    writes = [op for op in graph.get_operations()
              if op.type.startswith(("Assign", "ResourceApply",
                                     "ResourceScatter")) and
              op.inputs[0].op is handle and op is not var.initializer]
    assert reads and writes
    for op in writes:
      assert reads <= _ancestors(op), op.name


def _ancestors(op):
  """All ops `op` depends on through data and control edges."""
  seen, stack = set(), [op]
  while stack:
    current = stack.pop()
    for parent in [t.op for t in current.inputs] + list(
        current.control_inputs):
      if parent not in seen:
        seen.add(parent)
        stack.append(parent)
  return seen
