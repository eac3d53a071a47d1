"""create_finetuning_data.py: records and meta data, against Model Garden's
own converter (tf-models-official) on the same MRPC-layout files."""

import json

import numpy as np
import pytest

import bert_testing
import create_finetuning_data
import finetuning_data
import script_flags
from command_line import UserError

SEQ = 32


@pytest.fixture(scope="module")
def mrpc(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("mrpc")
  data = tmp / "data"
  data.mkdir()
  rows = bert_testing.TOY_MRPC_ROWS
  for name, n in (("train.tsv", 4), ("dev.tsv", 2), ("test.tsv", 1)):
    (data / name).write_text(bert_testing.MRPC_HEADER + "\n" +
                             "\n".join(rows * n) + "\n")
  bert_testing.write_vocab(str(tmp / "vocab.txt"),
                           [r.split("\t", 3)[3] for r in rows])
  return tmp


def settings_for(tmp, **changes):
  values = dict(
      fine_tuning_task_type="classification", input_data_dir=str(tmp / "data"),
      classification_task_name="MRPC", vocab_file=str(tmp / "vocab.txt"),
      do_lower_case=True, max_seq_length=SEQ,
      train_data_output_path=str(tmp / "ours" / "train.tf_record"),
      eval_data_output_path=str(tmp / "ours" / "eval.tf_record"),
      test_data_output_path=None,
      meta_data_file_path=str(tmp / "ours" / "meta_data"), num_shards=1,
      processor_module=None, squad_data_file=None, doc_stride=128,
      max_query_length=64, version_2_with_negative=False)
  values.update(changes)
  return script_flags.Settings(**values)


def test_classification_records_equal_model_gardens(mrpc):
  cdl = bert_testing.model_garden("official.nlp.data.classifier_data_lib")
  mg_tokenization = bert_testing.model_garden("official.nlp.tools.tokenization")
  meta = create_finetuning_data.create_finetuning_data(settings_for(mrpc))
  tokenizer = mg_tokenization.FullTokenizer(str(mrpc / "vocab.txt"), True)
  # Model Garden 2.15's GLUE processors read TFDS only: its own converter
  # gets the rows of the same files as its InputExamples.
  (mrpc / "mg").mkdir()
  for split, name in (("train", "train.tsv"), ("eval", "dev.tsv")):
    lines = (mrpc / "data" / name).read_text().splitlines()[1:]
    examples = [cdl.InputExample("%s-%d" % (split, i), l.split("\t")[3],
                                 l.split("\t")[4], l.split("\t")[0])
                for i, l in enumerate(lines)]
    cdl.file_based_convert_examples_to_features(
        examples, ["0", "1"], SEQ, tokenizer,
        str(mrpc / "mg" / ("%s.tf_record" % split)))
    assert meta["%s_data_size" % split] == len(examples)
  assert meta["task_type"] == "bert_classification"
  assert meta["num_labels"] == 2 and meta["max_seq_length"] == SEQ
  with open(str(mrpc / "ours" / "meta_data")) as f:
    written = json.load(f)
  assert written["label_list"] == ["0", "1"]
  assert written["vocab_sha256"] == finetuning_data.vocab_sha256(
      str(mrpc / "vocab.txt"))
  names = ("input_ids", "input_mask", "segment_ids")
  for split in ("train", "eval"):
    ours = bert_testing.read_features(
        str(mrpc / "ours" / ("%s.tf_record" % split)), SEQ, names)
    theirs = bert_testing.read_features(
        str(mrpc / "mg" / ("%s.tf_record" % split)), SEQ, names)
    for name in names:
      np.testing.assert_array_equal(ours[name], theirs[name])
    ours_labels = bert_testing.read_features(
        str(mrpc / "ours" / ("%s.tf_record" % split)), 1,
        ("label_ids", "is_real_example"))
    theirs_labels = bert_testing.read_features(
        str(mrpc / "mg" / ("%s.tf_record" % split)), 1,
        ("label_ids", "is_real_example"))
    for name in ("label_ids", "is_real_example"):
      np.testing.assert_array_equal(ours_labels[name], theirs_labels[name])


def test_shards_hold_every_example_in_order(mrpc):
  create_finetuning_data.create_finetuning_data(settings_for(
      mrpc, num_shards=3, eval_data_output_path=None,
      train_data_output_path=str(mrpc / "shards" / "train.tf_record"),
      meta_data_file_path=str(mrpc / "shards" / "meta_data")))
  files = finetuning_data.data_files(str(mrpc / "shards" / "train.tf_record-*"),
                                     "train_data_path")
  assert len(files) == 3
  whole = bert_testing.read_features(str(mrpc / "ours" / "train.tf_record"),
                                     SEQ)
  parts = [bert_testing.read_features(f, SEQ) for f in files]
  np.testing.assert_array_equal(
      np.concatenate([p["input_ids"] for p in parts]), whole["input_ids"])


def test_meta_data_mismatch_is_one_line_error(mrpc):
  path = str(mrpc / "ours" / "meta_data")
  meta = finetuning_data.read_meta_data(path)
  with pytest.raises(UserError, match="max_seq_length 32, but "
                     "--max_seq_length=64"):
    finetuning_data.check_meta_data(meta, path, "run_classifier.py",
                                    max_seq_length=64)
  with pytest.raises(UserError, match="2 labels"):
    finetuning_data.check_meta_data(meta, path, "run_classifier.py",
                                    label_list=["a", "b", "c"])
  with pytest.raises(UserError, match="trains on 'bert_squad'"):
    finetuning_data.check_meta_data(meta, path, "run_squad.py")
  other = bert_testing.write_tokens(mrpc / "other_vocab.txt",
                                    bert_testing.SPECIAL_TOKENS)
  with pytest.raises(UserError, match="another vocabulary"):
    finetuning_data.check_meta_data(meta, path, "run_classifier.py",
                                    vocab_file=other)
  finetuning_data.check_meta_data(meta, path, "run_classifier.py",
                                  max_seq_length=SEQ, label_list=["0", "1"],
                                  vocab_file=str(mrpc / "vocab.txt"),
                                  do_lower_case=True)
