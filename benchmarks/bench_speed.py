"""Benchmark: BERT-base training and prediction speed, fp32 against bf16.

  python benchmarks/bench_speed.py [--batch_size 8] [--steps 4] [--layers 12]

Times a BERT-base-shaped classifier (12 layers, hidden 768, 12 heads,
intermediate 3072, vocab 30522, sequence length 128) on random data, each
configuration in its own subprocess so that peak memory is its own:

  fp32           the plain graph, every option off (the baseline);
  bf16           explicit casting: `BertModel(compute_type=tf.bfloat16)`,
                 float32 variables, layer norm, softmax and loss;
  bf16-grappler  the unchanged fp32 graph rewritten by TF's
                 `auto_mixed_precision_onednn_bfloat16` grappler pass;
  fp32-xla       fp32 with session-level XLA JIT (and, on CPU,
                 TF_XLA_FLAGS=--tf_xla_cpu_global_jit, without which XLA
                 compiles nothing).

It prints examples/sec for training and prediction, the model FLOPs
utilisation against the fp32 and bf16 matmul peaks it measures itself in the
same run (a 4096x768x3072 matmul), and each configuration's peak RSS.
Model FLOPs per trained example: 6 x non-embedding parameters x tokens plus
attention (12 x seq^2 x hidden x layers); prediction is a third of that.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONFIGS = ("fp32", "bf16", "bf16-grappler", "fp32-xla")


def session_config(config_name):
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import rewriter_config_pb2  # pylint: disable=g-import-not-at-top
  config = tf.ConfigProto()
  if config_name == "bf16-grappler":
    config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)
  if config_name.endswith("-xla"):
    config.graph_options.optimizer_options.global_jit_level = (
        tf.OptimizerOptions.ON_1)
  return config


def cpu_name():
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return "unknown CPU"


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
      start = time.time()
      for _ in range(repeats):
        sess.run(op)
      seconds = (time.time() - start) / repeats
  return 2.0 * 4096 * 768 * 3072 / seconds / 1e9


def model_flops_per_example(args, training):
  h, l, s = args.hidden, args.layers, args.seq_length
  per_layer = 4 * h * h + 4 * h + 2 * h * 4 * h + 5 * h + 4 * h  # attn+ffn+LN
  non_embedding = l * per_layer + h * h + h  # + pooler
  forward = 2 * non_embedding * s + 4 * s * s * h * l
  return 3 * forward if training else forward


def run_one(args):
  """Times one configuration in this process; prints a JSON line."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  import modeling  # pylint: disable=g-import-not-at-top
  import optimization  # pylint: disable=g-import-not-at-top

  config = modeling.BertConfig(
      vocab_size=30522, hidden_size=args.hidden,
      num_hidden_layers=args.layers, num_attention_heads=args.hidden // 64,
      intermediate_size=4 * args.hidden, type_vocab_size=2)
  compute_type = tf.bfloat16 if args.one == "bf16" else tf.float32
  rng = np.random.RandomState(0)
  shape = [args.batch_size, args.seq_length]
  results = {"config": args.one}
  for mode in ("train", "predict"):
    training = mode == "train"
    with tf.Graph().as_default():
      ids = tf.constant(rng.randint(0, 30522, shape), tf.int32)
      mask = tf.ones(shape, tf.int32)
      labels = tf.constant(rng.randint(0, 2, [args.batch_size]), tf.int32)
      model = modeling.BertModel(config, training, ids, mask,
                                 tf.zeros(shape, tf.int32),
                                 compute_type=compute_type)
      logits = tf.layers.dense(model.get_pooled_output(), 2)
      if training:
        loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
        op = optimization.create_optimizer(loss, 2e-5, 1000, 100, False)
      else:
        op = tf.reduce_sum(tf.nn.softmax(logits))
      with tf.Session(config=session_config(args.one)) as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(2):
          sess.run(op)
        start = time.time()
        for _ in range(args.steps):
          sess.run(op)
        seconds = (time.time() - start) / args.steps
    results[mode] = args.batch_size / seconds
  results["peak_rss_mb"] = resource.getrusage(
      resource.RUSAGE_SELF).ru_maxrss / 1024.0
  print("RESULT " + json.dumps(results))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--seq_length", type=int, default=128)
  parser.add_argument("--layers", type=int, default=12)
  parser.add_argument("--hidden", type=int, default=768)
  parser.add_argument("--steps", type=int, default=4)
  parser.add_argument("--configs", default=",".join(CONFIGS))
  parser.add_argument("--one", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.one:
    run_one(args)
    return

  peaks = {d: matmul_peak(d) for d in ("fp32", "bf16")}
  rows = []
  for name in args.configs.split(","):
    cmd = [sys.executable, os.path.abspath(__file__), "--one", name] + [
        "--%s=%s" % (k, getattr(args, k))
        for k in ("batch_size", "seq_length", "layers", "hidden", "steps")]
    env = dict(os.environ)
    if name.endswith("-xla"):
      env["TF_XLA_FLAGS"] = "--tf_xla_cpu_global_jit"
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
      print("%s failed:\n%s" % (name, proc.stderr[-3000:]))
      continue
    rows.append(json.loads(lines[-1][len("RESULT "):]))

  train_flops = model_flops_per_example(args, True)
  predict_flops = model_flops_per_example(args, False)
  import runtime  # pylint: disable=g-import-not-at-top
  print("BERT %d layers, hidden %d, seq %d, batch %d; %d CPU cores (%s), "
        "native bf16: %s" % (args.layers, args.hidden, args.seq_length,
                             args.batch_size, os.cpu_count(), cpu_name(),
                             "yes" if runtime.cpu_has_native_bf16() else "no"))
  print("matmul peak (4096x768x3072): fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s" %
        (peaks["fp32"], peaks["bf16"]))
  print("%-14s %10s %8s %10s %10s %8s %10s %9s" % (
      "config", "train ex/s", "vs fp32", "train MFU", "pred ex/s", "vs fp32",
      "pred MFU", "peak MB"))
  base = rows[0] if rows and rows[0]["config"] == "fp32" else None
  for row in rows:
    peak = peaks["bf16" if row["config"].startswith("bf16") else "fp32"] * 1e9
    print("%-14s %10.2f %7.2fx %9.1f%% %10.2f %7.2fx %9.1f%% %9.0f" % (
        row["config"], row["train"],
        row["train"] / base["train"] if base else float("nan"),
        100.0 * row["train"] * train_flops / peak, row["predict"],
        row["predict"] / base["predict"] if base else float("nan"),
        100.0 * row["predict"] * predict_flops / peak, row["peak_rss_mb"]))


if __name__ == "__main__":
  main()
