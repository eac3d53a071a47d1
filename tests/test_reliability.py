"""Reliability: crash and resume, corrupt input, atomic outputs, paths, seeds.

Each test injects one fault and checks what a user sees: the scripts run in
subprocesses exactly as typed on a command line, on a tiny model (2 layers,
hidden 32, max_seq_length 32); the atomic-write tests run in-process with a
writer that fails half-way. A bad input or path must end a run with one line,
`<script>: error: <message naming the file or flag>`, and no traceback from
inside TensorFlow.
"""

import glob
import http.server
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import convert_checkpoint
import modeling
import output_files
import run_classifier
import run_pretraining
import run_squad

SEQ_LENGTH = 32
MAX_PREDICTIONS = 5
PRETRAINING_VOCAB_SIZE = 40


# --- fixtures and helpers ----------------------------------------------------


@pytest.fixture(scope="module")
def task(tmp_path_factory):
  """An MRPC-layout task: 64 training pairs, 8 dev pairs, vocab, config;
  dropout on (0.1, as in the official configs): seeds must cover it."""
  return bert_testing.write_toy_mrpc_task(tmp_path_factory.mktemp("task"))


def classifier_args(task_dir, output_dir, *extra):
  return bert_testing.mrpc_train_args(task_dir, output_dir, SEQ_LENGTH, *extra)


