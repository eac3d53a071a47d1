"""record_cache: records converted from raw text are reused by a rerun with
the same data and settings, and converted again on any difference.

In-process, on the toy MRPC task (run_classifier), a small SQuAD file
(run_squad) and a CoNLL file (run_ner); one end-to-end pair of
run_classifier.py runs checks that a reuse is what the command does.
"""

import json
import logging
import os

import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import output_files
import record_cache
import run_classifier
import run_ner
import run_squad
import script_flags
import tokenization


@pytest.fixture(scope="module")
def task(tmp_path_factory):
  return bert_testing.write_toy_mrpc_task(tmp_path_factory.mktemp("mrpc"))


@pytest.fixture(scope="module")
def tokenizer(task):
  return tokenization.FullTokenizer(str(task / "vocab.txt"))


def mrpc_examples(task_dir):
  return run_classifier.MrpcProcessor().get_train_examples(str(task_dir))


def convert(examples, tokenizer, path, max_seq_length=32):
  return run_classifier.convert_once(examples, ["0", "1"], max_seq_length,
                                     tokenizer, str(path))


def records(path):
  return [bytes(r) for r in tf.io.tf_record_iterator(str(path))]


def logged(caplog):
  return [r.getMessage() for r in caplog.records
          if r.name == "tensorflow" and "tf_record" in r.getMessage()]


@pytest.fixture(autouse=True)
def info_logs(caplog):
  caplog.set_level(logging.INFO, logger="tensorflow")


def test_identical_rerun_reuses_the_record_and_its_count(task, tokenizer,
                                                         tmp_path, caplog):
  path = tmp_path / "train.tf_record"
  examples = mrpc_examples(task)
  assert convert(examples, tokenizer, path) == 64
  first = records(path)
  assert len(first) == 64
  mtime = os.stat(path).st_mtime_ns
  saved = json.loads((tmp_path / "train.tf_record.key").read_text())
  assert saved["counts"] == {"num_records": 64}
  assert saved["record_bytes"] == os.path.getsize(path)
  assert saved["key"]["max_seq_length"] == 32
  caplog.clear()

  # Examples read again from the same files: a new list, the same content.
  assert convert(mrpc_examples(task), tokenizer, path) == 64
  assert os.stat(path).st_mtime_ns == mtime
  assert records(path) == first
  assert logged(caplog) == [
      "Reusing train.tf_record converted before (same data and settings): "
      "num_records=64."]
  assert sorted(os.listdir(tmp_path)) == ["train.tf_record",
                                          "train.tf_record.key"]
  # --overwrite_output_dir removes the key with the record.
  assert output_files.is_run_output("train.tf_record.key")


def test_one_byte_of_the_data_file_converts_again(task, tokenizer, tmp_path,
                                                  caplog):
  data = tmp_path / "data"
  data.mkdir()
  text = (task / "msr_paraphrase_train.txt").read_text()
  (data / "msr_paraphrase_train.txt").write_text(text)
  path = tmp_path / "train.tf_record"
  convert(mrpc_examples(data), tokenizer, path)
  before = records(path)
  # "the cat sat" -> "the cat sit" in the first row.
  (data / "msr_paraphrase_train.txt").write_text(
      text.replace("cat sat", "cat sit", 1))
  caplog.clear()
  convert(mrpc_examples(data), tokenizer, path)
  assert logged(caplog)[0] == (
      "Converting train.tf_record: the examples (the data files' content) "
      "changed.")
  after = records(path)
  assert after[1:] == before[1:] and after[0] != before[0]
  expected = run_classifier.convert_single_example(
      0, mrpc_examples(data)[0], ["0", "1"], 32, tokenizer)
  parsed = tf.train.Example.FromString(after[0]).features.feature
  assert list(parsed["input_ids"].int64_list.value) == expected.input_ids


