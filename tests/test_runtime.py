"""Tests of runtime.py: distribution, precision, accumulation, run-time errors,
length-bucketed input.

Most run `run_classifier.py` as a user would, on 64 distinct training
pairs, so that what a process reads and what an update applies show in the
results: workers and Horovod ranks must read disjoint shards (recorded by
tests/trace_input.py), and an accumulation window must apply all of its
micro-batches, giving the weights of the one big batch. The bucketing tests
read the input pipeline's batches directly.
"""

import glob
import json
import os
import random
import re
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
from command_line import UserError
import cpu_features
import input_pipeline
import optimization
import runtime
import script_flags
import task_description

SEQ_LENGTH = 24
NUM_TRAIN = 64
WORDS = ("the cat dog bird sat ran flew on under near mat rug tree house "
         "today yesterday quickly slowly red green small big").split()


def random_pairs(rng, n, first_id):
  """`n` distinct MRPC rows: a sentence and either itself with one word
  changed (label 1) or another sentence (label 0)."""
  rows, seen = [], set()
  while len(rows) < n:
    a = [rng.choice(WORDS) for _ in range(rng.randint(4, 9))]
    label = rng.randint(0, 1)
    if label:
      b = list(a)
      b[rng.randrange(len(b))] = rng.choice(WORDS)
    else:
      b = [rng.choice(WORDS) for _ in range(rng.randint(4, 9))]
    if (tuple(a), tuple(b)) in seen:
      continue
    seen.add((tuple(a), tuple(b)))
    i = first_id + 2 * len(rows)
    rows.append("%d\t%d\t%d\t%s .\t%s ." % (label, i, i + 1, " ".join(a),
                                            " ".join(b)))
  return rows


