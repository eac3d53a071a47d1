"""Benchmark: is the classifier's data path ever the bottleneck?

  python benchmarks/bench_classifier.py [--layers 12 --hidden 768] [--steps 10]

Measures, on the real MRPC train file in ../shared/data/mrpc:
  1. feature conversion: all 4,076 pairs tokenized and written to a TFRecord
     by `file_based_convert_examples_to_features` (examples/sec);
  2. the tf.data input pipeline alone, reading that TFRecord in training mode
     (examples/sec);
  3. training steps with the model (the same input pipeline feeding
     `create_model` + `create_optimizer`), examples/sec.
The ratio of (2) to (3) says how much headroom the input pipeline has.
The default model is BERT-base shaped; `--layers 2 --hidden 128` is quicker.
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
import run_classifier  # pylint: disable=g-import-not-at-top
import tokenization  # pylint: disable=g-import-not-at-top

MRPC_DIR = os.path.join(os.path.dirname(ROOT), "shared", "data", "mrpc")


def write_vocab(path):
  sentences = bench_tokenization.read_sentences()
  vocab = bench_tokenization.build_vocab(sentences)
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(vocab) + "\n")
  return len(vocab)


def time_conversion(examples, vocab_file, seq_length, record_file):
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  start = time.time()
  run_classifier.file_based_convert_examples_to_features(
      examples, ["0", "1"], seq_length, tokenizer, record_file)
  return len(examples) / (time.time() - start)


def time_input_pipeline(record_file, seq_length, batch_size, num_batches):
  input_fn = run_classifier.file_based_input_fn_builder(
      record_file, seq_length, is_training=True, drop_remainder=True)
  with tf.Graph().as_default():
    batch = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": batch_size})).get_next()
    with tf.Session() as sess:
      for _ in range(5):
        sess.run(batch)
      start = time.time()
      for _ in range(num_batches):
        sess.run(batch)
      return num_batches * batch_size / (time.time() - start)


def time_training(record_file, config, seq_length, batch_size, steps):
  input_fn = run_classifier.file_based_input_fn_builder(
      record_file, seq_length, is_training=True, drop_remainder=True)
  with tf.Graph().as_default():
    features = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": batch_size})).get_next()
    loss, _, _, _ = run_classifier.create_model(
        config, True, features["input_ids"], features["input_mask"],
        features["segment_ids"], features["label_ids"], 2, False)
    train_op = optimization.create_optimizer(loss, 2e-5, 1000, 100, False)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      for _ in range(2):  # Warm-up: graph optimisation, allocator.
        sess.run(train_op)
      start = time.time()
      for _ in range(steps):
        sess.run(train_op)
      return steps * batch_size / (time.time() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--layers", type=int, default=12)
  parser.add_argument("--hidden", type=int, default=768)
  parser.add_argument("--seq_length", type=int, default=128)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--steps", type=int, default=5)
  args = parser.parse_args()
  tf.logging.set_verbosity(tf.logging.WARN)

  tmp = tempfile.mkdtemp(prefix="bench_classifier_")
  vocab_file = os.path.join(tmp, "vocab.txt")
  vocab_size = write_vocab(vocab_file)
  examples = run_classifier.MrpcProcessor().get_train_examples(MRPC_DIR)
  record_file = os.path.join(tmp, "train.tf_record")

  convert_rate = time_conversion(examples, vocab_file, args.seq_length,
                                 record_file)
  pipeline_rate = time_input_pipeline(record_file, args.seq_length,
                                      args.batch_size, 200)
  config = modeling.BertConfig(
      vocab_size=max(vocab_size, 30522), hidden_size=args.hidden,
      num_hidden_layers=args.layers, num_attention_heads=max(
          1, args.hidden // 64), intermediate_size=4 * args.hidden,
      max_position_embeddings=512, type_vocab_size=2)
  train_rate = time_training(record_file, config, args.seq_length,
                             args.batch_size, args.steps)

  print("MRPC train: %d pairs, seq_length %d, batch %d; model %d layers, "
        "hidden %d; %d CPU cores" % (len(examples), args.seq_length,
                                     args.batch_size, args.layers,
                                     args.hidden, os.cpu_count()))
  print("%-46s %14s" % ("stage", "examples/sec"))
  print("%-46s %14.0f" % ("feature conversion to TFRecord", convert_rate))
  print("%-46s %14.0f" % ("tf.data input pipeline alone", pipeline_rate))
  print("%-46s %14.1f" % ("training step with the model", train_rate))
  print("input pipeline headroom over training: %.0fx" %
        (pipeline_rate / train_rate))


if __name__ == "__main__":
  main()