def test_max_seq_length_converts_again(task, tokenizer, tmp_path, caplog):
  path = tmp_path / "eval.tf_record"
  examples = mrpc_examples(task)
  convert(examples, tokenizer, path, max_seq_length=32)
  caplog.clear()
  convert(examples, tokenizer, path, max_seq_length=24)
  assert logged(caplog)[0] == (
      "Converting eval.tf_record: max_seq_length changed (32 -> 24).")
  assert bert_testing.read_features(str(path), 24)["input_ids"].shape == (
      64, 24)


def test_another_vocabulary_converts_again(task, tokenizer, tmp_path, caplog):
  path = tmp_path / "train.tf_record"
  examples = mrpc_examples(task)
  convert(examples, tokenizer, path)
  vocab = (task / "vocab.txt").read_text().splitlines()
  # The same tokens, two of them swapped: other ids, the same size.
  i, j = vocab.index("cat"), vocab.index("dog")
  vocab[i], vocab[j] = vocab[j], vocab[i]
  (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
  swapped = tokenization.FullTokenizer(str(tmp_path / "vocab.txt"))
  caplog.clear()
  convert(examples, swapped, path)
  assert logged(caplog)[0] == (
      "Converting train.tf_record: the vocabulary changed.")
  ids = bert_testing.read_features(str(path), 32)["input_ids"]
  assert i in ids[1] and j not in ids[1]   # "the dog ran far away ."

  caplog.clear()
  cased = tokenization.FullTokenizer(str(tmp_path / "vocab.txt"),
                                     do_lower_case=False)
  convert(examples, cased, path)
  assert logged(caplog)[0] == (
      "Converting train.tf_record: do_lower_case changed (true -> false).")


@pytest.mark.parametrize("damage", ["truncated key", "no key", "bad record"])
def test_a_damaged_key_or_record_converts_again(task, tokenizer, tmp_path,
                                                caplog, damage):
  path = tmp_path / "train.tf_record"
  examples = mrpc_examples(task)
  convert(examples, tokenizer, path)
  first = records(path)
  key_file = tmp_path / "train.tf_record.key"
  if damage == "truncated key":
    key_file.write_text(key_file.read_text()[:100])
    reason = "its key file train.tf_record.key is unreadable"
  elif damage == "no key":
    key_file.unlink()
    reason = "no key file beside it"
  else:
    path.write_bytes(path.read_bytes()[:-10])
    reason = "the record's size is not the one its key file gives"
  caplog.clear()
  assert convert(examples, tokenizer, path) == 64
  assert logged(caplog)[0] == "Converting train.tf_record: %s." % reason
  assert records(path) == first
  assert json.loads(key_file.read_text())["counts"] == {"num_records": 64}


def test_a_failed_conversion_leaves_no_key(task, tokenizer, tmp_path):
  path = tmp_path / "train.tf_record"
  examples = mrpc_examples(task)
  convert(examples, tokenizer, path)
  key = record_cache.conversion_key("test/1", examples, tokenizer)

  def fail():
    raise RuntimeError("killed")

  with pytest.raises(RuntimeError):
    record_cache.convert_once(str(path), key, fail)
  # The old record may stay, but no key vouches for it any more.
  assert not (tmp_path / "train.tf_record.key").exists()


def test_padding_for_tpu_is_part_of_the_key(task, tokenizer):
  examples = mrpc_examples(task)[:5]
  padded = run_classifier._padded(examples, 4, use_tpu=True)
  assert len(padded) == 8
  keys = [record_cache.conversion_key("x/1", e, tokenizer)
          for e in (examples, padded, run_classifier._padded(examples, 4,
                                                             use_tpu=True))]
  assert keys[0] != keys[1] and keys[1] == keys[2]


SQUAD = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{
    "context": "the cat sat on the mat . the dog ran far away .",
    "qas": [{"id": "q%d" % i, "question": question,
             "answers": [{"text": answer,
                          "answer_start": [0, 25][i % 2]}]}
            for i, (question, answer) in enumerate([
                ("who sat on the mat ?", "the cat"),
                ("who ran far away ?", "the dog")])]}]}]}


