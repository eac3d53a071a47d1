"""Benchmark: BERT-base training and prediction speed, fp32 against bf16.

  python benchmarks/bench_speed.py [--batch_size 8] [--steps 4] [--layers 12]

Times a BERT-base-shaped classifier (12 layers, hidden 768, 12 heads,
intermediate 3072, vocab 30522, sequence length 128) on random data, each
configuration in its own subprocess so that peak memory is its own:

  plain          the baseline: a BERT written here in the plainest
                 tf.compat.v1 (tf.layers.dense, tf.nn.moments layer norm,
                 TF's fused Adam kernel with global-norm clipping), every
                 option off, sharing no code with the project;
  fp32           the project: `modeling.BertModel` and
                 `optimization.create_optimizer` (AdamW, clipping, the
                 non-finite check), every option off;
  bf16           explicit casting: `BertModel(compute_type=tf.bfloat16)`,
                 float32 variables, layer norm, softmax and loss;
  bf16-grappler  the unchanged fp32 graph rewritten by TF's
                 `auto_mixed_precision_onednn_bfloat16` grappler pass;
  int8           prediction only: the fp32 row's graph, frozen, with its
                 dense layers rewritten to TensorFlow's oneDNN int8 kernels
                 by int8_graph.py, as `--export_precision=int8` exports it
                 (its peak MB includes the fp32 graph it is checked
                 against);
  tflite-int8    prediction only: the same frozen graph converted by
                 TensorFlow Lite with dynamic-range int8 quantisation
                 (int8 weights, activations quantised at run time), run
                 by tf.lite.Interpreter (XNNPACK) on every core: the other
                 TensorFlow int8 candidate;
  fp32-xla, bf16-grappler-xla
                 fp32 and bf16-grappler with --use_xla as the scripts set
                 it up (runtime.session_config): session-level XLA JIT,
                 and on CPU TF_XLA_FLAGS clustering only the element-wise
                 work, matmuls left to oneDNN (cpu_features.XLA_CPU_FLAGS);
  hf-fp32        the peer users would pick instead: Hugging Face
                 `transformers` BertForSequenceClassification on PyTorch, same
                 shape, same random inputs, AdamW with clipping; run only when
                 `transformers` and `torch` import (an optional extra), said
                 and skipped otherwise;
  hf-bf16        the same under `torch.autocast("cpu", torch.bfloat16)`;
  ort-fp32, ort-fused, ort-int8
                 the serving peer, prediction only: ONNX Runtime on the
                 ONNX conversion of the fp32 row's own graph (see
                 benchmarks/bench_onnx.py: plain, with its BERT fusions,
                 int8 dynamic quantisation); run only when onnxruntime,
                 onnx and tf2onnx import, said and skipped otherwise.

It prints examples/sec for training and prediction, the model FLOPs
utilisation against the fp32 and bf16 matmul peaks it measures itself in the
same run (a 4096x768x3072 matmul, before and after the models), each
configuration's peak RSS, and the speed targets, met or not. It names the
processor's bfloat16 support (AMX, AVX512_BF16 or none); with none, bf16 is
emulated and its rows say nothing about bf16 hardware. Every
figure is the best of several timed runs (`--steps`, `--peak_repeats`; and
with `--rounds N` of N runs of every configuration in turn): on a shared
machine other jobs only ever add time. `--paired=plain,fp32` adds the ratio
of two configurations timed step for step in one process, the median of
`--pairs` pairs: where the host's load moves a step's time by half within a
minute (seen on a 2-core AVX2 VM), that ratio holds when best-of figures
taken minutes apart do not.
Model FLOPs per trained example: 6 x non-embedding parameters x tokens plus
attention (12 x seq^2 x hidden x layers); prediction is a third of that.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import contextlib
import math
import os
import shutil
import tempfile
import time

import bench_common
import bench_onnx
import cpu_features  # (bench_common puts the project on sys.path)

CONFIGS = ("plain", "fp32", "bf16", "bf16-grappler", "int8", "tflite-int8",
           "fp32-xla", "bf16-grappler-xla",
           "hf-fp32", "hf-bf16") + bench_onnx.ORT_CONFIGS
HF_CONFIGS = ("hf-fp32", "hf-bf16")
GRAPH_CONFIGS = ("plain", "fp32", "bf16", "bf16-grappler", "fp32-xla",
                 "bf16-grappler-xla")


def session_config(config_name):
  """The session config of a graph configuration, made by the scripts' own
  runtime.session_config from the flags it stands for."""
  import runtime  # pylint: disable=g-import-not-at-top
  import script_flags  # pylint: disable=g-import-not-at-top
  xla = config_name.endswith("-xla")
  base = config_name[:-len("-xla")] if xla else config_name
  return runtime.session_config(script_flags.Settings(
      precision="bf16" if base == "bf16-grappler" else "fp32",
      bf16_implementation="grappler", use_xla=xla))


def hf_available():
  """Whether the optional peer (`transformers` on `torch`) imports."""
  try:
    import torch  # pylint: disable=g-import-not-at-top,unused-import
    import transformers  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


def matmul_peak(dtype_name, repeats=10):
  """GFLOP/s of a 4096x768 by 768x3072 matmul, the FFN shape of BERT-base."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  dtype = {"fp32": tf.float32, "bf16": tf.bfloat16}[dtype_name]
  with tf.Graph().as_default():
    a = tf.Variable(tf.random.normal([4096, 768]))
    b = tf.Variable(tf.random.normal([768, 3072]))
    product = tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype))
    # Reduce to a scalar so that fetching does not dominate.
    op = tf.reduce_sum(tf.cast(product[:1, :1], tf.float32))
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      for _ in range(3):
        sess.run(op)
      seconds = best_time(lambda: sess.run(op), repeats)
  return 2.0 * 4096 * 768 * 3072 / seconds / 1e9


