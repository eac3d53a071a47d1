"""Benchmark: memory of gradient accumulation against a plain large batch.

  python benchmarks/bench_accumulation.py [--layers 12] [--micro_batch 32]

`--num_accumulation_steps=N` promises a large effective batch in the memory
of a small one. This trains a BERT-base-shaped classifier (hidden 768,
sequence length 128) on random data, each configuration in its own
subprocess so that its peak RSS is its own:

  batch 32            no accumulation (the baseline);
  batch 64            no accumulation: how memory grows with the batch;
  batch 256 = 8 x 32  `num_accumulation_steps=8`, micro-batches of 32.

and prints each one's peak RSS and examples/sec, with the ratio of the
accumulated run's peak to the baseline's. (A plain batch of 256 would need
about 8 times the baseline's activations; it is not run.)
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import os
import time

import bench_common


def run_one(args):
  """Trains one configuration in this process; prints a JSON line."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  import optimization  # pylint: disable=g-import-not-at-top

  micro_batch = args.batch // args.accumulate
  with tf.Graph().as_default():
    ids, mask, labels = bench_common.random_inputs(micro_batch,
                                                   args.seq_length)
    logits = bench_common.bert_logits(ids, mask, True, args.layers,
                                      args.hidden, args.seq_length)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = optimization.create_optimizer(
        loss, 2e-5, 1000, 0, False, num_accumulation_steps=args.accumulate)
    global_step = tf.train.get_global_step()
    with tf.Session() as sess:
      sess.run([tf.global_variables_initializer(),
                tf.local_variables_initializer()])
      # One whole update to warm up, then the timed ones.
      for _ in range(args.accumulate):
        sess.run(train_op)
      start = time.time()
      for _ in range(args.updates * args.accumulate):
        sess.run(train_op)
      seconds = time.time() - start
      updates = sess.run(global_step)
  assert updates == args.updates + 1, updates
  bench_common.print_result({
      "batch": args.batch, "accumulate": args.accumulate,
      "examples_per_sec": args.updates * args.batch / seconds})


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--layers", type=int, default=12)
  parser.add_argument("--hidden", type=int, default=768)
  parser.add_argument("--seq_length", type=int, default=128)
  parser.add_argument("--micro_batch", type=int, default=32)
  parser.add_argument("--steps", type=int, default=8,
                      help="Accumulation steps of the large-batch run.")
  parser.add_argument("--updates", type=int, default=1,
                      help="Timed updates per configuration (after one).")
  parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
  parser.add_argument("--accumulate", type=int, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.one:
    run_one(args)
    return

  runs = [(args.micro_batch, 1), (2 * args.micro_batch, 1),
          (args.steps * args.micro_batch, args.steps)]
  rows = []
  for batch, accumulate in runs:
    row = bench_common.run_in_own_process(__file__, [
        "--one", "--batch=%d" % batch, "--accumulate=%d" % accumulate] + [
            "--%s=%s" % (k, getattr(args, k))
            for k in ("layers", "hidden", "seq_length", "updates")],
                                          "batch %d" % batch)
    if row is None:
      return
    rows.append(row)

  print("BERT %d layers, hidden %d, seq %d; %d CPU cores" % (
      args.layers, args.hidden, args.seq_length, os.cpu_count()))
  print("%-22s %10s %12s %14s" % ("batch", "peak MB", "vs batch %d" %
                                  args.micro_batch, "examples/sec"))
  base = rows[0]["peak_rss_mb"]
  for row in rows:
    name = ("%d" % row["batch"] if row["accumulate"] == 1 else
            "%d = %d x %d" % (row["batch"], row["accumulate"],
                              row["batch"] // row["accumulate"]))
    print("%-22s %10.0f %11.2fx %14.2f" % (
        name, row["peak_rss_mb"], row["peak_rss_mb"] / base,
        row["examples_per_sec"]))


if __name__ == "__main__":
  main()
