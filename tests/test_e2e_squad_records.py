"""End-to-end: run_squad.py trains on data converted once.

The SQuAD sample's training questions (data/squad) are converted by this
project's create_finetuning_data.py and by Model Garden's own squad_lib
(tf-models-official, whose records add `paragraph_mask`, `class_index` and
`is_impossible`; here SQuAD 2.0). run_squad.py trains a tiny model on each
from --input_meta_data_path / --train_data_path alone, as Model Garden's
run_squad.py does: no --train_file, no tokenising for training (nor a
--vocab_file when it only trains), the steps from the meta data's
`train_data_size`, the windows' settings (`max_seq_length`, `doc_stride`,
`max_query_length`, `version_2_with_negative`) from the meta data. Its
predictions on --predict_file are made with those settings. Mismatches
between the records and the flags are one-line errors.
"""

import json
import os

import pytest

import bert_testing
import create_finetuning_data
import script_flags

SQUAD = os.path.join(bert_testing.ROOT, "data", "squad")
# Not run_squad's defaults (384, 128, 64): the run must take the records'.
SEQ, STRIDE, QUERY = 64, 24, 16
BATCH, EPOCHS = 8, 2


def squad_texts():
  """The paragraphs and questions of the sample, for the vocabulary."""
  texts = []
  for name in ("train-v2.0.json", "dev-v2.0.json"):
    with open(os.path.join(SQUAD, name), encoding="utf-8") as f:
      for article in json.load(f)["data"]:
        for paragraph in article["paragraphs"]:
          texts.append(paragraph["context"])
          texts.extend(qa["question"] for qa in paragraph["qas"])
  return texts


def question_ids(name):
  with open(os.path.join(SQUAD, name), encoding="utf-8") as f:
    return {qa["id"] for article in json.load(f)["data"]
            for paragraph in article["paragraphs"] for qa in paragraph["qas"]}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
  """A vocabulary and tiny config; the 1.1 training questions as this
  project converts them, the 2.0 ones as Model Garden's squad_lib does."""
  tmp = tmp_path_factory.mktemp("squad_records")
  vocab = bert_testing.write_vocab(str(tmp / "vocab.txt"), squad_texts())
  bert_testing.write_config(str(tmp / "bert_config.json"), len(vocab),
                            max_position_embeddings=SEQ)
  ours = create_finetuning_data.create_finetuning_data(script_flags.Settings(
      fine_tuning_task_type="squad",
      squad_data_file=os.path.join(SQUAD, "train-v1.1.json"),
      vocab_file=str(tmp / "vocab.txt"), do_lower_case=True,
      max_seq_length=SEQ, doc_stride=STRIDE, max_query_length=QUERY,
      version_2_with_negative=False, num_shards=1, input_data_dir=None,
      train_data_output_path=str(tmp / "ours" / "train.tf_record"),
      eval_data_output_path=None, test_data_output_path=None,
      meta_data_file_path=str(tmp / "ours" / "meta_data")))
  squad_lib = bert_testing.model_garden("official.nlp.data.squad_lib")
  mg = squad_lib.generate_tf_record_from_json_file(
      os.path.join(SQUAD, "train-v2.0.json"), str(tmp / "vocab.txt"),
      str(tmp / "mg" / "train.tf_record"), max_seq_length=SEQ,
      do_lower_case=True, max_query_length=QUERY, doc_stride=STRIDE,
      version_2_with_negative=True)
  (tmp / "mg" / "meta_data").write_text(json.dumps(mg))
  return tmp, ours, mg


def model_flags(tmp, out):
  return ["--bert_config_file=%s" % (tmp / "bert_config.json"),
          "--model_dir=%s" % out, "--train_batch_size=%d" % BATCH,
          "--num_train_epochs=%d" % EPOCHS, "--learning_rate=1e-3"]


@pytest.fixture(scope="module")
def trained(converted):
  """Model Garden's command on this project's records (train, then predict
  on the 1.1 dev set), and training alone on Model Garden's records without
  a vocabulary, side by side."""
  tmp, _, _ = converted
  runs = {
      "ours": bert_testing.start_script("run_squad.py", model_flags(
          tmp, tmp / "ours_out") + [
              "--mode=train_and_eval",
              "--input_meta_data_path=%s" % (tmp / "ours" / "meta_data"),
              "--train_data_path=%s" % (tmp / "ours" / "train.tf_record"),
              "--predict_file=%s" % os.path.join(SQUAD, "dev-v1.1.json"),
              "--vocab_file=%s" % (tmp / "vocab.txt"),
              "--predict_batch_size=16", "--n_best_size=5"]),
      # A new process (fresh): its own hash seed, not that of the run it
      # is compared with.
      "mg": bert_testing.start_script("run_squad.py", model_flags(
          tmp, tmp / "mg_out") + [
              "--mode=train",
              "--input_meta_data_path=%s" % (tmp / "mg" / "meta_data"),
              "--train_data_path=%s" % (tmp / "mg" / "train.tf_record")],
          fresh=True),
  }
  logs = {}
  for name, run in runs.items():
    _, logs[name] = run.communicate(timeout=600)
    assert run.returncode == 0, (name, logs[name][-4000:])
  return tmp / "ours_out", tmp / "mg_out", logs