def best_time(run, repeats):
  """The shortest of `repeats` timed calls: other jobs on a shared machine
  only ever add time, so the minimum is the figure that repeats."""
  times = []
  for _ in range(repeats):
    start = time.time()
    run()
    times.append(time.time() - start)
  return min(times)


def model_flops_per_example(args, training):
  h, l, s = args.hidden, args.layers, args.seq_length
  per_layer = 4 * h * h + 4 * h + 2 * h * 4 * h + 5 * h + 4 * h  # attn+ffn+LN
  non_embedding = l * per_layer + h * h + h  # + pooler
  forward = 2 * non_embedding * s + 4 * s * s * h * l
  return 3 * forward if training else forward


def plain_bert_logits(ids, mask, training, args):
  """A BERT classifier in plain tf.compat.v1, the benchmark's baseline."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  h, heads = args.hidden, args.hidden // 64
  batch, seq = args.batch_size, args.seq_length
  init = tf.truncated_normal_initializer(stddev=0.02)
  drop = (lambda x: tf.nn.dropout(x, rate=0.1)) if training else (lambda x: x)

  def norm(x):
    mean, var = tf.nn.moments(x, [-1], keepdims=True)
    gamma = tf.get_variable("gamma", [h], initializer=tf.ones_initializer())
    beta = tf.get_variable("beta", [h], initializer=tf.zeros_initializer())
    return (x - mean) * tf.rsqrt(var + 1e-12) * gamma + beta

  def gelu(x):  # the original's tanh approximation
    return 0.5 * x * (1.0 + tf.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))

  def heads_first(x):
    return tf.transpose(tf.reshape(x, [batch, seq, heads, 64]), [0, 2, 1, 3])

  words = tf.get_variable("words", [30522, h], initializer=init)
  positions = tf.get_variable("positions", [seq, h], initializer=init)
  x = tf.reshape(tf.gather(words, ids) + positions, [batch * seq, h])
  with tf.variable_scope("embeddings"):
    x = drop(norm(x))
  blocked = (1.0 - tf.cast(mask[:, None, None, :], tf.float32)) * -10000.0
  for i in range(args.layers):
    with tf.variable_scope("layer_%d" % i):
      q, k, v = [heads_first(tf.layers.dense(x, h, kernel_initializer=init,
                                             name=n)) for n in "qkv"]
      probs = drop(tf.nn.softmax(
          tf.matmul(q, k, transpose_b=True) * 0.125 + blocked))
      context = tf.reshape(tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]),
                           [batch * seq, h])
      with tf.variable_scope("attention_norm"):
        x = norm(x + drop(tf.layers.dense(context, h,
                                          kernel_initializer=init)))
      inner = tf.layers.dense(x, 4 * h, kernel_initializer=init,
                              activation=gelu)
      with tf.variable_scope("output_norm"):
        x = norm(x + drop(tf.layers.dense(inner, h, kernel_initializer=init)))
  first = tf.reshape(x, [batch, seq, h])[:, 0]
  pooled = tf.layers.dense(first, h, tf.tanh, kernel_initializer=init)
  return tf.layers.dense(pooled, 2, kernel_initializer=init)


def plain_train_op(loss):
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  tvars = tf.trainable_variables()
  grads, _ = tf.clip_by_global_norm(tf.gradients(loss, tvars), 1.0)
  return tf.train.AdamOptimizer(2e-5).apply_gradients(
      zip(grads, tvars), global_step=tf.train.get_or_create_global_step())


def run_hf(args):
  """Times Hugging Face's BERT classifier on PyTorch; prints a JSON line."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  config = transformers.BertConfig(
      vocab_size=bench_common.VOCAB_SIZE, hidden_size=args.hidden,
      num_hidden_layers=args.layers, num_attention_heads=args.hidden // 64,
      intermediate_size=4 * args.hidden,
      # "gelu_new" is the original's tanh approximation ("gelu" is erf).
      hidden_act="gelu_new", type_vocab_size=2, num_labels=2,
      max_position_embeddings=max(512, args.seq_length))
  torch.manual_seed(0)
  model = transformers.BertForSequenceClassification(config)
  ids, mask, labels = [torch.from_numpy(a).long() for a in
                       bench_common.random_arrays(args.batch_size,
                                                  args.seq_length)]
  types = torch.zeros_like(ids)
  bf16 = args.one == "hf-bf16"
  optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5,
                                weight_decay=0.01)

  def forward(**extra):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
      return model(input_ids=ids, attention_mask=mask, token_type_ids=types,
                   **extra)

  def train_step():
    loss = forward(labels=labels).loss
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()

  def predict_step():
    with torch.inference_mode():
      torch.softmax(forward().logits.float(), -1).sum().item()

  results = {"config": args.one}
  for mode, step in (("train", train_step), ("predict", predict_step)):
    model.train(mode == "train")
    for _ in range(2):
      step()
    results[mode] = args.batch_size / best_time(step, args.steps)
  bench_common.print_result(results)


