"""Tests of training_loop.py and the training runtime a user watches and steers:
progress lines, TensorBoard summaries, evaluation during training, best
checkpoint, early stopping, resuming (exactly, with --seed), no stale results
and the inputs checked before any work.

The scripts run in subprocesses as typed on a command line, on a tiny model
(2 layers, hidden 32) whose config has dropout 0, so that the resume test
here checks the weights, Adam moments and data order alone (with dropout,
test_reliability.py checks that seeded masks resume exactly too).
"""

import glob
import json
import os
import re

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import output_files
import training_loop
from test_reliability import assert_clear_error
from test_reliability import kill_after_first_checkpoint

SEQ_LENGTH = 32


@pytest.fixture(scope="module")
def task(tmp_path_factory):
  """64 training pairs (8 steps an epoch at batch 8), 8 dev pairs."""
  return bert_testing.write_toy_mrpc_task(
      tmp_path_factory.mktemp("task"), hidden_dropout_prob=0.0,
      attention_probs_dropout_prob=0.0)


def args(task_dir, output_dir, *extra):
  return bert_testing.mrpc_train_args(task_dir, output_dir, SEQ_LENGTH,
                                      "--seed=7", *extra)


def run(task_dir, output_dir, *extra):
  proc = bert_testing.run_script("run_classifier.py",
                                 args(task_dir, output_dir, *extra))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def progress_steps(log):
  return [int(s) for s in re.findall(r"step (\d+)/\d+: ", log)]


def summaries(output_dir):
  """{tag: [(step, value)]} of the event files directly in `output_dir`."""
  out = {}
  for path in sorted(glob.glob(os.path.join(str(output_dir),
                                            "events.out.tfevents.*"))):
    for event in tf.train.summary_iterator(path):
      for value in event.summary.value:
        out.setdefault(value.tag, []).append((event.step, value.simple_value))
  return out


def read_eval_results(path):
  lines = open(str(path)).read().splitlines()
  return lines, dict(line.split(" = ", 1) for line in lines)


@pytest.fixture(scope="module")
def plain_run(task, tmp_path_factory):
  """3 epochs (24 steps) without evaluation, a checkpoint every 4 steps,
  summaries every 4."""
  out = tmp_path_factory.mktemp("plain")
  extra = ("--num_train_epochs=3", "--save_checkpoints_steps=4",
           "--save_summary_steps=4")
  proc = run(task, out, *extra)
  return out, extra, proc.stderr


def test_progress_of_a_short_run_every_5_percent(plain_run):
  out, _, log = plain_run
  # --log_every_n_steps unset: 24 steps // 20 = every step (and never
  # fewer than the first and the last).
  assert progress_steps(log) == list(range(1, 25))
  summary = json.loads((out / "training_summary.json").read_text())
  assert summary["steps"] == summary["global_step"] == 24


def test_tensorboard_has_the_training_curves(plain_run):
  out, _, _ = plain_run
  tags = summaries(out)
  for tag in ("loss", "learning_rate", "global_norm", "examples_per_sec",
              "global_step/sec"):
    assert tag in tags, sorted(tags)
  assert "loss_1" not in tags
  # The speed summaries every 4 global steps.
  assert [s for s, _ in tags["examples_per_sec"]] == [4, 8, 12, 16, 20, 24]
  # The Estimator's summaries: the first step, then every 4.
  steps = [s for s, _ in tags["loss"]]
  assert len(steps) == 6 and steps[0] <= 1
  assert all(b - a == 4 for a, b in zip(steps, steps[1:])), steps
  # Warm-up over int(0.1 * 24) = 2 steps, then linear decay from 1e-4 to 0
  # at step 24. The Estimator reads the step for the summary's index in the
  # session call that updates it: the value is the schedule's at that step
  # or at the one before.
  def schedule(k):
    return 1e-4 * k / 2.0 if k < 2 else 1e-4 * (1 - k / 24.0)

  for step, value in tags["learning_rate"]:
    assert min(abs(value - schedule(k)) for k in (step - 1, step)) < 1e-9, (
        step, value)
  assert all(v > 0 for _, v in tags["global_norm"])


