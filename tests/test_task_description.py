"""task_description.py: one value for what a model was trained to do.

* A description survives task.json and an export's metadata unchanged.
* A directory of an older version (label_list.txt alone) reads as its labels
  with the kind unknown; a directory with neither reads as None.
* task.json is written atomically: a failed write leaves the old file and no
  temporary one; label_list.txt is written beside it.
* Importing the module loads no TensorFlow.
"""

import json
import os
import subprocess
import sys

import pytest

import bert_testing
import task_description
from task_description import TaskDescription


def full_description():
  return TaskDescription(
      kind="multi_label", labels=["food", "sport", "z z"],
      multi_label_threshold=0.8, window_aggregation="max", doc_stride=64,
      do_lower_case=False, max_seq_length=128, never_split=["XYZ", "[MASK]"],
      preserve_unused_tokens=True, task_name="file",
      run_settings={"learning_rate": 2e-5, "seed": [1, 2]})


def test_values_are_normalised_frozen_and_checked():
  d = full_description()
  assert d.labels == ("food", "sport", "z z")
  assert d.never_split == ("XYZ", "[MASK]")
  assert d.is_multi_label
  assert d.predicted_labels([0.9, 0.79, 0.8]) == ["food", "z z"]
  with pytest.raises(Exception):
    d.kind = "regression"  # Frozen.
  assert d.replace(kind="classification").kind == "classification"
  for bad, message in [
      (dict(kind="ranking"), "Unknown task kind 'ranking'"),
      (dict(multi_label_threshold=1.0), "between 0 and 1"),
      (dict(window_aggregation="sum", doc_stride=8), "window_aggregation"),
      (dict(window_aggregation="mean"), "needs the doc_stride"),
      (dict(labels="abc"), "not the string"),
      (dict(never_split="XYZ"), "not the string"),
      (dict(run_settings=[1]), "run_settings must be a dict")]:
    with pytest.raises(ValueError, match=message):
      TaskDescription(**bad)


def test_json_dict_round_trip_and_unknown_keys():
  d = full_description()
  data = json.loads(json.dumps(task_description.to_json_dict(d)))
  assert data["format"] == "bert-task"
  assert task_description.from_json_dict(data) == d
  # Keys of a later version are ignored; missing ones take defaults.
  data["from_the_future"] = 1
  del data["never_split"]
  assert task_description.from_json_dict(data) == d.replace(never_split=())
  with pytest.raises(ValueError, match="is not a task description"):
    task_description.from_json_dict({"kind": "regression"})
  with pytest.raises(ValueError, match="x.json: Unknown task kind"):
    task_description.from_json_dict({"format": "bert-task", "kind": "nope"},
                                    "x.json")


def test_export_metadata_round_trip_and_old_exports():
  d = full_description()
  metadata = dict(task="classification", labels=list(d.labels),
                  do_lower_case=False, max_seq_length=128,
                  **task_description.export_fields(d))
  assert metadata["multi_label"] is True
  assert task_description.export_task(d) == "classification"
  assert task_description.from_export_metadata(
      json.loads(json.dumps(metadata))) == d
  # An export of an older version: the defaults of training then.
  old = task_description.from_export_metadata(
      {"task": "classification", "multi_label": True, "labels": ["a", "b"],
       "do_lower_case": True, "max_seq_length": 64, "task_name": "file"})
  assert old == TaskDescription(kind="multi_label", labels=["a", "b"],
                                max_seq_length=64, task_name="file")
  assert old.multi_label_threshold == 0.5
  assert old.never_split == () and not old.preserve_unused_tokens
  squad = task_description.from_export_metadata(
      {"task": "squad", "labels": None, "do_lower_case": True,
       "max_seq_length": 64, "doc_stride": 32, "max_query_length": 16})
  assert squad.kind == "squad" and squad.doc_stride == 32


def test_write_then_read_round_trip(tmp_path):
  d = full_description()
  path = task_description.write(str(tmp_path), d)
  assert path == str(tmp_path / "task.json")
  assert task_description.read(str(tmp_path)) == d
  # label_list.txt for older readers, one label a line.
  assert (tmp_path / "label_list.txt").read_text() == "food\nsport\nz z\n"
  assert sorted(os.listdir(str(tmp_path))) == ["label_list.txt", "task.json"]
  # Regression: no labels, no label_list.txt.
  other = tmp_path / "regression"
  other.mkdir()
  task_description.write(str(other), TaskDescription(kind="regression"))
  assert os.listdir(str(other)) == ["task.json"]
  assert task_description.read(str(other)).kind == "regression"


def test_read_falls_back_to_label_list_of_older_versions(tmp_path):
  assert task_description.read(str(tmp_path)) is None
  (tmp_path / "label_list.txt").write_text("O\r\nB-PER\n\nI-PER\n")
  d = task_description.read(str(tmp_path))
  assert d.kind is None
  assert d.labels == ("O", "B-PER", "I-PER")
  (tmp_path / "label_list.txt").write_text("\n")
  with pytest.raises(ValueError, match="lists no labels"):
    task_description.read(str(tmp_path))
  (tmp_path / "task.json").write_text("{not json")
  with pytest.raises(ValueError, match="task.json is not JSON"):
    task_description.read(str(tmp_path))


def test_write_is_atomic(tmp_path, monkeypatch):
  """A write that fails midway leaves the old task.json, and no temporary
  file; label_list.txt likewise."""
  old = TaskDescription(kind="classification", labels=["a", "b"])
  task_description.write(str(tmp_path), old)
  before = {n: (tmp_path / n).read_text() for n in os.listdir(str(tmp_path))}

  def failing_dumps(*args, **kwargs):
    raise OSError("disk full")

  monkeypatch.setattr(task_description.json, "dumps", failing_dumps)
  with pytest.raises(OSError, match="disk full"):
    task_description.write(str(tmp_path), old.replace(labels=["x", "y"]))
  monkeypatch.undo()
  import output_files  # pylint: disable=g-import-not-at-top

  def failing_rename(*args, **kwargs):
    raise OSError("rename failed")

  monkeypatch.setattr(output_files.tf.io.gfile, "rename", failing_rename)
  with pytest.raises(OSError, match="rename failed"):
    task_description.write(str(tmp_path), old.replace(labels=["x", "y"]))
  monkeypatch.undo()
  after = {n: (tmp_path / n).read_text() for n in os.listdir(str(tmp_path))}
  assert after == before
  assert task_description.read(str(tmp_path)) == old


def test_labels_that_cannot_be_written_are_refused(tmp_path):
  with pytest.raises(ValueError, match="cannot be written"):
    task_description.write(str(tmp_path), TaskDescription(
        kind="classification", labels=["a", "b\nc"]))
  assert not os.listdir(str(tmp_path))


def test_import_needs_no_tensorflow(tmp_path):
  code = ("import sys, task_description, json\n"
          "d = task_description.read(sys.argv[1])\n"
          "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
          "print(json.dumps(list(d.labels)))\n")
  (tmp_path / "label_list.txt").write_text("a\nb\n")
  proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)],
                        capture_output=True, text=True, cwd=bert_testing.ROOT,
                        timeout=60)
  assert proc.returncode == 0, proc.stderr
  assert json.loads(proc.stdout) == ["a", "b"]
