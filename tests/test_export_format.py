"""export_format: the names of an export's layout and the check of its
assets/bert_export.json, on directories laid out by hand (no model)."""

import json
import sys
import warnings

import pytest
import tensorflow as tf

import export_format

GOOD_METADATA = {"format": "bert-savedmodel", "format_version": 1,
                 "task": "classification", "max_seq_length": 32,
                 "do_lower_case": True, "labels": ["0", "1"]}


def export_dir(tmp_path, metadata=GOOD_METADATA, saved_model=True,
               vocab=True, raw_metadata=None):
  """A directory shaped like an export: saved_model.pb (empty: read_metadata
  only looks for it), assets/vocab.txt and assets/bert_export.json."""
  directory = tmp_path / "1700000000"
  (directory / "assets").mkdir(parents=True)
  if saved_model:
    (directory / "saved_model.pb").write_bytes(b"")
  if vocab:
    (directory / "assets" / "vocab.txt").write_text("[PAD]\n[UNK]\n")
  if raw_metadata is not None:
    (directory / "assets" / "bert_export.json").write_text(raw_metadata)
  elif metadata is not None:
    (directory / "assets" / "bert_export.json").write_text(
        json.dumps(metadata))
  return str(directory)


def test_layout_names():
  assert export_format.SERVING_INPUTS == ("input_ids", "input_mask",
                                          "segment_ids")
  assert export_format.METADATA_FILE == "bert_export.json"
  assert export_format.VOCAB_FILE == "vocab.txt"
  assert (export_format.FORMAT, export_format.FORMAT_VERSION) == (
      "bert-savedmodel", 1)
  assert export_format.TEXT_SIGNATURE == "serving_text"


def test_only_per_example_tasks_take_any_length():
  # Per-token outputs (SQuAD logits, NER tags) are [batch, max_seq_length]:
  # those exports keep a fixed length.
  assert export_format.ANY_LENGTH_TASKS == ("classification", "regression")
  assert set(export_format.TASKS) - set(export_format.ANY_LENGTH_TASKS) == {
      "squad", "token_classification"}


def test_tensorflow_text_pin_matches_the_installed_tensorflow():
  # TF Text's ops are built against one TensorFlow minor version.
  major_minor = ".".join(tf.__version__.split(".")[:2])
  assert export_format.TENSORFLOW_TEXT_INSTALL == (
      'pip install "tensorflow-text==%s.*"' % major_minor)


def test_read_metadata_returns_the_file(tmp_path):
  metadata = dict(GOOD_METADATA, task="squad", labels=[], extra="kept")
  assert export_format.read_metadata(export_dir(tmp_path, metadata)) == (
      metadata)


def test_not_a_saved_model(tmp_path):
  path = export_dir(tmp_path, saved_model=False)
  with pytest.raises(ValueError, match=r"1700000000 is not a SavedModel "
                     r"directory \(no saved_model.pb\)\. Pass the "
                     r"<export_dir>/<timestamp>/ directory"):
    export_format.read_metadata(path)


@pytest.mark.parametrize("vocab,metadata,missing", [
    (True, None, "assets/bert_export.json:"),
    (False, GOOD_METADATA, "assets/vocab.txt:"),
    (False, None, "assets/bert_export.json and assets/vocab.txt:"),
])
def test_missing_assets_are_named(tmp_path, vocab, metadata, missing):
  path = export_dir(tmp_path, metadata, vocab=vocab)
  with pytest.raises(ValueError, match="lacks " + missing) as info:
    export_format.read_metadata(path)
  assert "Re-export it with this version" in str(info.value)
  assert "--export_dir=DIR" in str(info.value)


@pytest.mark.parametrize("raw,message", [
    ("{not json", r"bert_export.json is not JSON \("),
    ("[1, 2]", "bert_export.json is not a bert-savedmodel description"),
    (json.dumps(dict(GOOD_METADATA, format="other")),
     "is not a bert-savedmodel description"),
    (json.dumps({k: v for k, v in GOOD_METADATA.items() if k != "format"}),
     "is not a bert-savedmodel description"),
    (json.dumps({k: v for k, v in GOOD_METADATA.items() if k != "labels"}),
     "bert_export.json has no 'labels'"),
    (json.dumps({k: v for k, v in GOOD_METADATA.items()
                 if k != "max_seq_length"}),
     "bert_export.json has no 'max_seq_length'"),
    (json.dumps(dict(GOOD_METADATA, task="translation")),
     "bert_export.json: unknown task 'translation'"),
])
def test_bad_metadata_is_explained(tmp_path, raw, message):
  path = export_dir(tmp_path, raw_metadata=raw)
  with pytest.raises(ValueError, match=message) as info:
    export_format.read_metadata(path)
  assert "Re-export it with this version" in str(info.value)


def test_tensorflow_text_absent_is_none(monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorflow_text", None)  # ImportError.
  assert export_format.tensorflow_text() is None


def test_tensorflow_text_import_hides_only_the_pkg_resources_warning(
    tmp_path, monkeypatch):
  (tmp_path / "tensorflow_text.py").write_text(
      "import warnings\n"
      "warnings.warn('pkg_resources is deprecated as an API', "
      "DeprecationWarning)\n"
      "warnings.warn('something else', UserWarning)\n"
      "MARK = 'fake'\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  # Set, then removed: undoing both takes the fake module out again.
  monkeypatch.setitem(sys.modules, "tensorflow_text", None)
  monkeypatch.delitem(sys.modules, "tensorflow_text")
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    module = export_format.tensorflow_text()
  assert module.MARK == "fake"
  assert [str(w.message) for w in caught] == ["something else"]