def test_trains_on_the_records_with_the_meta_datas_settings(converted,
                                                           trained):
  _, ours, _ = converted
  out, _, logs = trained
  assert (out / ("model.ckpt-%d.index" % int(
      ours["train_data_size"] / BATCH * EPOCHS))).exists()
  # Windows, not questions, as Model Garden counts them.
  assert ours["train_data_size"] > ours["num_train_questions"]
  assert not (out / "train.tf_record").exists()  # Nothing converted.
  settings = json.loads((out / "task.json").read_text())["run_settings"]
  assert (settings["max_seq_length"], settings["doc_stride"],
          settings["max_query_length"],
          settings["version_2_with_negative"]) == (SEQ, STRIDE, QUERY, False)
  assert settings["train_file"] is None
  assert "Num split examples = %d" % ours["train_data_size"] in logs["ours"]


def test_predicts_on_the_predict_file_as_model_garden(trained):
  out = trained[0]
  with open(str(out / "predictions.json")) as f:
    predictions = json.load(f)
  assert set(predictions) == question_ids("dev-v1.1.json")
  result = json.loads((out / "eval_results.json").read_text())
  assert set(result) == {"exact_match", "f1"}


def test_model_gardens_records_train_without_a_vocabulary(converted, trained):
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  tmp, _, mg = converted
  out = trained[1]
  assert mg["version_2_with_negative"] is True
  # Features the model does not read are in the records, and do no harm.
  first = next(tf.io.tf_record_iterator(str(tmp / "mg" / "train.tf_record")))
  assert {"paragraph_mask", "class_index", "is_impossible"} <= set(
      tf.train.Example.FromString(first).features.feature)
  assert (out / ("model.ckpt-%d.index" % int(
      mg["train_data_size"] / BATCH * EPOCHS))).exists()
  settings = json.loads((out / "task.json").read_text())["run_settings"]
  assert (settings["doc_stride"], settings["max_query_length"],
          settings["version_2_with_negative"]) == (STRIDE, QUERY, True)


def test_mismatches_are_one_line_errors(converted, tmp_path):
  tmp, _, _ = converted
  meta = tmp / "ours" / "meta_data"
  tagging_meta = tmp_path / "tagging_meta_data"
  tagging_meta.write_text(json.dumps({"task_type": "tagging",
                                      "max_seq_length": SEQ}))
  other_vocab = bert_testing.write_tokens(
      tmp_path / "other_vocab.txt", bert_testing.SPECIAL_TOKENS + ["x"])
  common = model_flags(tmp, tmp_path / "out") + [
      "--train_data_path=%s" % (tmp / "ours" / "train.tf_record"),
      "--do_train"]
  cases = {
      "the records are of max_seq_length 64, but --max_seq_length=32": [
          "--input_meta_data_path=%s" % meta, "--max_seq_length=32"],
      "the records were made with doc_stride=24, but --doc_stride=128": [
          "--input_meta_data_path=%s" % meta, "--doc_stride=128"],
      "the records were made with max_query_length=16, but "
      "--max_query_length=64": [
          "--input_meta_data_path=%s" % meta, "--max_query_length=64"],
      "holds task_type 'tagging' records; run_squad.py trains on "
      "'bert_squad'": ["--input_meta_data_path=%s" % tagging_meta],
      "another vocabulary than --vocab_file=%s" % other_vocab: [
          "--input_meta_data_path=%s" % meta,
          "--vocab_file=%s" % other_vocab],
  }
  runs = {message: bert_testing.start_script("run_squad.py", common + args)
          for message, args in cases.items()}
  for message, run in runs.items():
    _, err = run.communicate(timeout=300)
    assert run.returncode == 1, (message, err[-2000:])
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        "run_squad.py: error: --input_meta_data_path="), last
    assert message in last, last


def test_readme_squad_records_commands_run_as_pasted(tmp_path):
  """The README's "Coming from Model Garden" SQuAD block, as pasted
  (SQUAD_DIR: the sample; BERT_BASE_DIR: a tiny stand-in model)."""
  (block,) = [b for b in bert_testing.readme_blocks(
      "## Coming from Model Garden", "sh")
              if "--fine_tuning_task_type=squad" in b]
  base = tmp_path / "base"
  base.mkdir()
  vocab = bert_testing.write_vocab(str(base / "vocab.txt"), squad_texts())
  bert_testing.write_config(str(base / "bert_config.json"), len(vocab),
                            max_position_embeddings=384)
  bert_testing.write_stand_in_checkpoint(str(base / "bert_model.ckpt"),
                                         str(base / "bert_config.json"))
  proc = bert_testing.run_readme_block(block, tmp_path, env={
      "SQUAD_DIR": SQUAD, "BERT_BASE_DIR": str(base),
      "MODEL_DIR": str(tmp_path / "model")})
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(str(tmp_path / "finetuning" / "squad_meta_data")) as f:
    meta = json.load(f)
  assert (meta["max_seq_length"], meta["doc_stride"],
          meta["max_query_length"]) == (384, 128, 64)
  with open(str(tmp_path / "model" / "predictions.json")) as f:
    assert set(json.load(f)) == question_ids("dev-v1.1.json")
