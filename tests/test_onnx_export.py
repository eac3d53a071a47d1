"""--export_format=onnx: model.onnx beside the SavedModel, run in ONNX Runtime.

Tiny models are fine-tuned in subprocesses as a user runs the scripts and
exported with `--export_format=onnx`; ONNX Runtime (the optional extra,
requirements-onnx.txt) then runs model.onnx:
* run_classifier.py (MRPC): its probabilities on the features the script
  predicted on equal test_results.tsv (Estimator.predict), and at a shorter
  length the SavedModel's, to the export's 1e-4;
* run_squad.py: start and end logits equal the SavedModel's;
* the README's block, on a model of the quick start's shape, prints the
  probabilities the predictor gives from the SavedModel.
An ONNX model that disagrees with its SavedModel is not kept.
"""

import json
import os
import shutil

import numpy as np
import pytest

import bert_testing
import onnx_export
import predictor
from test_export import train_squad_and_export

bert_testing.require_optional("onnxruntime", onnx_export.INSTALL)
bert_testing.require_optional("tf2onnx", onnx_export.INSTALL)

SEQ_LENGTH = 32
TOLERANCE = onnx_export.TOLERANCE
README_HEADING = "## Serving: `--export_dir` (SavedModel)"


def check_export(export_dir):
  """The one export's path; it holds model.onnx and records its check."""
  saved_model = bert_testing.only_export(export_dir)
  assert os.path.isfile(os.path.join(saved_model, onnx_export.ONNX_FILE))
  with open(os.path.join(saved_model, "assets", "bert_export.json")) as f:
    record = json.load(f)["onnx"]
  assert record["file"] == onnx_export.ONNX_FILE
  assert record["opset"] == onnx_export.OPSET
  assert 0 <= record["max_difference"] <= record["tolerance"] == TOLERANCE
  return saved_model


def onnx_outputs(saved_model, features):
  return onnx_export.run_onnx(
      os.path.join(saved_model, onnx_export.ONNX_FILE), features)


@pytest.fixture(scope="module")
def classifier_export(tmp_path_factory):
  tmp = str(tmp_path_factory.mktemp("onnx_classifier"))
  out, export_dir, proc = bert_testing.train_mrpc_and_export(
      tmp, 32, 12, SEQ_LENGTH, "--export_format=onnx")
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert "Wrote model.onnx beside it" in proc.stderr
  return out, check_export(export_dir)


def test_classifier_onnx_equals_estimator_predict(classifier_export):
  out, saved_model = classifier_export
  features = bert_testing.read_features(
      os.path.join(out, "predict.tf_record"), SEQ_LENGTH)
  got = onnx_outputs(saved_model, features)
  assert sorted(got) == ["probabilities"]
  expected = np.loadtxt(os.path.join(out, "test_results.tsv"), ndmin=2)
  assert got["probabilities"].shape == expected.shape == (12, 2)
  diff = np.abs(got["probabilities"] - expected).max()
  print("classifier: max |ONNX Runtime - Estimator.predict| = %.3g" % diff)
  assert diff <= TOLERANCE
  # Rows differ far more than the tolerance: mixed-up inputs would show.
  assert np.ptp(got["probabilities"][:, 0]) > 100 * TOLERANCE


def test_classifier_onnx_takes_shorter_lengths_as_the_saved_model(
    classifier_export):
  out, saved_model = classifier_export
  features = bert_testing.read_features(
      os.path.join(out, "predict.tf_record"), SEQ_LENGTH)
  # Half the length (both runtimes get the same cut rows).
  short = {k: v[:, :SEQ_LENGTH // 2] for k, v in features.items()}
  got = onnx_outputs(saved_model, short)["probabilities"]
  want = bert_testing.serve(saved_model, short)["probabilities"]
  assert got.shape == (12, 2)
  assert np.abs(got - want).max() <= TOLERANCE


def test_squad_onnx_equals_saved_model(tmp_path):
  out, export_dir, _ = train_squad_and_export(str(tmp_path), 1,
                                              "--export_format=onnx")
  saved_model = check_export(export_dir)
  features = bert_testing.read_features(os.path.join(out, "eval.tf_record"),
                                        SEQ_LENGTH)
  got = onnx_outputs(saved_model, features)
  want = bert_testing.serve(saved_model, features)
  assert sorted(got) == ["end_logits", "start_logits"]
  for name in got:
    assert got[name].shape == want[name].shape == (
        len(features["input_ids"]), SEQ_LENGTH)
    assert np.abs(got[name] - want[name]).max() <= TOLERANCE


def test_onnx_that_disagrees_is_not_kept(classifier_export, tmp_path,
                                         monkeypatch):
  _, saved_model = classifier_export
  copy = str(tmp_path / "export")
  shutil.copytree(saved_model, copy)
  os.remove(os.path.join(copy, onnx_export.ONNX_FILE))
  run_onnx = onnx_export.run_onnx
  monkeypatch.setattr(onnx_export, "run_onnx", lambda path, feeds: {
      k: v + 1e-3 for k, v in run_onnx(path, feeds).items()})
  with pytest.raises(ValueError, match=r"^model.onnx differs from the "
                     r"SavedModel by 0.001 on sample inputs \(more than "
                     r"0.0001\)$"):
    onnx_export.write_onnx(copy, vocab_size=50, seq_length=SEQ_LENGTH)
  assert not os.path.exists(os.path.join(copy, onnx_export.ONNX_FILE))


def test_readme_onnx_block_prints_the_predictors_probabilities(tmp_path):
  out = str(tmp_path / "bert_quickstart")
  proc = bert_testing.quickstart_shaped_model(out)
  assert proc.returncode == 0, proc.stderr[-3000:]
  blocks = [b for b in bert_testing.readme_blocks(README_HEADING, "sh")
            if "--export_format=onnx" in b]
  assert len(blocks) == 1
  proc = bert_testing.run_readme_block(blocks[0], tmp_path)
  log = tmp_path / "bert_quickstart" / "onnx_export.log"
  assert proc.returncode == 0, proc.stderr + (
      log.read_text()[-3000:] if log.exists() else "")
  printed = eval(proc.stdout.strip())  # pylint: disable=eval-used
  saved_model = check_export(str(tmp_path / "bert_quickstart" / "onnx"))
  (want,) = predictor.Predictor(saved_model).predict(
      ["a warm , funny and moving film ."])
  assert sorted(printed) == sorted(want["probabilities"]) == ["0", "1"]
  for label, value in want["probabilities"].items():
    assert abs(printed[label] - value) <= TOLERANCE
