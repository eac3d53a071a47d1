"""Benchmark: the quick start's model on real movie reviews it has never seen.

  bash quickstart.sh                      # writes /tmp/bert_quickstart
  python benchmarks/bench_quickstart.py [--quickstart_dir /tmp/bert_quickstart]

Classifies the sentences of SST-2's dev set (`../shared/data/senteval/SST2/
dev.tsv`, `label<TAB>sentence`, real review snippets; read in place, never
copied into the project) with the fine-tuned checkpoint of the quick start,
through `run_classifier.py --do_predict` as a user would (the sentences are
written to a temporary SST-2-layout `test.tsv`; `--bucket_by_length`, whose
predictions are the padded run's, in 30 s instead of 50), and prints the
accuracy, the number of sentences and the time. The quick start trains on
sentences of our own (`data/quickstart`), so this is its accuracy on text it
was not written for.
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

ROOT = bench_common.ROOT
SST2_DEV = os.path.join(os.path.dirname(ROOT), "shared", "data", "senteval",
                        "SST2", "dev.tsv")


def read_labelled(path):
  """[(label, sentence)] of a SenteVal `label<TAB>sentence` file."""
  with open(path, encoding="utf-8") as f:
    rows = [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]
  return [(label, sentence) for label, sentence in rows]


def predict_labels(quickstart_dir, sentences, max_seq_length=64):
  """The quick-start model's labels ("0"/"1") of `sentences`, in order."""
  with tempfile.TemporaryDirectory(prefix="bench_quickstart_") as tmp:
    with open(os.path.join(tmp, "test.tsv"), "w", encoding="utf-8") as f:
      f.write("index\tsentence\n")
      f.writelines("%d\t%s\n" % (i, s) for i, s in enumerate(sentences))
    model = os.path.join(quickstart_dir, "minilm")
    out = os.path.join(quickstart_dir, "sentiment")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "run_classifier.py"),
         "--task_name=SST-2", "--do_predict", "--data_dir=%s" % tmp,
         "--vocab_file=%s" % os.path.join(model, "vocab.txt"),
         "--bert_config_file=%s" % os.path.join(model, "bert_config.json"),
         "--max_seq_length=%d" % max_seq_length, "--predict_batch_size=64",
         "--bucket_by_length",
         "--output_dir=%s" % out], capture_output=True, text=True)
    if proc.returncode:
      raise RuntimeError(proc.stderr[-3000:])
    with open(os.path.join(out, "test_predictions.tsv"),
              encoding="utf-8") as f:
      rows = [line.rstrip("\n").split("\t") for line in f][1:]
  return [row[1] for row in rows]


def accuracy(quickstart_dir, path=SST2_DEV):
  """(accuracy, number of sentences) of the quick-start model on `path`."""
  rows = read_labelled(path)
  predicted = predict_labels(quickstart_dir, [s for _, s in rows])
  correct = sum(p == label for p, (label, _) in zip(predicted, rows))
  return correct / float(len(rows)), len(rows)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quickstart_dir", default="/tmp/bert_quickstart")
  args = parser.parse_args()
  start = time.time()
  value, count = accuracy(args.quickstart_dir)
  print("quick-start model on SST-2 dev (%d real review sentences): "
        "accuracy %.4f (%.0f s; load average %.2f)" % (
            count, value, time.time() - start, os.getloadavg()[0]))


if __name__ == "__main__":
  main()