def test_killed_run_resumes_exactly_as_uninterrupted(plain_run, task,
                                                     tmp_path):
  """SIGKILL after the first checkpoint past step 0, then the same command:
  with --seed the rerun reads the batches the uninterrupted run read after
  that step, so the final weights are the same (tolerance 1e-5: same ops on
  the same CPU; dropout is 0, see the module docstring)."""
  reference, extra, _ = plain_run
  out = tmp_path / "killed"
  _, restored = kill_after_first_checkpoint(
      "run_classifier.py", args(task, out, *extra), out)
  assert 0 < restored < 24
  proc = run(task, out, *extra)
  assert "Resuming training from %s/model.ckpt-%d (step %d of 24)" % (
      out, restored, restored) in proc.stderr
  summary = json.loads((out / "training_summary.json").read_text())
  assert summary["steps"] == 24 - restored and summary["global_step"] == 24
  want = tf.train.load_checkpoint(str(reference / "model.ckpt-24"))
  got = tf.train.load_checkpoint(str(out / "model.ckpt-24"))
  names = sorted(want.get_variable_to_shape_map())
  assert names == sorted(got.get_variable_to_shape_map())
  assert any(n.endswith("adam_m") for n in names)
  for name in names:
    np.testing.assert_allclose(got.get_tensor(name), want.get_tensor(name),
                               rtol=0, atol=1e-5, err_msg=name)


def test_rerun_of_a_finished_run_says_it_is_complete(plain_run, task):
  out, extra, _ = plain_run
  before = sorted(os.listdir(str(out)))
  changed = ["--init_checkpoint=%s" % (out / "model.ckpt-24")]
  proc = bert_testing.run_script("run_classifier.py",
                                 args(task, out, *extra, *changed))
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      "run_classifier.py: error: --output_dir=%s holds a finished run (step "
      "24 of 24) made with other settings, so --do_train trains nothing on "
      "it: --init_checkpoint=%s (was None). Use --overwrite_output_dir to "
      "train anew with these settings, another --output_dir, or "
      "--resume_with_changed_settings to continue it anyway." %
      (out, out / "model.ckpt-24"))
  proc = run(task, out, *extra, *changed, "--resume_with_changed_settings")
  assert re.search(
      r"Training is complete: .*model\.ckpt-24 is at step 24 of 24, .* "
      r"--init_checkpoint=.* is not used\. Use --overwrite_output_dir to "
      r"start over\.", proc.stderr)
  assert "Running training" not in proc.stderr
  assert sorted(os.listdir(str(out))) == before


@pytest.fixture(scope="module")
def eval_run(task, tmp_path_factory):
  """2 epochs (16 steps), evaluating every 5 steps, patience 2 with a
  min_delta no change of accuracy can beat: evaluations at 5, 10 and 15,
  then early stop; 1 checkpoint kept."""
  out = tmp_path_factory.mktemp("eval")
  proc = run(task, out, "--num_train_epochs=2", "--do_eval",
             "--eval_every_n_steps=5", "--early_stopping_patience=2",
             "--early_stopping_min_delta=1.0", "--keep_checkpoint_max=1",
             "--save_checkpoints_steps=100", "--log_every_n_steps=1",
             "--save_summary_steps=100")
  return out, proc.stderr


def test_progress_counts_global_steps(eval_run):
  out, log = eval_run
  assert progress_steps(log) == list(range(1, 16))
  summary = json.loads((out / "training_summary.json").read_text())
  assert summary["steps"] == summary["global_step"] == 15


def test_evaluations_are_logged_kept_and_plotted(eval_run):
  out, log = eval_run
  history = [json.loads(l) for l in (out / "eval_history.jsonl").open()]
  assert [h["step"] for h in history] == [5, 10, 15]
  for step in (5, 10, 15):
    assert len(re.findall(r"Evaluation at step %d: .*eval_accuracy = " % step,
                          log)) == 1
  # One tag per metric, in the run "eval" (Estimator's), none beside the
  # training curves.
  tags = summaries(out / "eval")
  for name in ("eval_accuracy", "eval_loss", "eval_f1"):
    assert [s for s, _ in tags[name]] == [5, 10, 15]
    assert [v for _, v in tags[name]] == pytest.approx(
        [h[name] for h in history])
  assert not [tag for tag in summaries(out) if tag.startswith("eval")]


