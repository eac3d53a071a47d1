"""Tests of runtime.py: distribution, precision, accumulation, run-time errors.

Each runs `run_classifier.py` as a user would, on a small data set whose
training examples are all the same pair, so that how the records are split
between workers or micro-batches cannot change the gradients: only the
arithmetic of the distribution can.
"""

import json
import os
import socket
import subprocess
import sys

import pytest
import tensorflow.compat.v1 as tf

import bert_testing

HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
PAIR = "1\t1\t2\tthe cat sat on the mat .\ta cat sat on a mat ."
OTHER = "0\t3\t4\tthe dog ran far away .\tit rained all day ."


@pytest.fixture(scope="module")
def task(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("runtime")
  (tmp / "msr_paraphrase_train.txt").write_text(
      HEADER + "\n" + "\n".join([PAIR] * 64) + "\n")
  (tmp / "msr_paraphrase_test.txt").write_text(
      HEADER + "\n" + "\n".join([PAIR, OTHER] * 4) + "\n")
  vocab = bert_testing.write_vocab(str(tmp / "vocab.txt"), [PAIR, OTHER])
  # No dropout: runs that differ only in distribution must agree.
  bert_testing.write_config(str(tmp / "bert_config.json"), len(vocab),
                            hidden_dropout_prob=0.0,
                            attention_probs_dropout_prob=0.0)
  return tmp


def classifier_args(task_dir, output_dir, *extra):
  return bert_testing.mrpc_train_args(task_dir, output_dir, 24, "--seed=3",
                                      *extra)


def final_loss(log):
  lines = [l for l in log.splitlines() if "Loss for final step:" in l]
  assert lines, log[-3000:]
  return float(lines[-1].rsplit(":", 1)[1].strip().rstrip("."))


def free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


@pytest.fixture(scope="module")
def single_run(task, tmp_path_factory):
  out = tmp_path_factory.mktemp("single")
  proc = bert_testing.run_script("run_classifier.py",
                                 classifier_args(task, out))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return out, final_loss(proc.stderr)


def test_two_workers_match_one_process(task, single_run, tmp_path):
  """MultiWorkerMirroredStrategy over two processes on 127.0.0.1."""
  _, single_loss = single_run
  ports = free_ports(2)
  cluster = {"worker": ["127.0.0.1:%d" % p for p in ports]}
  args = classifier_args(task, tmp_path / "multi",
                         "--distribution_strategy=multi_worker_mirrored")
  procs = []
  for index in range(2):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": index}}))
    procs.append(subprocess.Popen(
        [sys.executable, os.path.join(bert_testing.ROOT, "run_classifier.py")]
        + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=bert_testing.ROOT))
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
  # 64 examples / global batch 8 = 8 steps; each worker reads a batch of 4.
  assert (tmp_path / "multi" / "model.ckpt-8.index").exists()
  # The same global batch gives the same loss, up to float summation order.
  for log in logs:
    assert final_loss(log) == pytest.approx(single_loss, abs=1e-3)


def test_mirrored_strategy_matches_one_device(task, single_run, tmp_path):
  single_out, single_loss = single_run
  proc = bert_testing.run_script("run_classifier.py", classifier_args(
      task, tmp_path, "--distribution_strategy=mirrored"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert final_loss(proc.stderr) == pytest.approx(single_loss, abs=1e-4)
  a = tf.train.load_checkpoint(str(single_out / "model.ckpt-8"))
  b = tf.train.load_checkpoint(str(tmp_path / "model.ckpt-8"))
  assert set(a.get_variable_to_shape_map()) == set(
      b.get_variable_to_shape_map())


def test_accumulation_counts_updates_and_matches_full_batch(task, single_run,
                                                            tmp_path):
  _, single_loss = single_run
  proc = bert_testing.run_script("run_classifier.py", classifier_args(
      task, tmp_path, "--num_accumulation_steps=4"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  # Still 8 optimizer updates, from 32 micro-batches of 2.
  assert (tmp_path / "model.ckpt-8.index").exists()
  assert not (tmp_path / "model.ckpt-32.index").exists()
  summary = json.loads((tmp_path / "training_summary.json").read_text())
  assert summary["batch_size"] == 8
  assert final_loss(proc.stderr) == pytest.approx(single_loss, abs=1e-3)
  names = [n for n, _ in tf.train.list_variables(str(tmp_path))]
  assert not [n for n in names if "accumulation" in n]


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
  assert "bert/pooler/dense/kernel:0, shape = (32, 32), *INIT_FROM_CKPT*" in (
      warm.stderr)


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


def test_horovod_two_processes_match_one_process(task, single_run, tmp_path):
  """horovodrun with Gloo on localhost (runs where horovod is installed)."""
  pytest.importorskip("horovod.tensorflow",
                      reason="optional extra horovod is not installed")
  _, single_loss = single_run
  out = tmp_path / "hvd"
  cmd = ["horovodrun", "-np", "2", "-H", "localhost:2", "--gloo",
         sys.executable, os.path.join(bert_testing.ROOT, "run_classifier.py")
        ] + classifier_args(task, out, "--use_horovod", "--do_eval")
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                        cwd=bert_testing.ROOT,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  log = proc.stdout + proc.stderr
  assert proc.returncode == 0, log[-3000:]
  losses = [float(l.rsplit(":", 1)[1].strip().rstrip("."))
            for l in log.splitlines() if "Loss for final step:" in l]
  assert len(losses) >= 2  # at least one line per process
  for loss in losses:
    assert loss == pytest.approx(single_loss, abs=1e-3)
  # Rank 0 wrote the checkpoint and the results; rank 1 only its scratch dir.
  assert (out / "model.ckpt-8.index").exists()
  assert (out / "eval_results.txt").exists()
  assert not (out / "horovod_rank_1" / "eval_results.txt").exists()


RUNTIME_FLAGS_SCRIPT = """
import sys
sys.path.insert(0, %r)
from absl import flags
import optimization
import runtime
import script_flags
script_flags.define("output", "training", "tpu", "performance")
FLAGS = flags.FLAGS
FLAGS(sys.argv)
seen = {}
def record(*args, **kwargs):
  seen.update(kwargs)
optimization.create_optimizer = record
runtime.create_train_op(None, 1e-3, 10, 1)
def model_fn(features, labels, mode, params):
  raise AssertionError("not called")
estimator = runtime.build_estimator(model_fn, FLAGS.output_dir, 8)
print("decay=%%s bias=%%s job=%%s" %% (
    seen["learning_rate_decay"], seen["adam_bias_correction"],
    estimator.config.tpu_config.tpu_job_name))
"""


@pytest.mark.parametrize("args,expected", [
    ([], "decay=from_step_0 bias=False job=None"),
    (["--learning_rate_decay=after_warmup", "--adam_bias_correction",
      "--tpu_job_name=my_tpu_job"],
     "decay=after_warmup bias=True job=my_tpu_job"),
])
def test_issue_18_flags_reach_the_optimizer_and_tpu_config(tmp_path, args,
                                                           expected):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run(
      [sys.executable, "-c", RUNTIME_FLAGS_SCRIPT % root,
       "--output_dir=%s" % tmp_path] + args,
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip().splitlines()[-1] == expected