def build_onnx(args):
  """Writes the ONNX models (bench_onnx.MODEL_FILES) to --onnx_dir and
  checks each against the framework it came from on the benchmark's
  inputs."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  ids, mask, _ = bench_common.random_arrays(args.batch_size, args.seq_length)
  plain = os.path.join(args.onnx_dir, bench_onnx.MODEL_FILES["ort-fp32"])
  if args.onnx_source == "hf":
    import torch  # pylint: disable=g-import-not-at-top
    model, _ = bench_onnx.hf_export(plain, args.layers, args.hidden,
                                    args.seq_length, bench_common.VOCAB_SIZE)
    with torch.no_grad():
      reference = model(torch.from_numpy(ids).long(),
                        torch.from_numpy(mask).long()).logits.numpy()
    model_type = "bert"
  else:
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top

    graph_def, inputs, output = frozen_fp32(args)
    bench_onnx.convert(graph_def, inputs, output, plain)
    with tf.Graph().as_default() as graph:
      tf.import_graph_def(graph_def, name="")
      with tf.Session(graph=graph) as sess:
        reference = sess.run(output, {inputs[0]: ids, inputs[1]: mask})
    model_type = "bert_tf"
  result = {"config": "ort-build", "fusions": bench_onnx.build_variants(
      args.onnx_dir, plain, args.hidden // 64, args.hidden, model_type)}
  for name, filename in bench_onnx.MODEL_FILES.items():
    got = bench_onnx.session(os.path.join(args.onnx_dir, filename))(ids, mask)
    result[name] = float(np.max(np.abs(got - reference)))
  bench_common.print_result(result)


def run_ort(args):
  """Prediction examples/sec of one ONNX Runtime configuration."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  path = os.path.join(args.onnx_dir, bench_onnx.MODEL_FILES[args.one])
  predict = bench_onnx.session(path)
  ids, mask, _ = bench_common.random_arrays(args.batch_size, args.seq_length)

  def step():
    logits = predict(ids, mask)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).sum()

  for _ in range(2):
    step()
  seconds = best_time(step, args.steps)
  bench_common.print_result({"config": args.one, "train": float("nan"),
                             "predict": args.batch_size / seconds})