def test_final_evaluation_of_the_best_checkpoint_keeps_the_curve(eval_run):
  out, _ = eval_run
  history = [json.loads(l) for l in (out / "eval_history.jsonl").open()]
  best = max(history, key=lambda h: (h["eval_accuracy"], -h["step"]))
  curve = summaries(out / "eval")["eval_accuracy"]
  assert [s for s, _ in curve] == [5, 10, 15]  # Never back to the best.
  assert summaries(out / "eval_best")["eval_accuracy"] == [
      (best["step"], pytest.approx(best["eval_accuracy"]))]


def test_early_stopping_and_the_best_checkpoint(eval_run):
  out, log = eval_run
  history = [json.loads(l) for l in (out / "eval_history.jsonl").open()]
  assert re.search(r"Early stopping at step 15: eval_accuracy has not "
                   r"improved by more than 1 for 2 evaluations", log)
  assert not (out / "model.ckpt-16.index").exists()
  # The first of the highest accuracies, kept beside its results.
  best = max(history, key=lambda h: (h["eval_accuracy"], -h["step"]))
  best_dir = out / "best"
  assert tf.train.latest_checkpoint(str(best_dir)) == str(
      best_dir / ("model.ckpt-%d" % best["step"]))
  _, kept = read_eval_results(best_dir / "eval_results.txt")
  assert float(kept["eval_accuracy"]) == pytest.approx(best["eval_accuracy"])
  assert int(kept["global_step"]) == best["step"]
  # --keep_checkpoint_max=1 left only the last one in output_dir.
  assert [os.path.basename(p) for p in glob.glob(
      str(out / "model.ckpt-*.index"))] == ["model.ckpt-15.index"]
  # The final results are the best checkpoint's.
  _, final = read_eval_results(out / "eval_results.txt")
  assert int(final["global_step"]) == best["step"]
  assert "Results are those of the best checkpoint" in log


def test_eval_results_have_per_class_metrics(eval_run):
  out, _ = eval_run
  lines, result = read_eval_results(out / "eval_results.txt")
  assert lines[0].startswith("eval_accuracy = ")
  assert lines[1].startswith("eval_loss = ")
  matrix = np.array([[int(result["eval_confusion_%d_predicted_%d" % (g, p)])
                      for p in (0, 1)] for g in (0, 1)])
  assert all(float(v) >= 0 for v in result.values())  # All numbers.
  assert matrix.sum() == 8  # The dev pairs.
  # Against eval_accuracy, which tf.metrics.accuracy computed on its own.
  assert np.trace(matrix) / 8.0 == pytest.approx(
      float(result["eval_accuracy"]))
  for i in (0, 1):
    tp, predicted, gold = matrix[i, i], matrix[:, i].sum(), matrix[i].sum()
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold
    assert float(result["eval_precision_%d" % i]) == pytest.approx(precision)
    assert float(result["eval_recall_%d" % i]) == pytest.approx(recall)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    assert float(result["eval_f1_%d" % i]) == pytest.approx(f1)


def test_overwrite_refuses_a_directory_with_other_files(eval_run, task):
  out, _ = eval_run
  (out / "notes.txt").write_text("mine")
  try:
    proc = bert_testing.run_script("run_classifier.py", args(
        task, out, "--overwrite_output_dir"))
    assert_clear_error(proc, "run_classifier.py", "notes.txt",
                       "--overwrite_output_dir")
    assert (out / "checkpoint").exists()
  finally:
    (out / "notes.txt").unlink()