def test_squad_training_records_are_reused(task, tokenizer, tmp_path,
                                           caplog):
  train_file = tmp_path / "train.json"
  train_file.write_text(json.dumps(SQUAD))
  out = tmp_path / "out"
  out.mkdir()
  settings = script_flags.Settings(
      train_file=str(train_file), output_dir=str(out), max_seq_length=16,
      doc_stride=4, max_query_length=8, version_2_with_negative=False)
  examples, _ = run_squad.read_train_examples(settings)
  path, count = run_squad.write_train_features(settings, tokenizer, examples)
  first = records(path)
  assert count == len(first) > 2   # 13 context tokens, 7 a window.
  caplog.clear()
  again, _ = run_squad.read_train_examples(settings)
  assert run_squad.write_train_features(settings, tokenizer, again) == (
      path, count)
  assert logged(caplog) == [
      "Reusing train.tf_record converted before (same data and settings): "
      "num_features=%d." % count]
  caplog.clear()
  run_squad.write_train_features(settings.replace(doc_stride=2), tokenizer,
                                 again)
  assert logged(caplog)[0] == (
      "Converting train.tf_record: doc_stride changed (4 -> 2).")
  assert len(records(path)) > count


def test_ner_training_records_are_reused(tokenizer, tmp_path, caplog):
  conll = tmp_path / "train.txt"
  conll.write_text("the O\ncat B-ANIMAL\nsat O\n\nthe O\ndog B-ANIMAL\n"
                   "ran O\nfar O\naway O\n")
  examples = run_ner.read_conll(str(conll))
  labels = ["O", "B-ANIMAL"]
  settings = script_flags.Settings(max_seq_length=6, doc_stride=2)
  path = str(tmp_path / "train.tf_record")
  count = run_ner.write_train_file(settings, examples, labels, tokenizer,
                                   path)
  assert count == len(records(path)) == 1 + 2   # 3 + 5 words, 4 a window.
  caplog.clear()
  assert run_ner.write_train_file(settings, run_ner.read_conll(str(conll)),
                                  labels, tokenizer, path) == count
  assert logged(caplog) == [
      "Reusing train.tf_record converted before (same data and settings): "
      "num_windows=3."]
  caplog.clear()
  run_ner.write_train_file(settings, examples, labels[::-1], tokenizer, path)
  assert logged(caplog)[0] == (
      'Converting train.tf_record: labels changed (["O", "B-ANIMAL"] -> '
      '["B-ANIMAL", "O"]).')


def test_rerun_of_the_command_reuses_its_records(task, tmp_path):
  out = tmp_path / "out"
  args = bert_testing.mrpc_train_args(task, out, 32, "--do_eval")
  first = bert_testing.run_script("run_classifier.py", args)
  assert first.returncode == 0, first.stderr[-3000:]
  assert "Converting train.tf_record: no earlier conversion." in first.stderr
  mtimes = {n: os.stat(out / n).st_mtime_ns
            for n in ("train.tf_record", "eval.tf_record")}
  # A second epoch resumes training: its schedule comes from the count kept
  # in train.tf_record.key.
  second = bert_testing.run_script(
      "run_classifier.py", args + ["--num_train_epochs=2",
                                     "--resume_with_changed_settings"])
  assert second.returncode == 0, second.stderr[-3000:]
  for name, count in (("train.tf_record", 64), ("eval.tf_record", 8)):
    assert ("Reusing %s converted before (same data and settings): "
            "num_records=%d." % (name, count)) in second.stderr, name
    assert os.stat(out / name).st_mtime_ns == mtimes[name]
  assert "Converting" not in second.stderr
  assert bert_testing.read_eval_results(
      out / "eval_results.txt")["global_step"] == 16