def frozen_fp32(args):
  """(graph_def, input names, output name): the fp32 row's prediction
  graph with its (perturbed random) variables folded into constants, the
  source of the int8, TensorFlow Lite and project ONNX rows."""

  def build_logits(ids, mask):
    return bench_common.bert_logits(ids, mask, False, args.layers,
                                    args.hidden, args.seq_length)

  return bench_onnx.frozen_classifier(build_logits, args.seq_length)


def run_int8(args):
  """Prediction examples/sec of the fp32 graph with its dense layers in
  int8 (int8_graph), and its largest logit difference from fp32."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  import int8_graph  # pylint: disable=g-import-not-at-top

  graph_def, inputs, output = frozen_fp32(args)
  quantized, report = int8_graph.quantize_dense_matmuls(graph_def)
  ids, mask, _ = bench_common.random_arrays(args.batch_size, args.seq_length)
  logits = {}
  for name, graph_def in (("fp32", graph_def), ("int8", quantized)):
    with tf.Graph().as_default() as graph:
      tf.import_graph_def(graph_def, name="")
      probabilities = tf.reduce_sum(tf.nn.softmax(
          graph.get_tensor_by_name(output)))
      with tf.Session(graph=graph) as sess:
        feed = {inputs[0]: ids, inputs[1]: mask}
        logits[name] = sess.run(output, feed)
        if name == "int8":
          for _ in range(2):
            sess.run(probabilities, feed)
          seconds = best_time(lambda: sess.run(probabilities, feed),
                              args.steps)
  bench_common.print_result({
      "config": "int8", "train": float("nan"),
      "predict": args.batch_size / seconds,
      "quantized": len(report.quantized),
      "logit_difference": float(np.max(np.abs(logits["fp32"] -
                                              logits["int8"])))})


def run_tflite(args):
  """Prediction examples/sec of TensorFlow Lite's dynamic-range int8
  quantisation (`tf.lite.Optimize.DEFAULT`: int8 weights, activations
  quantised at run time) of the fp32 row's frozen graph, run by
  `tf.lite.Interpreter` (XNNPACK, its default delegate) on every core: the
  int8 candidate measured beside oneDNN's; and its largest logit difference
  from the fp32 graph."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  graph_def, inputs, output = frozen_fp32(args)
  ids, mask, _ = bench_common.random_arrays(args.batch_size, args.seq_length)
  with tf.Graph().as_default() as graph:
    tf.import_graph_def(graph_def, name="")
    feeds = [graph.get_tensor_by_name(name) for name in inputs]
    logits = graph.get_tensor_by_name(output)
    with tf.Session(graph=graph) as sess:
      reference = sess.run(logits, dict(zip(feeds, (ids, mask))))
      converter = tf.lite.TFLiteConverter.from_session(sess, feeds, [logits])
      converter.optimizations = [tf.lite.Optimize.DEFAULT]
      model = converter.convert()
  interpreter = tf.lite.Interpreter(model_content=model,
                                    num_threads=os.cpu_count())
  values = dict(zip((name.split(":")[0] for name in inputs), (ids, mask)))
  details = interpreter.get_input_details()
  for detail in details:
    interpreter.resize_tensor_input(detail["index"], list(ids.shape))
  interpreter.allocate_tensors()
  out_index = interpreter.get_output_details()[0]["index"]

  def predict():
    for detail in details:
      interpreter.set_tensor(detail["index"], values[detail["name"]])
    interpreter.invoke()
    return interpreter.get_tensor(out_index)

  difference = float(np.max(np.abs(predict() - reference)))
  predict()
  bench_common.print_result({
      "config": args.one, "train": float("nan"),
      "predict": args.batch_size / best_time(predict, args.steps),
      "logit_difference": difference})


def run_one(args):
  """Times one configuration in this process; prints a JSON line."""
  if any(name.endswith("-xla")
         for name in [args.one] + list(args.paired or ())):
    # As the scripts do at their start (command_line.run), before
    # TensorFlow reads it.
    cpu_features.set_xla_cpu_flags()
  if args.one == "int8":
    run_int8(args)
    return
  if args.one == "paired":
    run_paired(args)
    return
  if args.one == "tflite-int8":
    run_tflite(args)
    return
  if args.one in HF_CONFIGS:
    run_hf(args)
    return
  if args.one == "ort-build":
    build_onnx(args)
    return
  if args.one in bench_onnx.ORT_CONFIGS:
    run_ort(args)
    return
  results = {"config": args.one}
  for mode in ("train", "predict"):
    with graph_step(args.one, mode, args) as step:
      step()
      step()
      results[mode] = args.batch_size / best_time(step, args.steps)
  bench_common.print_result(results)


