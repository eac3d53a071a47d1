"""Tests of the test helpers whose mistakes would hide failures elsewhere."""

import pytest

import bert_testing

# Neither an installed module nor one that could ever be.
ABSENT = "no_such_module_for_bert_tests"


def test_require_optional_returns_an_installed_module():
  assert bert_testing.require_optional("json", "stdlib").dumps([1]) == "[1]"


def test_missing_optional_extra_skips_outside_ci(monkeypatch):
  monkeypatch.delenv("CI", raising=False)
  with pytest.raises(pytest.skip.Exception) as info:
    bert_testing.require_optional(ABSENT, "pip install it")
  assert ABSENT in str(info.value) and "pip install it" in str(info.value)


def test_missing_optional_extra_fails_under_ci(monkeypatch):
  monkeypatch.setenv("CI", "true")
  with pytest.raises(pytest.fail.Exception) as info:
    bert_testing.require_optional(ABSENT, "pip install it")
  assert ABSENT in str(info.value) and "CI=true" in str(info.value)


def test_read_eval_results_reads_every_line_as_a_float(tmp_path):
  path = tmp_path / "eval_results.txt"
  path.write_text("eval_accuracy = 0.6875\neval_loss = 0.61\n"
                  "global_step = 8\n\n")
  assert bert_testing.read_eval_results(path) == {
      "eval_accuracy": 0.6875, "eval_loss": 0.61, "global_step": 8.0}


def test_write_records_round_trips_through_read_features(tmp_path):
  path = bert_testing.write_records(tmp_path / "r.tfrecord", [
      {"input_ids": [3, 4], "weights": [1.0, 0.0]},
      {"input_ids": [5, 6], "weights": [0.5, 1]}])
  assert bert_testing.read_features(path, 2, names=("input_ids",))[
      "input_ids"].tolist() == [[3, 4], [5, 6]]