def write_pretraining_records(path, num_examples, seed=0):
  """Pre-training examples of random ids, as create_pretraining_data writes."""
  rng = random.Random(seed)
  examples = []
  for _ in range(num_examples):
    n = rng.randrange(12, SEQ_LENGTH + 1)
    ids = [2] + [rng.randrange(5, PRETRAINING_VOCAB_SIZE)
                 for _ in range(n - 2)] + [3]
    positions = sorted(rng.sample(range(1, n - 1), MAX_PREDICTIONS))
    pad = [0] * (SEQ_LENGTH - n)
    examples.append({
        "input_ids": ids + pad,
        "input_mask": [1] * n + pad,
        "segment_ids": [0] * (n // 2) + [1] * (n - n // 2) + pad,
        "masked_lm_positions": positions,
        "masked_lm_ids": [ids[p] for p in positions],
        "masked_lm_weights": [1.0] * MAX_PREDICTIONS,
        "next_sentence_labels": [rng.randrange(2)],
    })
  return bert_testing.write_records(path, examples)
  return str(path)


@pytest.fixture(scope="module")
def pretraining(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("pretraining")
  bert_testing.write_config(str(tmp / "bert_config.json"),
                            PRETRAINING_VOCAB_SIZE, max_position_embeddings=64)
  write_pretraining_records(tmp / "data.tfrecord", 256)
  return tmp


def pretraining_args(data_dir, output_dir, **overrides):
  args = {
      "input_file": data_dir / "data.tfrecord", "output_dir": output_dir,
      "bert_config_file": data_dir / "bert_config.json", "do_train": True,
      "train_batch_size": 8, "max_seq_length": SEQ_LENGTH,
      "max_predictions_per_seq": MAX_PREDICTIONS, "num_train_steps": 20,
      "num_warmup_steps": 2, "learning_rate": 1e-4,
  }
  args.update(overrides)
  return ["--%s=%s" % kv for kv in args.items()]


def checkpoint_steps(output_dir):
  return sorted(int(re.search(r"ckpt-(\d+)\.index$", p).group(1))
                for p in glob.glob(os.path.join(str(output_dir),
                                                "model.ckpt-*.index")))


def kill_after_first_checkpoint(script, args, output_dir, timeout=300):
  """Starts `script` and SIGKILLs it once a checkpoint past step 0 exists.

  Returns:
    (pid of the killed process, step of the checkpoint a rerun restores).
  """
  # A new process: its Python hash seed is not that of the run it is
  # compared with (script_server's forks share one).
  proc = bert_testing.start_script(script, args, fresh=True)
  deadline = time.time() + timeout
  # Wait on the `checkpoint` state file, not on model.ckpt-N.index: the saver
  # writes the index first and names it in the state file a moment later, and
  # a kill in between rightly leaves the previous checkpoint as the latest.
  while (latest_checkpoint_step(output_dir) <= 0 and proc.poll() is None and
         time.time() < deadline):
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  _, err = proc.communicate()
  assert proc.returncode == -signal.SIGKILL, (
      "finished before it could be killed:\n" + err[-3000:])
  restored = latest_checkpoint_step(output_dir)
  assert restored > 0, err[-3000:]
  assert restored in checkpoint_steps(output_dir)
  return proc.pid, restored


def rerun_and_check_resumed(script, args, output_dir, restored, last_step):
  """Reruns a killed command: it must restore model.ckpt-<restored>, make
  only the remaining steps and end with a complete model.ckpt-<last_step>."""
  proc = bert_testing.run_script(script, args)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Restoring parameters from %s/model.ckpt-%d" % (
      output_dir, restored) in proc.stderr
  # The summary counts the steps this run made, up to the global step.
  summary = training_summary(output_dir)
  assert summary["steps"] == last_step - restored
  assert summary["global_step"] == last_step
  assert_checkpoint_complete(output_dir, last_step)
  return proc


def latest_checkpoint_step(output_dir):
  """Step of the checkpoint a run would restore, -1 when there is none."""
  latest = tf.train.latest_checkpoint(str(output_dir))
  return int(latest.rsplit("-", 1)[1]) if latest else -1


def assert_checkpoint_complete(output_dir, step):
  """model.ckpt-<step> is the latest, and every variable in it is finite."""
  prefix = os.path.join(str(output_dir), "model.ckpt-%d" % step)
  assert tf.train.latest_checkpoint(str(output_dir)) == prefix
  reader = tf.train.load_checkpoint(prefix)
  assert reader.get_tensor("global_step") == step
  names = reader.get_variable_to_shape_map()
  assert "bert/embeddings/word_embeddings" in names
  for name in names:
    value = reader.get_tensor(name)
    if np.issubdtype(np.asarray(value).dtype, np.floating):
      assert np.all(np.isfinite(value)), name


def training_summary(output_dir):
  return json.loads((output_dir / "training_summary.json").read_text())


def assert_clear_error(proc, script, *fragments):
  """A non-zero exit whose last line is `<script>: error: ...fragments...`,
  with no Python traceback (so none from inside TensorFlow)."""
  assert proc.returncode not in (0, None), proc.stderr[-3000:]
  last_line = proc.stderr.strip().splitlines()[-1]
  assert last_line.startswith("%s: error: " % script), proc.stderr[-3000:]
  for fragment in fragments:
    assert fragment in last_line, last_line
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  assert not re.search(r'File ".*tensorflow', proc.stderr)


def stale_temp_name(path, pid):
  """The temporary name a process `pid` of this host writes `path` under."""
  return "%s.tmp-%s-%d-0123abcd" % (path, socket.gethostname(), pid)


# --- crash and resume ---------------------------------------------------------


def test_classifier_killed_mid_training_resumes_from_last_checkpoint(
    task, tmp_path):
  out = tmp_path / "out"
  # 64 examples / batch 8 * 5 epochs = 40 steps, a checkpoint every 2.
  args = classifier_args(task, out, "--num_train_epochs=5",
                         "--save_checkpoints_steps=2", "--seed=1")
  killed_pid, restored = kill_after_first_checkpoint("run_classifier.py", args,
                                                     out)
  # As if killed while converting: a half-written TFRecord under the
  # temporary name, which must neither be read nor stay. Another process's
  # file (this one's, alive) is not touched.
  stale = stale_temp_name(out / "train.tf_record", killed_pid)
  with open(stale, "wb") as f:
    f.write(b"\x01\x02 half a record")
  live = stale_temp_name(out / "eval.tf_record", os.getpid())
  with open(live, "wb") as f:
    f.write(b"still being written")

  proc = rerun_and_check_resumed("run_classifier.py", args, out, restored, 40)
  assert not os.path.exists(stale)
  assert os.path.exists(live)
  assert "Removed 1 temporary file(s) that an interrupted run left" in (
      proc.stderr)
  records = list(tf.io.tf_record_iterator(str(out / "train.tf_record")))
  assert len(records) == 64
  for record in records:
    example = tf.train.Example.FromString(record)
    assert len(example.features.feature["input_ids"].int64_list.value) == (
        SEQ_LENGTH)


@pytest.mark.parametrize("bucketed", [False, True],
                         ids=["plain", "bucket_by_length"])
def test_killed_seeded_run_with_dropout_resumes_exactly(task, tmp_path,
                                                        bucketed):
  """Dropout 0.1 (the task's config): with --seed, each mask is keyed by
  the seed, the step and its call site, and the (bucketed) batch order by
  the seed and the epoch, so a run SIGKILLed after a checkpoint and run
  again ends with the uninterrupted run's weights. A checkpoint every 10 of
  the 24 steps (8 an epoch): the rerun starts in the middle of epoch 1."""
  extra = ["--num_train_epochs=3", "--save_checkpoints_steps=10",
           "--seed=3"] + (["--bucket_by_length"] if bucketed else [])
  reference = tmp_path / "uninterrupted"
  proc = bert_testing.run_script("run_classifier.py",
                                 classifier_args(task, reference, *extra))
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = tmp_path / "killed"
  args = classifier_args(task, out, *extra)
  _, restored = kill_after_first_checkpoint("run_classifier.py", args, out)
  assert restored in (10, 20)
  rerun_and_check_resumed("run_classifier.py", args, out, restored, 24)
  want = tf.train.load_checkpoint(str(reference / "model.ckpt-24"))
  got = tf.train.load_checkpoint(str(out / "model.ckpt-24"))
  names = sorted(want.get_variable_to_shape_map())
  assert names == sorted(got.get_variable_to_shape_map())
  assert any(n.endswith("adam_m") for n in names)
  worst = max(np.max(np.abs(got.get_tensor(n) - want.get_tensor(n)))
              for n in names)
  print("largest difference from the uninterrupted run: %g" % worst)
  for name in names:
    np.testing.assert_allclose(got.get_tensor(name), want.get_tensor(name),
                               rtol=0, atol=1e-5, err_msg=name)


def test_pretraining_killed_mid_training_resumes_from_last_checkpoint(
    pretraining, tmp_path):
  out = tmp_path / "out"
  args = pretraining_args(pretraining, out, num_train_steps=30,
                          save_checkpoints_steps=2, seed=1)
  _, restored = kill_after_first_checkpoint("run_pretraining.py", args, out)
  rerun_and_check_resumed("run_pretraining.py", args, out, restored, 30)
  reader = tf.train.load_checkpoint(str(out / "model.ckpt-30"))
  assert "cls/predictions/output_bias" in reader.get_variable_to_shape_map()


def test_stale_temp_files_only_of_dead_processes_are_removed(tmp_path):
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  stale = stale_temp_name(tmp_path / "eval_results.txt", dead.pid)
  live = stale_temp_name(tmp_path / "predict.tf_record", os.getpid())
  other_host = str(tmp_path / ("a.txt.tmp-elsewhere-%d-0123abcd" % dead.pid))
  unrelated = str(tmp_path / "notes.tmp-1")
  for path in (stale, live, other_host, unrelated):
    with open(path, "w") as f:
      f.write("x")
  assert output_files.remove_stale_temp_files(str(tmp_path)) == [
      os.path.basename(stale)]
  assert sorted(os.listdir(str(tmp_path))) == sorted(
      os.path.basename(p) for p in (live, other_host, unrelated))


# --- atomic outputs -----------------------------------------------------------


class _DiskFullGFile(object):
  """A GFile whose write stores half of the text, then fails: a full disk."""

  real = tf.io.gfile.GFile

  def __init__(self, path, mode="r"):
    self._file = self.real(path, mode)

  def write(self, text):
    self._file.write(text[:len(text) // 2])
    self._file.flush()
    raise OSError(28, "No space left on device")

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    self._file.close()


@pytest.fixture
def disk_full(monkeypatch):
  monkeypatch.setattr(tf.io.gfile, "GFile", _DiskFullGFile)


def assert_old_file_and_nothing_else(directory, name, old_text):
  assert (directory / name).read_text() == old_text
  assert sorted(os.listdir(str(directory))) == [name]


def test_eval_results_failing_half_way_keep_the_old_file(tmp_path, disk_full):
  (tmp_path / "eval_results.txt").write_text("eval_accuracy = 0.5\n")
  with pytest.raises(OSError, match="No space left"):
    output_files.write_eval_results(str(tmp_path), {"eval_accuracy": 0.75,
                                               "eval_loss": 0.25})
  assert_old_file_and_nothing_else(tmp_path, "eval_results.txt",
                                   "eval_accuracy = 0.5\n")


def test_test_results_failing_half_way_keep_the_old_file(tmp_path,
                                                         monkeypatch):
  path = tmp_path / "test_results.tsv"
  path.write_text("0.1\t0.9\n")

  def predictions_then_crash():
    yield {"probabilities": np.array([0.3, 0.7])}
    raise tf.errors.ResourceExhaustedError(None, None, "out of memory")

  # Prediction fails part-way: nothing is written.
  with pytest.raises(tf.errors.ResourceExhaustedError):
    run_classifier.write_test_results(predictions_then_crash(), 2, str(path))
  assert_old_file_and_nothing_else(tmp_path, "test_results.tsv", "0.1\t0.9\n")
  # Writing fails part-way: the old file stays whole.
  monkeypatch.setattr(tf.io.gfile, "GFile", _DiskFullGFile)
  with pytest.raises(OSError, match="No space left"):
    run_classifier.write_test_results(
        iter([{"probabilities": np.array([0.3, 0.7])}] * 2), 2, str(path))
  assert_old_file_and_nothing_else(tmp_path, "test_results.tsv", "0.1\t0.9\n")


def test_squad_predictions_failing_half_way_keep_the_old_file(
    tmp_path, monkeypatch, disk_full):
  (tmp_path / "predictions.json").write_text('{"q1": "old"}\n')
  monkeypatch.setattr(run_squad, "compute_predictions",
                      lambda *args: ({"q1": "new answer"}, {"q1": []}, {}))
  with pytest.raises(OSError, match="No space left"):
    run_squad.write_predictions(
        [], [], [], 20, 30, True, str(tmp_path / "predictions.json"),
        str(tmp_path / "nbest_predictions.json"),
        str(tmp_path / "null_odds.json"), version_2_with_negative=False,
        null_score_diff_threshold=0.0, verbose_logging=False)
  assert_old_file_and_nothing_else(tmp_path, "predictions.json",
                                   '{"q1": "old"}\n')


def test_converted_checkpoint_failing_half_way_keeps_the_old_one(
    tmp_path, monkeypatch):
  from test_convert_checkpoint import make_hf_dir  # pylint: disable=g-import-not-at-top
  hf_dir = make_hf_dir(tmp_path / "hf")
  out = tmp_path / "bert"
  convert_checkpoint.convert("hf_to_bert", hf_dir, str(out))
  before = {name: (out / name).read_bytes() for name in os.listdir(str(out))}

  def write_half(weights, prefix):
    with open(prefix + ".data-00000-of-00001", "wb") as f:
      f.write(b"half")
    raise OSError(28, "No space left on device")

  monkeypatch.setattr(convert_checkpoint, "write_bert_checkpoint", write_half)
  with pytest.raises(OSError, match="No space left"):
    convert_checkpoint.convert("hf_to_bert", hf_dir, str(out), overwrite=True)
  assert {name: (out / name).read_bytes()
          for name in os.listdir(str(out))} == before
  assert sorted(n for n in os.listdir(str(tmp_path)) if "bert" in n) == [
      "bert"]


# --- a non-finite loss --------------------------------------------------------


def test_pretraining_stops_at_the_step_whose_loss_is_not_finite(
    pretraining, tmp_path):
  # A learning rate of 1e7 makes the loss overflow within a few steps.
  out = tmp_path / "out"
  proc = bert_testing.run_script("run_pretraining.py", pretraining_args(
      pretraining, out, learning_rate=1e7, num_warmup_steps=0,
      save_checkpoints_steps=1, seed=1))
  last = checkpoint_steps(out)[-1]
  assert last < 20
  assert_clear_error(
      proc, "run_pretraining.py",
      "The training loss became NaN or infinite at step %d; training stopped "
      "before applying that step" % (last + 1))
  # A checkpoint of every step applied, none of the bad one, all finite.
  assert_checkpoint_complete(out, last)


# --- corrupt input ------------------------------------------------------------


def test_truncated_pretraining_file_is_named(pretraining, tmp_path):
  data = (pretraining / "data.tfrecord").read_bytes()
  truncated = tmp_path / "truncated.tfrecord"
  # Cut in half, and inside a record (they are all about the same size).
  truncated.write_bytes(data[:len(data) // 2 + 100])
  proc = bert_testing.run_script("run_pretraining.py", pretraining_args(
      pretraining, tmp_path / "out", input_file=truncated, seed=1))
  assert_clear_error(proc, "run_pretraining.py",
                     "an input file is corrupt or truncated",
                     "truncated record at", "Input files: %s." % truncated)


def test_pretraining_rejects_files_of_another_task_or_format(
    pretraining, tmp_path):
  classifier_file = str(tmp_path / "train.tf_record")
  feature = run_classifier.InputFeatures([1] * SEQ_LENGTH, [1] * SEQ_LENGTH,
                                         [0] * SEQ_LENGTH, 1)
  with tf.io.TFRecordWriter(classifier_file) as writer:
    writer.write(run_classifier._features_to_example(  # pylint: disable=protected-access
        feature).SerializeToString())
  text_file = tmp_path / "corpus.txt"
  text_file.write_text("This is a text corpus, not TFRecords.\n" * 10)
  procs = [bert_testing.start_script("run_pretraining.py", pretraining_args(
      pretraining, tmp_path / ("out%d" % i), input_file=path))
           for i, path in enumerate([classifier_file, text_file])]
  for proc in procs:
    proc.stdout, proc.stderr = proc.communicate(timeout=300)
  assert_clear_error(
      procs[0], "run_pretraining.py", "Input file %s has no feature "
      "'masked_lm_positions'" % classifier_file)
  assert_clear_error(
      procs[1], "run_pretraining.py",
      "Input file %s cannot be read as a TFRecord file" % text_file)
  assert not (tmp_path / "out0").exists()  # Checked before anything started.


def test_squad_file_cut_in_half_is_named(task, tmp_path):
  squad = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{
      "context": "the cat sat on the mat .",
      "qas": [{"id": "q%d" % i, "question": "where did the cat sit ?",
               "answers": [{"text": "on the mat", "answer_start": 12}]}
              for i in range(20)]}]}]}
  text = json.dumps(squad, indent=2)
  predict_file = tmp_path / "dev-v1.1.json"
  predict_file.write_text(text[:len(text) // 2])
  proc = bert_testing.run_script("run_squad.py", [
      "--vocab_file=%s" % (task / "vocab.txt"),
      "--bert_config_file=%s" % (task / "bert_config.json"),
      "--output_dir=%s" % (tmp_path / "out"), "--do_predict",
      "--predict_file=%s" % predict_file, "--max_seq_length=32",
      "--max_query_length=8", "--doc_stride=8", "--allow_untrained_model"],
      timeout=300)
  assert_clear_error(proc, "run_squad.py",
                     "%s is not valid JSON" % predict_file, "line ")


def test_vocab_with_an_empty_line_is_named(task, tmp_path):
  vocab = (task / "vocab.txt").read_text().splitlines()
  bad_vocab = tmp_path / "vocab.txt"
  bad_vocab.write_text("\n".join(vocab[:7] + [""] + vocab[7:]) + "\n")
  args = [a for a in classifier_args(task, tmp_path / "out")
          if not a.startswith("--vocab_file")]
  proc = bert_testing.run_script(
      "run_classifier.py", args + ["--vocab_file=%s" % bad_vocab], timeout=300)
  assert_clear_error(proc, "run_classifier.py",
                     "Vocab file %s: line 8 is empty" % bad_vocab)


def test_latin1_text_is_named_with_its_line(task, tmp_path):
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  rows = bert_testing.TOY_MRPC_ROWS
  lines = [bert_testing.MRPC_HEADER] + rows[:2] + [
      u"1\t9\t10\tun caf\u00e9 cr\u00e8me .\tun caf\u00e9 ."] + rows[2:]
  (data_dir / "msr_paraphrase_train.txt").write_bytes(
      ("\n".join(lines) + "\n").encode("latin-1"))
  (data_dir / "msr_paraphrase_test.txt").write_text(
      (task / "msr_paraphrase_test.txt").read_text())
  corpus = tmp_path / "corpus.txt"
  corpus.write_bytes(u"the cat sat .\nthe dog ran .\n\nun caf\u00e9 .\n".encode(
      "latin-1"))
  procs = [
      bert_testing.start_script("run_classifier.py", [
          a.replace(str(task), str(data_dir)) if a.startswith("--data_dir")
          else a for a in classifier_args(task, tmp_path / "out")]),
      bert_testing.start_script("create_pretraining_data.py", [
          "--input_file=%s" % corpus, "--output_file=%s" % (
              tmp_path / "examples.tfrecord"),
          "--vocab_file=%s" % (task / "vocab.txt")]),
  ]
  for proc in procs:
    proc.stdout, proc.stderr = proc.communicate(timeout=300)
  assert_clear_error(procs[0], "run_classifier.py",
                     "%s:4: not valid UTF-8" % (
                         data_dir / "msr_paraphrase_train.txt"))
  # create_pretraining_data logs its error and exits with status 1.
  assert procs[1].returncode == 1
  assert "%s:4: not valid UTF-8 (byte 0xe9 at column 7)" % corpus in (
      procs[1].stderr)
  assert "Traceback" not in procs[1].stderr
  assert not (tmp_path / "examples.tfrecord").exists()


def test_tsv_quote_characters_are_data(tmp_path):
  """GLUE files hold unbalanced quotes; with csv quoting (the default) the
  reader would swallow tabs and lines up to the next quote."""
  rows = [
      '1\t1\t2\tHe said "no way .\tshe said " yes .',
      "0\t3\t4\tit is 5' 10\" tall .\tthe \"best\" one .",
      '1\t5\t6\t"quoted" start\tend "',
  ]
  (tmp_path / "train.tsv").write_text(
      bert_testing.MRPC_HEADER + "\n" + "\n".join(rows) + "\n")
  examples = run_classifier.MrpcProcessor().get_train_examples(str(tmp_path))
  assert [(e.text_a, e.text_b, e.label) for e in examples] == [
      tuple(r.split("\t")[i] for i in (3, 4, 0)) for r in rows]


# --- reproducibility ----------------------------------------------------------


def test_same_seed_same_metrics_other_seed_other_metrics(task, tmp_path):
  """Equal to the last printed digit, not within a tolerance: on one machine
  with the same thread counts the CPU kernels (oneDNN and Eigen) are
  deterministic, so two runs with one seed do the same arithmetic."""
  seeds = {"seed1": 1, "seed1_again": 1, "seed2": 2}
  runs = {name: tmp_path / name for name in seeds}
  procs = {
      name: bert_testing.start_script("run_classifier.py", classifier_args(
          task, out, "--do_eval", "--seed=%d" % seeds[name]),
                                      fresh=name == "seed1_again")
      for name, out in runs.items()}
  for name, proc in procs.items():
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
  results = {name: bert_testing.read_eval_results(out / "eval_results.txt")
             for name, out in runs.items()}
  assert results["seed1"] == results["seed1_again"]
  assert results["seed1"]["eval_loss"] != results["seed2"]["eval_loss"]
  a = tf.train.load_checkpoint(str(runs["seed1"] / "model.ckpt-8"))
  b = tf.train.load_checkpoint(str(runs["seed1_again"] / "model.ckpt-8"))
  for name in a.get_variable_to_shape_map():
    np.testing.assert_array_equal(a.get_tensor(name), b.get_tensor(name))


def _first_batches(seed, make_tensor, runs=2):
  """The value of `make_tensor()` in fresh graphs with graph seed `seed`."""
  values = []
  for _ in range(runs):
    with tf.Graph().as_default():
      if seed is not None:
        tf.set_random_seed(seed)
      tensor = make_tensor()
      with tf.Session() as session:
        values.append(session.run(tensor))
  return values


def test_input_shuffle_and_dropout_follow_the_graph_seed(tmp_path):
  """The Estimator sets --seed as the graph seed; the input pipeline's
  shuffle and the model's dropout have no seed of their own and derive
  theirs from it. Without a seed they differ from run to run."""
  path = str(tmp_path / "records.tf_record")
  with tf.io.TFRecordWriter(path) as writer:
    for i in range(64):
      writer.write(run_classifier._features_to_example(  # pylint: disable=protected-access
          run_classifier.InputFeatures([i] * 4, [1] * 4, [0] * 4, 0)
      ).SerializeToString())
  input_fn = run_classifier.file_based_input_fn_builder(
      path, 4, is_training=True, drop_remainder=True)

  def shuffled_ids():
    return tf.data.make_one_shot_iterator(
        input_fn({"batch_size": 32})).get_next()["input_ids"][:, 0]

  def dropped_out():
    return modeling.dropout(tf.ones([1000]), 0.5)

  for make_tensor in (shuffled_ids, dropped_out):
    a, b = _first_batches(7, make_tensor)
    np.testing.assert_array_equal(a, b)
    c, = _first_batches(8, make_tensor, runs=1)
    assert not np.array_equal(a, c)
    d, e = _first_batches(None, make_tensor)
    assert not np.array_equal(d, e)


def test_pretraining_interleaves_files_deterministically_with_a_seed(
    pretraining):
  files = [str(pretraining / "data.tfrecord")] * 2
  for deterministic in (False, True):
    with tf.Graph().as_default() as graph:
      run_pretraining.input_fn_builder(
          files, SEQ_LENGTH, MAX_PREDICTIONS, is_training=True,
          deterministic=deterministic)({"batch_size": 8})
      ops = [op for op in graph.get_operations()
             if op.type.startswith("ParallelInterleaveDataset")]
      assert len(ops) == 1
      assert ops[0].get_attr("deterministic") == (
          b"true" if deterministic else b"false")


# --- output paths -------------------------------------------------------------


# Credentials from nowhere: no key file, no gcloud login, and no metadata
# server (NO_GCE_CHECK, so that the test means the same on a Google Cloud VM).
NO_CREDENTIALS = {"HOME": "HOME", "CLOUDSDK_CONFIG": "HOME/gcloud",
                  "NO_GCE_CHECK": "true"}
CREDENTIAL_VARIABLES = ("GOOGLE_APPLICATION_CREDENTIALS",
                        "GOOGLE_AUTH_TOKEN_FOR_TESTING")


def no_cloud_credentials_env(home):
  env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
  env.update({k: v.replace("HOME", str(home))
              for k, v in NO_CREDENTIALS.items()})
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  return env


@pytest.mark.parametrize("output_dir,message", [
    ("FILE", "is a file, not a directory"),
    ("/proc/bert_out", "--output_dir=/proc/bert_out cannot be created"),
    # Exists, and os.access says root may write; the kernel refuses files.
    ("/proc", "--output_dir=/proc is not writable"),
    ("gs://no-such-bucket-for-bert-tests/out",
     "--output_dir=gs://no-such-bucket-for-bert-tests/out is on Google Cloud "
     "Storage, but no Google Cloud credentials were found. Set "
     "GOOGLE_APPLICATION_CREDENTIALS"),
])
def test_unusable_output_dir_is_refused_at_once(tmp_path, monkeypatch,
                                                output_dir, message):
  for name, value in NO_CREDENTIALS.items():
    monkeypatch.setenv(name, value.replace("HOME", str(tmp_path)))
  for name in CREDENTIAL_VARIABLES:
    monkeypatch.delenv(name, raising=False)
  if output_dir == "FILE":
    output_dir = str(tmp_path / "a_file")
    (tmp_path / "a_file").write_text("x")
  start = time.time()
  with pytest.raises(ValueError) as error:
    output_files.prepare_output_dir(output_dir)
  assert message in str(error.value)
  assert time.time() - start < 5


def test_gcs_key_file_that_does_not_exist_is_named(monkeypatch):
  monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
  with pytest.raises(ValueError, match="GOOGLE_APPLICATION_CREDENTIALS="
                     "/nonexistent/key.json is not a file"):
    output_files.prepare_output_dir("gs://bucket/out")


class _MetadataHandler(http.server.BaseHTTPRequestHandler):
  """A Google Cloud metadata server, or (`flavor` None) any other server."""

  flavor = "Google"

  def do_GET(self):  # pylint: disable=invalid-name
    self.send_response(200 if self.flavor else 404)
    if self.flavor:
      self.send_header("Metadata-Flavor", self.flavor)
    self.end_headers()

  def log_message(self, *unused):
    pass


@pytest.mark.parametrize("flavor,found", [("Google", True), (None, False)])
def test_metadata_server_is_recognised_by_its_reply(monkeypatch, flavor,
                                                    found):
  handler = type("Handler", (_MetadataHandler,), {"flavor": flavor})
  server = http.server.HTTPServer(("127.0.0.1", 0), handler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:%d" %
                       server.server_address[1])
    assert output_files._metadata_server_reachable() == found  # pylint: disable=protected-access
  finally:
    server.shutdown()
    server.server_close()


def test_metadata_server_probe_is_bounded(monkeypatch):
  # A non-routable address: the probe gives up after its timeout (or at
  # once, where a proxy answers for every address).
  monkeypatch.setenv("GCE_METADATA_IP", "10.255.255.1")
  start = time.time()
  assert not output_files._metadata_server_reachable(timeout=1.0)  # pylint: disable=protected-access
  assert time.time() - start < 3


def test_scripts_refuse_unusable_output_dirs_before_work(task, pretraining,
                                                         tmp_path):
  env = no_cloud_credentials_env(tmp_path)
  gcs = "gs://no-such-bucket-for-bert-tests/out"
  runs = [
      ("run_classifier.py", classifier_args(task, gcs), gcs),
      ("run_pretraining.py", pretraining_args(pretraining, "/proc"),
       "--output_dir=/proc is not writable"),
  ]
  procs = [subprocess.Popen(
      [sys.executable, os.path.join(bert_testing.ROOT, script)] + args,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      cwd=bert_testing.ROOT, env=env) for script, args, _ in runs]
  for proc, (script, _, message) in zip(procs, runs):
    # Bounded: without the credentials check TensorFlow may wait on the
    # network for minutes.
    proc.stdout, proc.stderr = proc.communicate(timeout=120)
    assert_clear_error(proc, script, message)
    assert "Running training" not in proc.stderr


# --- numbers out of range: refused before any file is touched -----------------


@pytest.mark.parametrize("flag,message", [
    ("--learning_rate=-1e-5",
     "--learning_rate=-1e-05 must be greater than 0.0."),
    ("--learning_rate=0", "--learning_rate=0.0 must be greater than 0.0."),
    ("--warmup_proportion=1.5",
     "--warmup_proportion=1.5 must be between 0.0 and 1.0."),
    ("--warmup_proportion=-0.1",
     "--warmup_proportion=-0.1 must be between 0.0 and 1.0."),
    ("--num_train_epochs=0",
     "--num_train_epochs=0.0 must be greater than 0.0."),
    ("--train_batch_size=0", "--train_batch_size must be positive, not 0."),
    ("--eval_batch_size=-2", "--eval_batch_size=-2 must be at least 1."),
    ("--save_checkpoints_steps=0",
     "--save_checkpoints_steps=0 must be at least 1."),
])
def test_numbers_out_of_range_are_refused_before_any_file(task, tmp_path,
                                                          flag, message):
  output_dir = tmp_path / "out"
  proc = bert_testing.run_script(
      "run_classifier.py", classifier_args(task, output_dir, flag))
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      "run_classifier.py: error: " + message)
  assert not output_dir.exists()


# --- no trained model: refused instead of random-weight results --------------


def test_predict_without_a_trained_model_is_refused(task, tmp_path):
  output_dir = tmp_path / "empty"
  args = classifier_args(task, output_dir)
  args.remove("--do_train")
  proc = bert_testing.run_script("run_classifier.py", args + ["--do_predict"])
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      "run_classifier.py: error: --do_predict without --do_train reads the "
      "model trained in --output_dir=%s, which has no checkpoint (no "
      "'checkpoint' file naming a model.ckpt-N): train first (--do_train), "
      "point --output_dir at a trained run, or pass --allow_untrained_model "
      "for an untrained head's output." % output_dir)
  assert not output_dir.exists()
  # Asked for explicitly, it runs (and says so).
  proc = bert_testing.run_script(
      "run_classifier.py",
      args + ["--do_predict", "--do_eval", "--allow_untrained_model"])
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "--allow_untrained_model: --do_eval, --do_predict with a task head " \
      "that was never trained" in proc.stderr
  assert (output_dir / "test_results.tsv").exists()


@pytest.mark.parametrize("script", ["run_squad.py", "run_ner.py"])
def test_squad_and_ner_predict_without_a_trained_model_are_refused(
    task, tmp_path, script):
  output_dir = tmp_path / "empty"
  # A pre-trained encoder alone: no task head to predict with.
  encoder = str(tmp_path / "encoder.ckpt")
  with tf.Graph().as_default():
    modeling.BertModel(
        modeling.BertConfig.from_json_file(str(task / "bert_config.json")),
        False, tf.zeros([1, 4], tf.int32))
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver().save(sess, encoder)
  predict_file = tmp_path / "dev.json"
  predict_file.write_text('{"version": "1.1", "data": []}')
  (tmp_path / "data").mkdir()
  (tmp_path / "data" / "test.txt").write_text("EU B-ORG\n")
  args = ["--vocab_file=%s" % (task / "vocab.txt"),
          "--bert_config_file=%s" % (task / "bert_config.json"),
          "--output_dir=%s" % output_dir, "--max_seq_length=32",
          "--do_predict", "--init_checkpoint=%s" % encoder]
  if script == "run_squad.py":
    args += ["--predict_file=%s" % predict_file, "--max_query_length=8",
             "--doc_stride=8"]
  else:
    args += ["--data_dir=%s" % (tmp_path / "data")]
  proc = bert_testing.run_script(script, args)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1].startswith(
      "%s: error: --do_predict without --do_train reads the model trained in "
      "--output_dir=%s, which has no checkpoint" % (script, output_dir))
  assert "--init_checkpoint=%s holds no task head" % encoder in proc.stderr
  assert not output_dir.exists()