def test_clear_previous_run_removes_only_run_outputs(tmp_path):
  for name in ("checkpoint", "model.ckpt-3.index", "train.tf_record",
               "eval_results.txt", "eval_history.jsonl",
               "events.out.tfevents.1.host"):
    (tmp_path / name).write_text("x")
  (tmp_path / "best").mkdir()
  (tmp_path / "best" / "model.ckpt-1.index").write_text("x")
  removed = output_files.clear_previous_run(str(tmp_path))
  assert len(removed) == 7 and os.listdir(str(tmp_path)) == []
  (tmp_path / "data.tsv").write_text("x")
  (tmp_path / "checkpoint").write_text("x")
  with pytest.raises(output_files.UserError, match="data.tsv"):
    output_files.clear_previous_run(str(tmp_path))
  assert (tmp_path / "checkpoint").exists()


def test_best_tracker_resumes_its_history(tmp_path):
  def tracker():
    return training_loop.BestTracker(str(tmp_path), "eval_loss", "min", 2,
                                     0.1, lambda *unused: None)

  for step, loss in ((1, 0.9), (2, 0.5), (3, 0.45)):
    training_loop.append_history(str(tmp_path),
                                 {"step": step, "eval_loss": loss})
  resumed = tracker()
  # 0.45 is the best, but only 0.05 better than 0.5: one without progress.
  assert resumed.best["step"] == 3
  assert resumed.evaluations_since_best == 1 and not resumed.stopped
  training_loop.append_history(str(tmp_path), {"step": 4, "eval_loss": 0.6})
  assert tracker().stopped


def write_checkpoint(prefix, names):
  with tf.Graph().as_default():
    for name in names:
      tf.get_variable(name, [2])
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver().save(sess, prefix)


@pytest.mark.parametrize("case", [
    "no_dev_set", "unknown_metric", "patience_without_eval",
    "missing_init_checkpoint", "init_checkpoint_of_another_model",
    "empty_vocab", "vocab_without_cls"])
def test_bad_input_is_one_line_before_any_work(case, task, tmp_path):
  extra, fragments = [], []
  task_dir = task
  if case == "no_dev_set":
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    for name in ("msr_paraphrase_train.txt", "vocab.txt", "bert_config.json"):
      (task_dir / name).write_text((task / name).read_text())
    extra = ["--eval_every_n_steps=4"]
    fragments = ["--eval_every_n_steps=4 needs a dev set",
                 "dev.tsv does not exist"]
  elif case == "unknown_metric":
    extra = ["--eval_every_n_steps=4", "--best_checkpoint_metric=bleu"]
    fragments = ["--best_checkpoint_metric=bleu", "eval_accuracy, eval_f1"]
  elif case == "patience_without_eval":
    extra = ["--early_stopping_patience=3"]
    fragments = ["--early_stopping_patience=3", "--eval_every_n_steps"]
  elif case == "missing_init_checkpoint":
    extra = ["--init_checkpoint=%s" % (tmp_path / "nothing.ckpt")]
    fragments = ["--init_checkpoint=", "nothing.ckpt", "not a readable"]
  elif case == "init_checkpoint_of_another_model":
    write_checkpoint(str(tmp_path / "other.ckpt"), ["bert/embeddings/x"])
    extra = ["--init_checkpoint=%s" % (tmp_path / "other.ckpt")]
    fragments = ["--init_checkpoint=", "lacks",
                 "bert/embeddings/LayerNorm/beta"]
  else:
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    for name in ("msr_paraphrase_train.txt", "msr_paraphrase_test.txt",
                 "bert_config.json"):
      (task_dir / name).write_text((task / name).read_text())
    vocab = (task / "vocab.txt").read_text().splitlines()
    if case == "empty_vocab":
      (task_dir / "vocab.txt").write_text("")
      fragments = ["vocab.txt is empty"]
    else:
      (task_dir / "vocab.txt").write_text(
          "\n".join(t for t in vocab if t != "[CLS]") + "\n")
      fragments = ["vocab.txt has no [CLS]"]
    fragments.insert(0, "--vocab_file=")
  out = tmp_path / "out"
  proc = bert_testing.run_script("run_classifier.py",
                                 args(task_dir, out, *extra))
  assert_clear_error(proc, "run_classifier.py", *fragments)
  assert not (out / "train.tf_record").exists()