@contextlib.contextmanager
def graph_step(name, mode, args):
  """Yields a call that runs one training or prediction step of TensorFlow
  graph configuration `name` (plain, fp32, bf16, bf16-grappler) in a
  session of its own graph; the session is closed on leaving, so that the
  next mode's graph does not share the peak memory with this one."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  import optimization  # pylint: disable=g-import-not-at-top

  plain = name == "plain"
  compute_type = tf.bfloat16 if name == "bf16" else tf.float32
  training = mode == "train"
  graph = tf.Graph()
  with graph.as_default():
    if training:
      ids, mask, labels = bench_common.random_inputs(args.batch_size,
                                                     args.seq_length)
      feed = None
    else:
      # Fed, with the batch dimension open, as an export or
      # Estimator.predict runs the model (modeling's inference layer norm
      # is fused only then).
      ids_value, mask_value, _ = bench_common.random_arrays(
          args.batch_size, args.seq_length)
      ids = tf.placeholder(tf.int32, [None, args.seq_length])
      mask = tf.placeholder(tf.int32, [None, args.seq_length])
      feed = {ids: ids_value, mask: mask_value}
    if plain:
      logits = plain_bert_logits(ids, mask, training, args)
    else:
      if training and args.seed is not None:
        # The stateless masks of a --seed run (runtime.seed_dropout).
        import runtime  # pylint: disable=g-import-not-at-top
        import script_flags  # pylint: disable=g-import-not-at-top
        runtime.seed_dropout(script_flags.Settings(seed=args.seed))
      logits = bench_common.bert_logits(ids, mask, training, args.layers,
                                        args.hidden, args.seq_length,
                                        compute_type)
    if training:
      loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
      op = (plain_train_op(loss) if plain else
            optimization.create_optimizer(loss, 2e-5, 1000, 100, False))
    else:
      op = tf.reduce_sum(tf.nn.softmax(logits))
  with tf.Session(graph=graph, config=session_config(name)) as sess:
    sess.run(tf.global_variables_initializer())
    yield lambda: sess.run(op, feed)


def run_paired(args):
  """Times two graph configurations step for step, in turn, in one process:
  prints the median over the pairs of second's speed / first's (first's
  step time / second's), per mode.

  On a shared machine a step's time can double from one minute to the next;
  a ratio of two steps taken seconds apart is far steadier than a ratio of
  two processes' best figures."""
  first, second = args.paired
  results = {"config": "paired"}
  for mode in ("train", "predict"):
    seconds = {first: [], second: []}
    with graph_step(first, mode, args) as first_step, \
        graph_step(second, mode, args) as second_step:
      steps = {first: first_step, second: second_step}
      for _ in range(2):
        for step in steps.values():
          step()
      for i in range(args.pairs):
        # Alternating which goes first, so that neither always follows the
        # other's cache and thread state.
        for name in ((first, second) if i % 2 == 0 else (second, first)):
          start = time.time()
          steps[name]()
          seconds[name].append(time.time() - start)
    results[mode], results[mode + "_spread"] = speed_ratio(
        seconds[first], seconds[second])
  bench_common.print_result(results)


def speed_ratio(first_seconds, second_seconds):
  """Second's speed over first's from their step times, pair by pair: the
  median and the middle half [25th, 75th percentile] of first's time /
  second's (speed is the inverse of time; before the twelfth round this
  was the other way up, and --paired printed each ratio inverted)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  ratios = np.array(first_seconds) / np.array(second_seconds)
  return float(np.median(ratios)), [float(np.percentile(ratios, 25)),
                                    float(np.percentile(ratios, 75))]


def config_pair(text):
  """--paired's value: (first, second), two of GRAPH_CONFIGS."""
  names = tuple(text.split(","))
  if len(names) != 2 or not set(names) <= set(GRAPH_CONFIGS):
    raise argparse.ArgumentTypeError(
        "%s: expected two of %s, comma-separated" % (
            text, ", ".join(GRAPH_CONFIGS)))
  return names


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--seq_length", type=int, default=128)
  parser.add_argument("--layers", type=int, default=12)
  parser.add_argument("--hidden", type=int, default=768)
  parser.add_argument("--steps", type=int, default=4,
                      help="Timed steps per configuration and mode; the "
                      "fastest one is reported.")
  parser.add_argument("--peak_repeats", type=int, default=20,
                      help="Timed matmuls for each peak; the fastest counts.")
  parser.add_argument("--configs", default=",".join(CONFIGS))
  parser.add_argument("--seed", type=int, default=None,
                      help="Train the project's configurations with the "
                      "dropout of a --seed run (stateless masks keyed by "
                      "seed, step and call site); default: unseeded.")
  parser.add_argument("--rounds", type=int, default=1,
                      help="Run the configurations this many times in "
                      "turn and keep each one's fastest figures, so that a "
                      "busy moment of a shared machine does not decide a "
                      "ratio between rows (try 3 for a ratio near 1.0x).")
  parser.add_argument("--paired", default=None, type=config_pair,
                      help="Two TensorFlow graph configurations, e.g. "
                      "plain,fp32: after the table, time them step for "
                      "step in turn in one process and print the second's "
                      "speed over the first's (median of the pairs), the "
                      "figure to trust for a ratio near 1.0x on a noisy "
                      "machine.")
  parser.add_argument("--pairs", type=int, default=10,
                      help="Timed step pairs per mode for --paired.")
  parser.add_argument("--one", help=argparse.SUPPRESS)
  parser.add_argument("--onnx_source", default="auto",
                      choices=("auto", "hf", "project"),
                      help="Where the ONNX Runtime rows' model comes from: "
                      "hf (a Hugging Face export, the graph onnxruntime's "
                      "BERT fusions match), project (tf2onnx of the fp32 "
                      "row's graph; no fusion matches it), auto (hf when "
                      "transformers and torch import).")
  parser.add_argument("--onnx_dir", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if (args.paired and any("bf16" in n for n in args.paired) and
      not cpu_features.onednn_runs_bf16()):
    parser.error("--paired=%s: oneDNN capped at %s cannot run TensorFlow's "
                 "bf16 matmuls; pair plain and fp32 here" % (
                     ",".join(args.paired), cpu_features.onednn_isa_cap()))
  if args.one:
    run_one(args)
    return

  names = args.configs.split(",")
  dtypes = ("fp32", "bf16")
  if not cpu_features.onednn_runs_bf16():
    capped = [n for n in names if "bf16" in n]
    if capped:
      print("%s: skipped, oneDNN capped at %s cannot run TensorFlow's bf16 "
            "matmuls (the process would abort)." % (
                ", ".join(capped), cpu_features.onednn_isa_cap()))
    names = [n for n in names if n not in capped]
    dtypes = ("fp32",)
  peaks = {d: matmul_peak(d, args.peak_repeats) for d in dtypes}
  peaks.setdefault("bf16", float("nan"))
  skipped = [n for n in names if n in HF_CONFIGS] if not hf_available() else []
  ort_names = [n for n in names if n in bench_onnx.ORT_CONFIGS]
  args.onnx_source = bench_onnx.resolve_source(args.onnx_source)
  ort_skipped = (ort_names if ort_names and
                 not bench_onnx.available(args.onnx_source) else [])
  onnx_dir = tempfile.mkdtemp(prefix="bench_onnx_")
  if ort_names and not ort_skipped:
    # Converted once, in a process of its own, before the timed rows.
    check = bench_common.run_in_own_process(
        __file__, ["--one", "ort-build", "--onnx_dir", onnx_dir,
                   "--onnx_source", args.onnx_source] + [
            "--%s=%s" % (k, getattr(args, k))
            for k in ("batch_size", "seq_length", "layers", "hidden")],
        "ONNX conversion")
    if check is None:
      ort_skipped = ort_names
  best = {}
  for _ in range(args.rounds):
    for name in names:
      if name in skipped or name in ort_skipped:
        continue
      one_args = ["--one", name, "--onnx_dir", onnx_dir] + [
          "--%s=%s" % (k, getattr(args, k))
          for k in ("batch_size", "seq_length", "layers", "hidden", "steps")]
      if args.seed is not None:
        one_args.append("--seed=%d" % args.seed)
      row = bench_common.run_in_own_process(__file__, one_args, name)
      if row is not None:
        best[name] = faster_of(best.get(name), row)
  rows = [best[name] for name in names if name in best]
  # Measured again after the models, keeping the better figure, so that a
  # busy moment at the start does not make the utilisation look high.
  peaks.update({d: max(peaks[d], matmul_peak(d, args.peak_repeats))
                for d in dtypes})

  train_flops = model_flops_per_example(args, True)
  predict_flops = model_flops_per_example(args, False)
  support = cpu_features.bf16_support()
  print("BERT %d layers, hidden %d, seq %d, batch %d; %d CPU cores (%s), "
        "bf16 support: %s; load average %.2f; best of %d round(s) in "
        "turn.%s" % (
            args.layers, args.hidden, args.seq_length, args.batch_size,
            os.cpu_count(), cpu_features.cpu_name(), support,
            os.getloadavg()[0], args.rounds, bench_common.isa_note()))
  if support == "none" and any("bf16" in n for n in names):
    print("oneDNN has neither AMX nor AVX512_BF16 here%s: the bf16 rows are "
          "emulated (converted to float32), not bf16 hardware speed." % (
              " (capped off)" if cpu_features.onednn_isa_cap() else ""))
  if skipped:
    print("%s: skipped, `transformers` and `torch` are not installed "
          "(pip install transformers torch)." % ", ".join(skipped))
  if ort_skipped:
    print("%s: skipped, what --onnx_source=%s needs does not all import "
          "(pip install onnxruntime onnx %s), or the conversion failed "
          "(above)." % (", ".join(ort_skipped), args.onnx_source,
                        "transformers torch" if args.onnx_source == "hf"
                        else "tf2onnx"))
  elif ort_names:
    print("ONNX Runtime rows: %s (%s); %d operators fused; largest |logit "
          "difference| from the source model: %s" % (
              "a Hugging Face BertForSequenceClassification of this shape, "
              "torch.onnx.export" if args.onnx_source == "hf" else
              "the fp32 row's graph converted by tf2onnx",
              bench_onnx.versions(args.onnx_source), check["fusions"],
              ", ".join("%s %.1e" % (n, check[n])
                        for n in bench_onnx.ORT_CONFIGS)))
  shutil.rmtree(onnx_dir, ignore_errors=True)
  print("matmul peak (4096x768x3072): fp32 %.0f GFLOP/s, bf16 %s" % (
      peaks["fp32"], "%.0f GFLOP/s" % peaks["bf16"] if "bf16" in dtypes
      else "not measured"))
  print("%-14s %10s %8s %8s %10s %10s %8s %8s %10s %9s" % (
      "config", "train ex/s", "vs plain", "vs fp32", "train MFU", "pred ex/s",
      "vs plain", "vs fp32", "pred MFU", "peak MB"))
  by_name = {row["config"]: row for row in rows}

  def ratio(row, base, mode):
    return row[mode] / by_name[base][mode] if base in by_name else float("nan")

  def shown(row, base, mode):
    """The ratio as a column, "-" without the base row."""
    value = ratio(row, base, mode)
    return "%8s" % "-" if math.isnan(value) else "%7.2fx" % value

  for row in rows:
    peak = peaks["bf16" if "bf16" in row["config"] else "fp32"] * 1e9
    if math.isnan(row["train"]):  # a serving peer: prediction only
      train = "%10s %8s %8s %10s" % ("-", "-", "-", "-")
    else:
      train = "%10.2f %s %s %9.1f%%" % (
          row["train"], shown(row, "plain", "train"),
          shown(row, "fp32", "train"),
          100.0 * row["train"] * train_flops / peak)
    # No float peak bounds int8 work: its utilisation is not printed.
    mfu = ("%9s " % "-" if "int8" in row["config"] else "%9.1f%%" % (
        100.0 * row["predict"] * predict_flops / peak))
    print("%-14s %s %10.2f %s %s %s %9.0f" % (
        row["config"], train, row["predict"],
        shown(row, "plain", "predict"), shown(row, "fp32", "predict"),
        mfu, row["peak_rss_mb"]))
  if "tflite-int8" in by_name:
    print("tflite-int8 row: largest |logit difference| from the fp32 graph "
          "%.1e" % by_name["tflite-int8"]["logit_difference"])
  if "int8" in by_name:
    print("int8 row: %d dense layers quantised; largest |logit difference| "
          "from the fp32 graph %.1e; int8 dot products: %s" % (
              by_name["int8"]["quantized"],
              by_name["int8"]["logit_difference"],
              cpu_features.int8_support()))
  print_targets(by_name, peaks["bf16"] * 1e9, train_flops, ratio, support)
  if args.paired:
    print_paired(args)


def print_paired(args):
  """The --paired comparison, in a process of its own."""
  first, second = args.paired
  row = bench_common.run_in_own_process(
      __file__, ["--one", "paired", "--paired", ",".join(args.paired)] + [
          "--%s=%s" % (k, getattr(args, k))
          for k in ("batch_size", "seq_length", "layers", "hidden",
                    "pairs")], "--paired=%s" % ",".join(args.paired))
  if row is None:
    return
  for mode in ("train", "predict"):
    low, high = row[mode + "_spread"]
    print("paired, %d steps each in turn: %s %s speed / %s = %.2fx (median "
          "of pairs; middle half %.2f-%.2f): %s" % (
              args.pairs, second, mode, first, row[mode], low, high,
              "level or ahead" if row[mode] >= 1.0 else "behind"))


def faster_of(row, other):
  """`other` with, for training and prediction each, the higher of its and
  `row`'s examples/sec (row may be None)."""
  if row is None:
    return other
  merged = dict(other)
  for mode in ("train", "predict"):
    figures = [r[mode] for r in (row, other) if not math.isnan(r[mode])]
    merged[mode] = max(figures) if figures else float("nan")
  merged["peak_rss_mb"] = max(row["peak_rss_mb"], other["peak_rss_mb"])
  return merged


def print_targets(by_name, bf16_peak, train_flops, ratio, support):
  """The speed targets against this run's figures."""
  checks = []

  def check(what, name, base, mode, target):
    if name in by_name and base in by_name:
      checks.append((what, ratio(by_name[name], base, mode), target, "x"))

  # The third speed round's target: fp32 at least level with the plain
  # graph in training too (it was 0.95x before).
  check("fp32 training vs plain tf.compat.v1 BERT", "fp32", "plain", "train",
        1.0)
  for name in ("fp32", "bf16", "bf16-grappler"):
    check("%s prediction vs plain tf.compat.v1" % name, name, "plain",
          "predict", 1.0)
  for name in ("bf16", "bf16-grappler", "bf16-grappler-xla"):
    check("%s training vs fp32" % name, name, "fp32", "train", 2.2)
    check("%s prediction vs fp32" % name, name, "fp32", "predict", 2.5)
    if name in by_name:
      checks.append(("%s training MFU (bf16 peak)" % name,
                     100.0 * by_name[name]["train"] * train_flops / bf16_peak,
                     60.0, "%"))
  for mode in ("train", "predict"):
    check("fp32 %s vs Hugging Face fp32" % mode, "fp32", "hf-fp32", mode, 1.0)
    check("bf16-grappler %s vs Hugging Face bf16" % mode, "bf16-grappler",
          "hf-bf16", mode, 1.0)
  check("fp32 prediction vs ONNX Runtime fp32", "fp32", "ort-fp32",
        "predict", 1.0)
  check("fp32 prediction vs ONNX Runtime fp32, fused", "fp32", "ort-fused",
        "predict", 1.0)
  best = max((n for n in ("fp32", "bf16", "bf16-grappler", "int8")
              if n in by_name),
             key=lambda n: by_name[n]["predict"], default=None)
  if best:
    check("best prediction (%s) vs ONNX Runtime int8" % best, best,
          "ort-int8", "predict", 1.1)
  check("int8 prediction vs ONNX Runtime int8", "int8", "ort-int8",
        "predict", 1.1)
  check("int8 prediction vs fp32", "int8", "fp32", "predict", 1.0)
  check("int8 prediction vs TensorFlow Lite int8", "int8", "tflite-int8",
        "predict", 1.0)
  for what, value, target, unit in checks:
    print("target: %-50s %6.2f%s (>= %g%s) %s" % (
        what, value, unit, target, unit, "met" if value >= target else
        "NOT met"))
  if support != "AMX":
    print("The bf16 targets (2.2x / 2.5x fp32, 60%% of the bf16 peak) are set "
          "for AMX; this CPU has %s, so for them these figures are indicative "
          "only." % ("AVX512_BF16 without AMX" if support == "AVX512_BF16"
                     else "no bf16 instructions (bf16 emulated)"))


if __name__ == "__main__":
  main()