# --- a resume with other settings: refused, or continued when asked ----------


def test_resume_with_other_settings_is_refused_unless_asked(task, tmp_path):
  output_dir = tmp_path / "out"
  first = bert_testing.run_script("run_classifier.py",
                                  classifier_args(task, output_dir))
  assert first.returncode == 0, first.stderr[-2000:]
  recorded = json.loads((output_dir / "task.json").read_text())
  assert recorded["run_settings"]["learning_rate"] == 1e-4
  assert recorded["run_settings"]["train_batch_size"] == 8
  before = sorted(os.listdir(output_dir))

  changed = classifier_args(task, output_dir, "--num_train_epochs=2",
                            "--learning_rate=2e-4")
  proc = bert_testing.run_script("run_classifier.py", changed)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      "run_classifier.py: error: --output_dir=%s holds a finished run (step "
      "8 of 8) made with other settings, so --do_train trains nothing on it: "
      "--learning_rate=0.0002 (was 0.0001); --num_train_epochs=2.0 (was "
      "1.0). Use --overwrite_output_dir to train anew with these settings, "
      "another --output_dir, or --resume_with_changed_settings to continue "
      "it anyway." % output_dir)
  assert sorted(os.listdir(output_dir)) == before
  assert json.loads((output_dir / "task.json").read_text()) == recorded

  proc = bert_testing.run_script(
      "run_classifier.py", changed + ["--resume_with_changed_settings"])
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert ("--resume_with_changed_settings: resuming %s (step 8) with "
          "--learning_rate=0.0002 (was 0.0001), --num_train_epochs=2.0 (was "
          "1.0)." % (output_dir / "model.ckpt-8")) in proc.stderr
  assert tf.train.latest_checkpoint(str(output_dir)).endswith("ckpt-16")
  assert json.loads((output_dir / "task.json").read_text())[
      "run_settings"]["learning_rate"] == 2e-4


