"""Tests of output_files: one temporary-name scheme for files and directories,
atomic replacement, and the clean-up that finds every writer's leftovers."""

import json
import os
import socket
import subprocess
import sys

import pytest
import tensorflow.compat.v1 as tf

import output_files
import squad_evaluate
import temp_names


def _dead_pid():
  proc = subprocess.Popen([sys.executable, "-c", "pass"])
  proc.wait()
  return proc.pid


def test_temp_names_of_every_writer_share_one_scheme(tmp_path):
  name = os.path.basename(output_files.temp_path(str(tmp_path / "a.txt")))
  assert name.startswith("a.txt.tmp-%s-%d-" % (socket.gethostname(),
                                               os.getpid()))
  assert output_files.is_temp_name(name)
  assert temp_names.parse_temp_name(name) == (socket.gethostname(),
                                              os.getpid())
  # squad_evaluate (TensorFlow-free) writes under the same scheme.
  assert output_files.temp_path is squad_evaluate.temp_path
  assert not output_files.is_temp_name("notes.tmp-1")
  assert temp_names.parse_temp_name("notes.tmp-1") is None


def test_stale_files_and_directories_of_dead_writers_are_removed(tmp_path):
  pid = _dead_pid()
  host = socket.gethostname()
  stale_file = tmp_path / ("predictions.json.tmp-%s-%d-0123abcd" % (host, pid))
  stale_file.write_text("{")
  stale_dir = tmp_path / ("bert_dir.tmp-%s-%d-89abcdef" % (host, pid))
  (stale_dir / "sub").mkdir(parents=True)
  (stale_dir / "sub" / "x").write_text("half")
  live = tmp_path / ("eval.tf_record.tmp-%s-%d-01234567" % (host, os.getpid()))
  live.write_text("being written")
  removed = output_files.remove_stale_temp_files(str(tmp_path))
  assert removed == sorted([stale_dir.name, stale_file.name])
  assert sorted(os.listdir(str(tmp_path))) == [live.name]


def test_atomic_directory_replaces_the_old_one_only_when_complete(tmp_path):
  target = tmp_path / "model"
  target.mkdir()
  (target / "old.txt").write_text("old")
  with pytest.raises(RuntimeError):
    with output_files.atomic_directory(str(target)) as tmp:
      with open(os.path.join(tmp, "new.txt"), "w") as f:
        f.write("half")
      raise RuntimeError("killed")
  assert sorted(os.listdir(str(tmp_path))) == ["model"]
  assert os.listdir(str(target)) == ["old.txt"]

  with output_files.atomic_directory(str(target)) as tmp:
    assert output_files.is_temp_name(os.path.basename(tmp))
    with open(os.path.join(tmp, "new.txt"), "w") as f:
      f.write("new")
  assert sorted(os.listdir(str(tmp_path))) == ["model"]
  assert os.listdir(str(target)) == ["new.txt"]


def test_tfrecord_writer_appears_whole_or_not_at_all(tmp_path):
  path = str(tmp_path / "train.tf_record")
  with pytest.raises(ValueError):
    with output_files.TFRecordWriter(path) as writer:
      writer.write(b"one")
      raise ValueError("conversion failed")
  assert os.listdir(str(tmp_path)) == []
  with output_files.TFRecordWriter(path) as writer:
    writer.write(b"one")
    writer.write(b"two")
  assert list(tf.io.tf_record_iterator(path)) == [b"one", b"two"]
  assert writer.count == 2


def test_squad_evaluate_json_writer_leaves_no_temp_file(tmp_path):
  path = str(tmp_path / "eval.json")
  squad_evaluate.write_json_atomically(path, {"f1": 50.0})
  with open(path) as f:
    assert json.load(f) == {"f1": 50.0}
  assert os.listdir(str(tmp_path)) == ["eval.json"]


def test_prepare_output_dir_names_the_flag(tmp_path):
  a_file = tmp_path / "file"
  a_file.write_text("x")
  with pytest.raises(output_files.UserError,
                     match="--export_dir=.* is a file, not a directory"):
    output_files.prepare_output_dir(str(a_file), flag="--export_dir")
  with pytest.raises(output_files.UserError, match="--output_dir is required"):
    output_files.prepare_output_dir("")
