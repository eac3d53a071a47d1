"""Benchmark: is run_ner's data path ever the bottleneck?

  python benchmarks/bench_ner.py [--layers 12 --hidden 768] [--steps 3]

Measures, on the sentences of data/ner/train.txt (repeated to --sentences):
  1. conversion: CoNLL sentences to word-piece windows with first-piece
     labels, written to a TFRecord by
     `run_ner.file_based_convert_examples_to_features` (sentences/sec);
  2. training steps of `run_ner.create_model` + the optimiser, fed from
     that TFRecord (examples/sec);
  3. prediction: the forward pass with per-piece probabilities
     (examples/sec).
At seq 128 with the default BERT-base shape, conversion must run at least
100 times faster than training; the last line says whether it does.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import quiet_tensorflow  # pylint: disable=g-import-not-at-top,unused-import  (oneDNN on, as in the scripts)
import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top

import bench_tokenization  # pylint: disable=g-import-not-at-top
import modeling  # pylint: disable=g-import-not-at-top
import optimization  # pylint: disable=g-import-not-at-top
import run_ner  # pylint: disable=g-import-not-at-top
import tokenization  # pylint: disable=g-import-not-at-top

TRAIN_FILE = os.path.join(ROOT, "data", "ner", "train.txt")
# Conversion must outpace training by this factor (issue 17).
REQUIRED_RATIO = 100.0


def read_examples(count):
  """`count` sentences: data/ner/train.txt, repeated as often as needed."""
  examples = run_ner.read_conll(TRAIN_FILE)
  return [examples[i % len(examples)] for i in range(count)]


def time_conversion(examples, label_list, vocab_file, seq_length,
                    record_file):
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=False)
  start = time.time()
  features = run_ner.file_based_convert_examples_to_features(
      examples, label_list, seq_length, tokenizer, seq_length // 2,
      record_file)
  return len(examples) / (time.time() - start), len(features)


def _timed_runs(sess, op, steps):
  for _ in range(2):  # Warm-up: graph optimisation, allocator.
    sess.run(op)
  start = time.time()
  for _ in range(steps):
    sess.run(op)
  return time.time() - start


def time_model(record_file, config, num_labels, seq_length, batch_size,
               steps, training):
  """examples/sec of training steps (or of forward passes)."""
  input_fn = run_ner.file_based_input_fn_builder(
      record_file, seq_length, is_training=True, drop_remainder=True)
  with tf.Graph().as_default():
    features = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": batch_size})).get_next()
    loss, _, _, probabilities = run_ner.create_model(
        config, training, features["input_ids"], features["input_mask"],
        features["segment_ids"], features["label_ids"],
        features["label_mask"], num_labels, False)
    if training:
      op = optimization.create_optimizer(loss, 2e-5, 1000, 100, False)
    else:
      op = probabilities
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return steps * batch_size / _timed_runs(sess, op, steps)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--layers", type=int, default=12)
  parser.add_argument("--hidden", type=int, default=768)
  parser.add_argument("--seq_length", type=int, default=128)
  parser.add_argument("--batch_size", type=int, default=16)
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--sentences", type=int, default=4000)
  args = parser.parse_args()
  tf.logging.set_verbosity(tf.logging.WARN)

  tmp = tempfile.mkdtemp(prefix="bench_ner_")
  examples = read_examples(args.sentences)
  vocab = bench_tokenization.build_vocab(
      [" ".join(e.words) for e in examples[:400]])
  vocab_file = os.path.join(tmp, "vocab.txt")
  with open(vocab_file, "w", encoding="utf-8") as f:
    f.write("\n".join(vocab) + "\n")
  label_list = run_ner.ConllProcessor.get_labels(examples)
  record_file = os.path.join(tmp, "train.tf_record")

  convert_rate, num_windows = time_conversion(
      examples, label_list, vocab_file, args.seq_length, record_file)
  config = modeling.BertConfig(
      vocab_size=max(len(vocab), 30522), hidden_size=args.hidden,
      num_hidden_layers=args.layers, num_attention_heads=max(
          1, args.hidden // 64), intermediate_size=4 * args.hidden,
      max_position_embeddings=512, type_vocab_size=2)
  train_rate = time_model(record_file, config, len(label_list),
                          args.seq_length, args.batch_size, args.steps, True)
  predict_rate = time_model(record_file, config, len(label_list),
                            args.seq_length, args.batch_size, args.steps,
                            False)

  print("data/ner/train.txt x %d sentences (%d windows), seq_length %d, "
        "batch %d; model %d layers, hidden %d; %d CPU cores" % (
            len(examples), num_windows, args.seq_length, args.batch_size,
            args.layers, args.hidden, os.cpu_count()))
  print("%-44s %16s" % ("stage", "per second"))
  print("%-44s %10.0f sent." % ("CoNLL -> windows -> TFRecord", convert_rate))
  print("%-44s %10.2f ex." % ("training step with the model", train_rate))
  print("%-44s %10.2f ex." % ("prediction (forward pass)", predict_rate))
  ratio = convert_rate / train_rate
  print("conversion / training: %.0fx (target >= %.0fx): %s" % (
      ratio, REQUIRED_RATIO, "OK" if ratio >= REQUIRED_RATIO else "BELOW"))


if __name__ == "__main__":
  main()