def test_csv_row_with_more_fields_than_the_header_is_named(task, tmp_path):
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  (data_dir / "train.csv").write_text(
      "text,label\nthe cat sat,1\nthe dog, it ran far,0\n")
  output_dir = tmp_path / "out"
  proc = bert_testing.run_script("run_classifier.py", [
      "--task_name=file", "--do_train", "--data_dir=%s" % data_dir,
      "--vocab_file=%s" % (task / "vocab.txt"),
      "--bert_config_file=%s" % (task / "bert_config.json"),
      "--output_dir=%s" % output_dir, "--max_seq_length=32"])
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      "run_classifier.py: error: %s:3: 3 fields, but the header has 2; quote "
      "a text that holds the delimiter (the file has columns: 0='text', "
      "1='label')." % (data_dir / "train.csv"))
  assert not any(name.endswith(".tf_record") or name.startswith("model.ckpt")
                 for name in (os.listdir(output_dir)
                              if output_dir.exists() else []))


def test_predict_from_an_init_checkpoint_without_the_encoder_is_refused(
    task, tmp_path):
  """No checkpoint in --output_dir: the weights would come from
  --init_checkpoint, which must hold the whole encoder."""
  foreign = str(tmp_path / "foreign.ckpt")
  with tf.Graph().as_default():
    tf.get_variable("output_weights", [2, 32])
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver().save(sess, foreign)
  args = classifier_args(task, tmp_path / "out", "--do_predict",
                         "--init_checkpoint=%s" % foreign)
  args.remove("--do_train")
  proc = bert_testing.run_script("run_classifier.py", args)
  assert proc.returncode == 1
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("run_classifier.py: error: --init_checkpoint=%s "
                         "lacks 39 of the 39 variables of the model of "
                         "--bert_config_file" % foreign), last
  assert not (tmp_path / "out").exists()
