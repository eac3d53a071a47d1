"""Tests of command_line: one error path, a quiet start that can be undone."""

import os
import subprocess
import sys

import pytest

import command_line
from conftest import ROOT


def test_user_error_is_one_line_and_exit_1(monkeypatch):
  monkeypatch.setattr(sys, "argv", ["run_x.py"])

  def main(_):
    raise command_line.UserError("--data_dir=/nope is not a directory.")

  with pytest.raises(SystemExit) as exit_info:
    command_line.exit_on_user_error(main)([])
  assert exit_info.value.code == (
      "run_x.py: error: --data_dir=/nope is not a directory.")


def test_other_exceptions_keep_their_traceback():
  def main(_):
    return {}["missing"]  # A bug, not bad input.

  with pytest.raises(KeyError):
    command_line.exit_on_user_error(main)([])

  def main_value_error(_):
    raise ValueError("a library ValueError that no script turned into a "
                     "UserError is a bug in the script")

  with pytest.raises(ValueError):
    command_line.exit_on_user_error(main_value_error)([])


def test_reading_names_the_input_in_the_error():
  with pytest.raises(command_line.UserError,
                     match=r"^--vocab_file=v.txt: Vocab file not found"):
    with command_line.reading("--vocab_file=v.txt"):
      raise ValueError("Vocab file not found: v.txt")
  with pytest.raises(command_line.UserError, match=r"^--layers=x is bad$"):
    with command_line.reading("--layers=x"):
      raise ValueError("--layers=x is bad")  # Already named: not repeated.


def test_read_utf8_drops_the_bom_and_names_line_and_column(tmp_path):
  path = tmp_path / "train.tsv"
  path.write_bytes(b"\xef\xbb\xbfgood\n")
  assert command_line.read_utf8(str(path)) == "good\n"
  path.write_bytes(b"\xef\xbb\xbfgood\nline\ncaf\xe9 au lait\n")
  with pytest.raises(command_line.UserError) as error:
    command_line.read_utf8(str(path))
  assert str(error.value) == (
      "%s:3: not valid UTF-8 (byte 0xe9 at column 4)." % path)


def _run_script(args, env_updates):
  env = dict(os.environ)
  env.pop("TF_CPP_MIN_LOG_LEVEL", None)
  env.update(env_updates)
  return subprocess.run([sys.executable] + args, cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


def test_a_script_starts_quietly_and_verbosity_gives_everything_back(tmp_path):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n")
  args = ["create_pretraining_data.py", "--input_file=sample_text.txt",
          "--output_file=%s" % (tmp_path / "out.tfrecord"),
          "--vocab_file=%s" % vocab, "--max_seq_length=32",
          "--max_predictions_per_seq=5", "--dupe_factor=1"]
  quiet = _run_script(args, {})
  assert quiet.returncode == 0, quiet.stderr[-2000:]
  lines = quiet.stderr.splitlines()
  # No C++ log line of any level, nothing that looks like an error.
  assert not [l for l in lines if l[:1] in "EWF" and "]" in l[:80]], lines[:5]
  assert lines[0].startswith("INFO:tensorflow:"), lines[:3]
  assert "Wrote" in quiet.stderr

  loud = _run_script(args, {"TF_CPP_MIN_LOG_LEVEL": "0"})
  assert loud.returncode == 0, loud.stderr[-2000:]
  assert "cpu_feature_guard" in loud.stderr or "oneDNN" in loud.stderr


def test_a_bad_flag_ends_in_one_line_without_noise(tmp_path):
  proc = _run_script(
      ["run_pretraining.py", "--input_file=%s" % (tmp_path / "none*"),
       "--bert_config_file=%s" % (tmp_path / "missing.json"),
       "--output_dir=%s" % tmp_path, "--do_train"], {})
  assert proc.returncode == 1
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1, lines
  assert lines[0].startswith("run_pretraining.py: error: --bert_config_file="
                             "%s: " % (tmp_path / "missing.json")), lines
  assert "does not exist" in lines[0]


def test_known_harmless_lines_are_dropped_and_others_kept():
  import logging  # pylint: disable=g-import-not-at-top
  harmless = command_line._KnownHarmless()  # pylint: disable=protected-access

  def kept(message, *args):
    return harmless.filter(logging.LogRecord(
        "tensorflow", logging.INFO, __file__, 1, message, args, None))

  assert not kept("Using config: {'_model_dir': %r, '_tf_random_seed': 1}",
                  "/tmp/out")
  assert not kept("Summary for np.ndarray is not visible in Tensorboard by "
                  "default. Consider using a Tensorboard plugin.")
  assert not kept("The name tf.estimator.tpu.TPUConfig is deprecated. Please "
                  "use tf.compat.v1.estimator.tpu.TPUConfig instead.")
  assert not kept("From directives.py:126: The name "
                  "tf.estimator.tpu.TPUEstimatorSpec is deprecated. Please "
                  "use tf.compat.v1.estimator.tpu.TPUEstimatorSpec instead.")
  # What a run says about itself stays, even when it quotes a filtered name.
  assert kept("***** Eval results *****")
  assert kept("Wrote %s with config: %s", "task.json", "{'a': 1}")
  assert kept("Saving dict for global step 112: eval_accuracy = 0.965")