@pytest.fixture(scope="module")
def task(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("runtime")
  rng = random.Random(5)
  train = random_pairs(rng, NUM_TRAIN, 1)
  test = random_pairs(rng, 8, 1000)
  for name, rows in (("msr_paraphrase_train.txt", train),
                     ("msr_paraphrase_test.txt", test)):
    (tmp / name).write_text(
        bert_testing.MRPC_HEADER + "\n" + "\n".join(rows) + "\n")
  vocab = bert_testing.write_vocab(str(tmp / "vocab.txt"), [" ".join(WORDS)])
  # No dropout: runs that differ only in distribution must agree.
  bert_testing.write_config(str(tmp / "bert_config.json"), len(vocab),
                            hidden_dropout_prob=0.0,
                            attention_probs_dropout_prob=0.0)
  return tmp


def classifier_args(task_dir, output_dir, *extra):
  return bert_testing.mrpc_train_args(task_dir, output_dir, SEQ_LENGTH,
                                      "--seed=3", *extra)


def final_losses(log):
  """Every "Loss for final step" in `log` (one per process that logs)."""
  losses = [float(l.rsplit(":", 1)[1].strip().rstrip("."))
            for l in log.splitlines() if "Loss for final step:" in l]
  assert losses, log[-3000:]
  return losses


def free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def traced(trace_prefix, args):
  """tests/trace_input.py's arguments to run run_classifier.py with `args`."""
  return [str(trace_prefix), "run_classifier.py"] + list(args)


def records_read(trace_prefix, train_record):
  """For each traced process, the indices (in `train_record`) of the
  training records it read, in order."""
  features = bert_testing.read_features(str(train_record), SEQ_LENGTH)
  index = {tuple(ids): i for i, ids in enumerate(features["input_ids"])}
  assert len(index) == NUM_TRAIN  # Distinct rows give distinct records.
  reads = []
  for path in sorted(glob.glob(str(trace_prefix) + ".*")):
    with open(path) as f:
      reads.append([index[tuple(int(i) for i in line.split())]
                    for line in f])
  return reads


def check_disjoint_shards(reads, num_processes, steps, batch_per_process):
  """Each process read its own records: no record in two processes' reads,
  at most its share each, and at least what its steps consumed."""
  assert len(reads) == num_processes
  shares = [set(r) for r in reads]
  for i, share in enumerate(shares):
    assert len(reads[i]) >= steps * batch_per_process
    assert len(share) <= NUM_TRAIN // num_processes
    for other in shares[i + 1:]:
      assert not share & other, sorted(share & other)
  print("records read per process: %s; distinct: %s" %
        ([len(r) for r in reads], [len(s) for s in shares]))


def weights(checkpoint_dir):
  """Every float variable of the latest checkpoint (weights, Adam slots)."""
  reader = tf.train.load_checkpoint(str(checkpoint_dir))
  return {name: reader.get_tensor(name) for name, dtype in
          reader.get_variable_to_dtype_map().items() if dtype == tf.float32}


def max_difference(dir_a, dir_b):
  a, b = weights(dir_a), weights(dir_b)
  assert set(a) == set(b)
  return max(float(np.abs(a[name] - b[name]).max()) for name in a)


@pytest.fixture(scope="module")
def single_run(task, tmp_path_factory):
  out = tmp_path_factory.mktemp("single")
  proc = bert_testing.run_script("run_classifier.py",
                                 classifier_args(task, out))
  assert proc.returncode == 0, proc.stderr[-3000:]
  # 64 examples / batch 8 = 8 steps.
  assert tf.train.latest_checkpoint(str(out)).endswith("model.ckpt-8")
  return out, final_losses(proc.stderr)[-1]


def test_two_workers_read_disjoint_shards_and_agree(task, single_run,
                                                   tmp_path):
  """MultiWorkerMirroredStrategy over two processes on 127.0.0.1."""
  single_out, _ = single_run
  ports = free_ports(2)
  cluster = {"worker": ["127.0.0.1:%d" % p for p in ports]}
  args = traced(tmp_path / "trace", classifier_args(
      task, tmp_path / "multi",
      "--distribution_strategy=multi_worker_mirrored"))
  procs = [bert_testing.start_script(
      "tests/trace_input.py", args, env={"TF_CONFIG": json.dumps(
          {"cluster": cluster, "task": {"type": "worker", "index": index}})})
           for index in range(2)]
  logs = []
  try:
    for proc in procs:
      _, err = proc.communicate(timeout=300)
      logs.append(err)
      assert proc.returncode == 0, err[-3000:]
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
  # The global batch of 8 is 4 a worker: 8 steps.
  assert tf.train.latest_checkpoint(str(tmp_path / "multi")).endswith(
      "model.ckpt-8")
  check_disjoint_shards(
      records_read(tmp_path / "trace", single_out / "train.tf_record"),
      num_processes=2, steps=8, batch_per_process=4)
  # The loss is all-reduced: both workers log the global batch's.
  (loss_0,), (loss_1,) = [final_losses(log) for log in logs]
  assert loss_0 == pytest.approx(loss_1, abs=1e-6)


def test_mirrored_strategy_matches_one_device(task, single_run, tmp_path):
  single_out, single_loss = single_run
  proc = bert_testing.run_script("run_classifier.py", classifier_args(
      task, tmp_path, "--distribution_strategy=mirrored"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert final_losses(proc.stderr)[-1] == pytest.approx(single_loss,
                                                        abs=1e-4)
  # One replica reads the same batches: the same weights after 8 steps.
  assert max_difference(single_out, tmp_path) < 1e-5


def test_accumulation_applies_every_micro_batch(task, single_run, tmp_path):
  """4 micro-batches of 2 per update give the weights and Adam moments of
  batches of 8 (the same records, in the same order); updates from 2 records
  each, as a window that applied only one of its micro-batches would make,
  measurably do not."""
  single_out, _ = single_run
  accumulated = tmp_path / "accumulated"
  proc = bert_testing.run_script("run_classifier.py", classifier_args(
      task, accumulated, "--num_accumulation_steps=4"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  # Still 8 optimizer updates, from 32 micro-batches of 2.
  assert tf.train.latest_checkpoint(str(accumulated)).endswith("model.ckpt-8")
  summary = json.loads((accumulated / "training_summary.json").read_text())
  assert summary["batch_size"] == 8
  names = [n for n, _ in tf.train.list_variables(str(accumulated))]
  assert not [n for n in names if "accumulation" in n]

  # 8 updates from batches of 2, the same learning-rate schedule.
  one_micro_batch = tmp_path / "one_micro_batch"
  args = [a for a in classifier_args(task, one_micro_batch)
          if not a.startswith(("--train_batch_size", "--num_train_epochs"))]
  proc = bert_testing.run_script("run_classifier.py", args + [
      "--train_batch_size=2", "--num_train_epochs=0.25"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert tf.train.latest_checkpoint(str(one_micro_batch)).endswith(
      "model.ckpt-8")

  same = max_difference(single_out, accumulated)
  other = max_difference(single_out, one_micro_batch)
  print("max weight difference from batch 8: accumulated %.3g, one micro-"
        "batch per update %.3g" % (same, other))
  # Measured: 7.5e-09 and 0.053 (the largest differences are in Adam's
  # moments, which see the gradients most directly).
  assert same < 1e-6
  assert other > 1e-3


def test_bf16_checkpoint_is_float32_and_restores(task, tmp_path):
  for impl in ("grappler", "cast"):
    out = tmp_path / impl
    proc = bert_testing.run_script("run_classifier.py", classifier_args(
        task, out, "--precision=bf16", "--bf16_implementation=" + impl,
        "--do_eval"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    reader = tf.train.load_checkpoint(str(out / "model.ckpt-8"))
    dtypes = reader.get_variable_to_dtype_map()
    assert all(d in (tf.float32, tf.int64) for d in dtypes.values()), dtypes
    assert "bert/encoder/layer_0/attention/self/query/kernel" in dtypes
  # An fp32 run starts from the bf16 (explicitly cast) checkpoint.
  warm = bert_testing.run_script("run_classifier.py", classifier_args(
      task, tmp_path / "fp32", "--init_checkpoint=%s" % (
          tmp_path / "cast" / "model.ckpt-8"), "--do_eval"))
  assert warm.returncode == 0, warm.stderr[-3000:]
  # Every variable, the head's too, comes from the fine-tuned checkpoint
  # (same task); the default log says so in one line, without the
  # per-variable listing, the example dumps or any warning (a healthy run).
  counts = re.findall(r"(\d+) trainable variables, (\d+) of them from \S+",
                      warm.stderr)
  assert counts and all(total == found for total, found in counts), (
      warm.stderr[-3000:])
  assert "INIT_FROM_CKPT" not in warm.stderr
  assert "*** Example ***" not in warm.stderr
  assert "WARNING" not in warm.stderr, [
      l for l in warm.stderr.splitlines() if "WARNING" in l]


def test_non_finite_loss_stops_training_without_poisoned_checkpoint(
    task, tmp_path):
  # Weights of order 1e19 overflow float32 in the first matmuls: NaN loss.
  config = json.loads((task / "bert_config.json").read_text())
  config["initializer_range"] = 1e19
  (tmp_path / "bad_config.json").write_text(json.dumps(config))
  args = classifier_args(task, tmp_path / "out", "--save_checkpoints_steps=1")
  args = [a for a in args if not a.startswith("--bert_config_file")]
  args.append("--bert_config_file=%s" % (tmp_path / "bad_config.json"))
  proc = bert_testing.run_script("run_classifier.py", args)
  assert proc.returncode != 0
  assert ("run_classifier.py: error: The training loss became NaN or infinite "
          "at step 1; training stopped before applying that step") in (
              proc.stderr)
  # Only the initial checkpoint exists, written before the failed step.
  assert tf.train.latest_checkpoint(str(tmp_path / "out")).endswith("ckpt-0")


def test_horovod_ranks_read_disjoint_shards_and_keep_one_model(
    task, single_run, tmp_path):
  """horovodrun with Gloo on localhost (runs where horovod is installed)."""
  bert_testing.require_optional(
      "horovod.tensorflow", "see .ci/run for the pip command that builds it")
  single_out, _ = single_run
  out = tmp_path / "hvd"
  cmd = ["horovodrun", "-np", "2", "-H", "localhost:2", "--gloo",
         sys.executable, os.path.join(bert_testing.ROOT, "tests",
                                      "trace_input.py")
        ] + traced(tmp_path / "trace", classifier_args(
            task, out, "--use_horovod", "--do_eval"))
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                        cwd=bert_testing.ROOT,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  log = proc.stdout + proc.stderr
  assert proc.returncode == 0, log[-3000:]
  # The global batch of 8 is 4 a rank: 8 steps, each rank on its own shard.
  check_disjoint_shards(
      records_read(tmp_path / "trace", single_out / "train.tf_record"),
      num_processes=2, steps=8, batch_per_process=4)
  # Rank 0 wrote the checkpoint and the results; rank 1 only its scratch dir.
  assert tf.train.latest_checkpoint(str(out)).endswith("model.ckpt-8")
  assert (out / "eval_results.txt").exists()
  assert not (out / "horovod_rank_1" / "eval_results.txt").exists()
  # Averaged gradients from the broadcast start: both ranks hold one model.
  scratch = out / "horovod_rank_1"
  assert tf.train.latest_checkpoint(str(scratch)).endswith("model.ckpt-8")
  assert max_difference(out, scratch) < 1e-6


SEQ_LENGTH = 64


def padded_examples(lengths):
  """Feature dicts as run_classifier writes them: ids 1..length then zeros,
  and an `id` column to tell the examples apart."""
  mask = np.zeros([len(lengths), SEQ_LENGTH], np.int32)
  for row, length in enumerate(lengths):
    mask[row, :length] = 1
  ids = mask * (np.arange(SEQ_LENGTH, dtype=np.int32) + 1)
  return {"input_ids": ids, "input_mask": mask, "segment_ids": mask,
          "id": np.arange(len(lengths), dtype=np.int32)}


def batches(columns, batch_size, is_training, num_batches=None):
  d = input_pipeline.batch_examples(tf.data.Dataset.from_tensor_slices(columns),
                             batch_size, is_training, drop_remainder=False,
                             shuffle_buffer=20, bucket_by_length=True)
  return list(d.take(num_batches) if num_batches else d)


LENGTHS = np.random.RandomState(7).randint(1, SEQ_LENGTH + 1, size=45)


def test_bucketed_batches_are_cut_to_their_longest_example():
  columns = padded_examples(LENGTHS)
  got = batches(columns, 4, is_training=False)
  padded_cells = 0
  for batch in got:
    rows = batch["id"].numpy()
    width = LENGTHS[rows].max()
    padded_cells += width * len(rows)
    for name in ("input_ids", "input_mask", "segment_ids"):
      assert batch[name].shape == (len(rows), width)
      # Only padding columns are dropped: the rows are the written ones.
      np.testing.assert_array_equal(batch[name].numpy(),
                                    columns[name][rows, :width])
    np.testing.assert_array_equal(batch[input_pipeline.EXAMPLE_INDEX].numpy(), rows)
  # Each bucket leaves fewer than 4 examples over, packed into at most
  # num_buckets last batches; all batches before them are of one bucket.
  num_buckets = SEQ_LENGTH // input_pipeline.BUCKET_WIDTH
  for batch in got[:-num_buckets]:
    assert len(batch["id"]) == 4
    buckets = (LENGTHS[batch["id"].numpy()] - 1) // input_pipeline.BUCKET_WIDTH
    assert len(set(buckets)) == 1, buckets
  assert padded_cells < 0.75 * len(LENGTHS) * SEQ_LENGTH
  # Evaluation reads every example exactly once.
  assert sorted(np.concatenate([b["id"].numpy() for b in got])) == list(
      range(len(LENGTHS)))


def test_bucketed_training_sees_every_example_once_per_epoch():
  batch_size = 4
  per_epoch = -(-len(LENGTHS) // batch_size)  # Leftovers packed: ceil(N/B).
  got = batches(padded_examples(LENGTHS), batch_size, is_training=True,
                num_batches=3 * per_epoch)
  orders = []
  for epoch in range(3):
    ids = np.concatenate([b["id"].numpy() for b in
                          got[epoch * per_epoch:(epoch + 1) * per_epoch]])
    assert sorted(ids) == list(range(len(LENGTHS)))
    orders.append(list(ids))
  assert orders[0] != orders[1] != orders[2]  # Reshuffled every epoch.
  assert input_pipeline.EXAMPLE_INDEX not in got[0]


def test_in_input_order_restores_order_and_finds_gaps():
  shuffled = [{input_pipeline.EXAMPLE_INDEX: i, "p": i * 10}
              for i in (2, 0, 3, 1)]
  assert [p["p"] for p in input_pipeline.in_input_order(shuffled)] == [
      0, 10, 20, 30]
  unindexed = [{"p": 5}, {"p": 1}]
  assert list(input_pipeline.in_input_order(unindexed)) == unindexed
  with pytest.raises(RuntimeError, match="got no prediction for input "
                     "position 1, but for 2 later ones"):
    list(input_pipeline.in_input_order(
        [{input_pipeline.EXAMPLE_INDEX: i} for i in (0, 2, 3)]))


@pytest.mark.parametrize("changes,expected", [
    ({}, ("from_step_0", False, None)),
    (dict(learning_rate_decay="after_warmup", adam_bias_correction=True,
          tpu_job_name="my_tpu_job"),
     ("after_warmup", True, "my_tpu_job")),
])
def test_issue_18_settings_reach_the_optimizer_and_tpu_config(
    tmp_path, monkeypatch, changes, expected):
  settings = script_flags.Settings(output_dir=str(tmp_path), **changes)
  seen = {}
  monkeypatch.setattr(optimization, "create_optimizer",
                      lambda *args, **kwargs: seen.update(kwargs))
  runtime.create_train_op(settings, None, 1e-3, 10, 1)

  def model_fn(features, labels, mode, params):
    raise AssertionError("not called")

  estimator = runtime.build_estimator(settings, model_fn, str(tmp_path), 8)
  assert (seen["learning_rate_decay"], seen["adam_bias_correction"],
          estimator.config.tpu_config.tpu_job_name) == expected


def test_check_resume_names_each_changed_setting_of_an_unfinished_run(
    tmp_path):
  with tf.Graph().as_default():
    tf.train.get_or_create_global_step()
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(tf.assign(tf.train.get_global_step(), 5))
      tf.train.Saver().save(sess, str(tmp_path / "model.ckpt"), global_step=5)
  recorded = script_flags.Settings(do_train=True, learning_rate=1e-4,
                                   task_name="mrpc")
  task_description.write(str(tmp_path), task_description.TaskDescription(
      kind="classification", labels=("0", "1"),
      run_settings=runtime.run_settings(recorded)))
  runtime.check_resume(recorded, str(tmp_path))  # The same: resumes.
  changed = recorded.replace(learning_rate=3e-5, train_batch_size=16)
  with pytest.raises(UserError) as error:
    runtime.check_resume(changed, str(tmp_path))
  assert str(error.value) == (
      "--output_dir=%s holds a run (checkpoint at step 5) started with other "
      "settings, so --do_train would continue a model trained differently: "
      "--learning_rate=3e-05 (was 0.0001); --train_batch_size=16 (was 32). "
      "Use --overwrite_output_dir to start over, another --output_dir, or "
      "--resume_with_changed_settings to continue anyway." % tmp_path)
  runtime.check_resume(changed.replace(resume_with_changed_settings=True),
                       str(tmp_path))
  runtime.check_resume(changed.replace(overwrite_output_dir=True),
                       str(tmp_path))
  runtime.check_resume(changed.replace(do_train=False), str(tmp_path))


def test_seeded_dropout_is_keyed_by_step_and_micro_batch():
  """With --seed, a TRAIN graph's dropout is keyed by the global step and,
  under accumulation, by the micro-batch's place in its window: the
  micro-batches of one update get masks of their own, and a window
  restarted at the same step (a resume) repeats them."""
  import modeling  # pylint: disable=g-import-not-at-top

  def masks(settings):
    with tf.Graph().as_default():
      step = tf.train.get_or_create_global_step()
      runtime.seed_dropout(settings)
      mask = tf.not_equal(modeling.dropout(tf.ones([1000]), 0.5), 0)
      advance = optimization.accumulation_counter().assign_add(1)
      with tf.Session() as sess:
        sess.run([tf.global_variables_initializer(),
                  tf.local_variables_initializer()])
        got = []
        for _ in range(3):
          got.append(sess.run(mask))
          sess.run(advance)
        sess.run(step.assign_add(1))
        got.append(sess.run(mask))
    return got

  first, second, third, next_step = masks(
      script_flags.Settings(seed=3, num_accumulation_steps=2))
  assert (first != second).any()
  np.testing.assert_array_equal(first, third)  # The next window's first.
  assert (first != next_step).any()
  for a, b in zip(masks(script_flags.Settings(seed=3,
                                              num_accumulation_steps=2)),
                  (first, second, third, next_step)):
    np.testing.assert_array_equal(a, b)
  # Without --seed the masks are the stateful generator's, as before.
  with tf.Graph().as_default():
    assert runtime.seed_dropout(script_flags.Settings()) is None
    assert modeling.dropout_seed() is None


@pytest.mark.parametrize("steps,given,expected", [
    (75, {}, (3, 3)),              # A short run: every 5%, a curve of 25.
    (10, {}, (1, 1)),
    (100000, {}, (100, 100)),      # A long one: at most every 100 steps.
    (None, {}, (100, 100)),        # Not training.
    (75, dict(log_every_n_steps=10, save_summary_steps=0), (10, 0)),
])
def test_progress_intervals_follow_the_run_length_unless_given(steps, given,
                                                               expected):
  settings = runtime.with_progress_intervals(
      script_flags.Settings(**given), steps)
  assert (settings.log_every_n_steps, settings.save_summary_steps) == expected


# --- --use_xla on CPU ---------------------------------------------------------


def test_use_xla_sets_the_session_jit_and_the_cpu_flags(monkeypatch):
  monkeypatch.delenv(cpu_features.XLA_FLAGS_ENV, raising=False)
  monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
  config = runtime.session_config(script_flags.Settings())
  assert (config.graph_options.optimizer_options.global_jit_level ==
          tf.OptimizerOptions.DEFAULT)
  config = runtime.session_config(script_flags.Settings(use_xla=True))
  assert (config.graph_options.optimizer_options.global_jit_level ==
          tf.OptimizerOptions.ON_1)
  # The flags come from the scripts' start (command_line.run), not from
  # here: by now TensorFlow has read them.
  assert cpu_features.XLA_FLAGS_ENV not in os.environ
  assert cpu_features.set_xla_cpu_flags()
  assert os.environ[cpu_features.XLA_FLAGS_ENV] == (
      "--tf_xla_cpu_global_jit --tf_xla_ops_to_cluster=FUSIBLE")
  # What the user set is theirs.
  monkeypatch.setenv(cpu_features.XLA_FLAGS_ENV, "--tf_xla_auto_jit=2")
  assert not cpu_features.set_xla_cpu_flags()
  assert os.environ[cpu_features.XLA_FLAGS_ENV] == "--tf_xla_auto_jit=2"


def _env_without_xla_flags():
  """This environment without TF_XLA_FLAGS, for a child process in which
  TensorFlow reads the flags the project sets (it reads them once a
  process, when it first lists its devices)."""
  return {k: v for k, v in os.environ.items()
          if k != cpu_features.XLA_FLAGS_ENV}


_XLA_CHILD = r"""
import json, sys
import numpy as np
import cpu_features
cpu_features.set_xla_cpu_flags()
import runtime, script_flags
import tensorflow.compat.v1 as tf
tf.disable_v2_behavior()
xla = runtime.session_config(script_flags.Settings(use_xla=True))
plain = runtime.session_config(script_flags.Settings())
x = tf.placeholder(tf.float32, [64, 48])
w = tf.placeholder(tf.float32, [48, 96])
feed = {x: np.random.RandomState(1).randn(64, 48),
        w: np.random.RandomState(2).randn(48, 96)}
h = tf.matmul(x, w)
y = tf.reduce_sum(0.5 * h * (1.0 + tf.tanh(0.79788456 * (h + 0.044715 * h * h * h))) * 0.25 + 1.0, axis=1)
out = {}
for name, config in (("xla", xla), ("plain", plain)):
  md = tf.RunMetadata()
  with tf.Session(config=config) as sess:
    value = sess.run(y, feed, options=tf.RunOptions(output_partition_graphs=True), run_metadata=md)
  ops = [n.op for g in md.partition_graphs for n in g.node]
  out[name] = {"value": value.tolist(), "ops": ops}
print("CHILD " + json.dumps(out))
"""


def test_use_xla_on_cpu_fuses_elementwise_work_around_onednn_matmuls():
  proc = subprocess.run([sys.executable, "-c", _XLA_CHILD],
                        cwd=bert_testing.ROOT, env=_env_without_xla_flags(),
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.split("CHILD ", 1)[1])
  xla_ops, plain_ops = out["xla"]["ops"], out["plain"]["ops"]
  # The element-wise chain went into an XLA cluster; the matmul did not.
  assert "_XlaRun" in xla_ops and "Tanh" not in xla_ops
  assert any("MatMul" in op for op in xla_ops), xla_ops
  assert "_XlaRun" not in plain_ops and "Tanh" in plain_ops
  np.testing.assert_allclose(out["xla"]["value"], out["plain"]["value"],
                             rtol=1e-5)


_SCRIPT_WITH_XLA_DUMPS = r"""
import runpy, sys
import cpu_features
# TensorFlow then writes each graph it clusters to TF_DUMP_GRAPH_PREFIX.
cpu_features.XLA_CPU_FLAGS += " --tf_xla_clustering_debug"
sys.argv = ["run_classifier.py"] + sys.argv[1:]
runpy.run_path("run_classifier.py", run_name="__main__")
"""


@pytest.mark.parametrize("use_xla", [True, False])
def test_run_classifier_use_xla_clusters_on_cpu(tmp_path, use_xla):
  """The flags reach TensorFlow before it reads them (it does so before
  main(), see command_line.run): XLA clusters the training graph."""
  (tmp_path / "task").mkdir()
  task = bert_testing.write_toy_mrpc_task(tmp_path / "task")
  dumps = tmp_path / "dumps"
  dumps.mkdir()
  env = dict(_env_without_xla_flags(), TF_DUMP_GRAPH_PREFIX=str(dumps),
             TF_CPP_MIN_LOG_LEVEL="2")
  args = bert_testing.mrpc_train_args(task, tmp_path / "out", 32,
                                      "--precision=bf16")
  proc = subprocess.run(
      [sys.executable, "-c", _SCRIPT_WITH_XLA_DUMPS] + args +
      (["--use_xla"] if use_xla else []), cwd=bert_testing.ROOT, env=env,
      capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "TRAINING_SUMMARY" in proc.stderr
  # The pass's output names each node's cluster in an `_XlaCluster` attr.
  clustered = [p.name for p in dumps.glob("mark_for_compilation*.pbtxt")
               if "_XlaCluster" in p.read_text()]
  assert bool(clustered) == use_xla, sorted(p.name for p in dumps.iterdir())
