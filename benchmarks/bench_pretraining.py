"""Benchmark: BERT pre-training speed (masked LM + next sentence, AdamW).

  python benchmarks/bench_pretraining.py [--batch_size 8] [--steps 5]
      [--layers 12 --hidden 768]

Writes random pre-training examples (the layout create_pretraining_data.py
writes) to a temporary TFRecord file and trains a BERT-base-shaped model on
them (12 layers, hidden 768, 12 heads, intermediate 3072, vocab 30522,
sequence length 128, 20 predictions per sequence) with run_pretraining.py's
own `input_fn_builder` and `model_fn_builder`, in one session. After
`--warmup_steps` untimed steps it times `--steps` steps and prints steps/sec
and examples/sec, and the rate of the input pipeline alone, to show that it
is not the bottleneck. `--layers 2 --hidden 128` gives a quick run.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top
import quiet_tensorflow  # pylint: disable=g-import-not-at-top,unused-import  (oneDNN on, as in the scripts)
import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top

import modeling  # pylint: disable=g-import-not-at-top
import run_pretraining  # pylint: disable=g-import-not-at-top


def parse_args():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--layers", type=int, default=12)
  parser.add_argument("--hidden", type=int, default=768)
  parser.add_argument("--heads", type=int, default=12)
  parser.add_argument("--intermediate", type=int, default=None,
                      help="Default: 4 x --hidden.")
  parser.add_argument("--vocab_size", type=int, default=30522)
  parser.add_argument("--seq_length", type=int, default=128)
  parser.add_argument("--max_predictions", type=int, default=20)
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--warmup_steps", type=int, default=2,
                      help="Untimed steps first (graph optimisation, caches).")
  parser.add_argument("--steps", type=int, default=5, help="Timed steps.")
  parser.add_argument("--num_examples", type=int, default=64,
                      help="Random examples in the TFRecord file (repeated).")
  return parser.parse_args()


def write_random_examples(path, num_examples, seq_length, max_predictions,
                          vocab_size, seed=0):
  """Random pre-training examples: two segments, masked positions, labels."""
  rng = np.random.RandomState(seed)

  def ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

  with tf.io.TFRecordWriter(path) as writer:
    for _ in range(num_examples):
      split = rng.randint(1, seq_length - 1)
      positions = np.sort(rng.choice(np.arange(1, seq_length),
                                     max_predictions, replace=False))
      feature = {
          "input_ids": ints(rng.randint(0, vocab_size, seq_length)),
          "input_mask": ints([1] * seq_length),
          "segment_ids": ints([0] * split + [1] * (seq_length - split)),
          "masked_lm_positions": ints(positions),
          "masked_lm_ids": ints(rng.randint(0, vocab_size, max_predictions)),
          "masked_lm_weights": tf.train.Feature(float_list=tf.train.FloatList(
              value=[1.0] * max_predictions)),
          "next_sentence_labels": ints([rng.randint(2)]),
      }
      writer.write(tf.train.Example(features=tf.train.Features(
          feature=feature)).SerializeToString())


def time_input_pipeline(input_fn, batch_size, num_batches=50):
  """Examples/sec of the tf.data pipeline on its own."""
  with tf.Graph().as_default():
    batch = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": batch_size})).get_next()
    with tf.Session() as sess:
      sess.run(batch)
      start = time.time()
      for _ in range(num_batches):
        sess.run(batch)
      return num_batches * batch_size / (time.time() - start)


def time_training(config, input_fn, args):
  """(seconds per step, final loss) of pre-training steps."""
  model_fn = run_pretraining.model_fn_builder(
      bert_config=config, init_checkpoint=None, learning_rate=1e-4,
      num_train_steps=1000, num_warmup_steps=10, use_tpu=False,
      use_one_hot_embeddings=False)
  with tf.Graph().as_default():
    tf.set_random_seed(0)
    features = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": args.batch_size})).get_next()
    spec = model_fn(features, None, tf.estimator.ModeKeys.TRAIN,
                    {"batch_size": args.batch_size})
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      for _ in range(args.warmup_steps):
        sess.run(spec.train_op)
      start = time.time()
      for _ in range(args.steps):
        (_, loss) = sess.run([spec.train_op, spec.loss])
      return (time.time() - start) / args.steps, float(loss)


def main():
  args = parse_args()
  tf.logging.set_verbosity(tf.logging.ERROR)
  config = modeling.BertConfig(
      vocab_size=args.vocab_size, hidden_size=args.hidden,
      num_hidden_layers=args.layers, num_attention_heads=args.heads,
      intermediate_size=args.intermediate or 4 * args.hidden,
      max_position_embeddings=max(512, args.seq_length))

  tmp_dir = tempfile.mkdtemp(prefix="bench_pretraining_")
  try:
    path = os.path.join(tmp_dir, "random.tfrecord")
    write_random_examples(path, args.num_examples, args.seq_length,
                          args.max_predictions, args.vocab_size)
    input_fn = run_pretraining.input_fn_builder(
        [path], args.seq_length, args.max_predictions, is_training=True)
    pipeline_rate = time_input_pipeline(input_fn, args.batch_size)
    (sec_per_step, loss) = time_training(config, input_fn, args)
  finally:
    shutil.rmtree(tmp_dir, ignore_errors=True)

  print("BERT pre-training: %d layers, hidden %d, %d heads, intermediate %d, "
        "vocab %d; seq %d, %d predictions/seq, batch %d; %d CPU cores" %
        (config.num_hidden_layers, config.hidden_size,
         config.num_attention_heads, config.intermediate_size,
         config.vocab_size, args.seq_length, args.max_predictions,
         args.batch_size, os.cpu_count() or 0))
  print("%d warm-up steps, %d timed steps; final loss %.3f" %
        (args.warmup_steps, args.steps, loss))
  print("%-40s %10s %13s %10s" % ("stage", "steps/sec", "examples/sec",
                                  "sec/step"))
  print("%-40s %10.3f %13.2f %10.3f" % (
      "pre-training step (MLM + NSP, AdamW)", 1.0 / sec_per_step,
      args.batch_size / sec_per_step, sec_per_step))
  print("%-40s %10s %13.0f %10s" % ("tf.data input pipeline alone", "-",
                                    pipeline_rate, "-"))


if __name__ == "__main__":
  main()
