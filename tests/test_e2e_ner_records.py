"""End-to-end: run_ner.py on data converted once (--input_meta_data_path).

Tiny CoNLL files (people and places, some training and test sentences
longer than a window) are converted by this project's
create_finetuning_data.py and by Model Garden's own tagging_data_lib
(tf-models-official: `label_ids` -1 where no label is, no `label_mask`).
run_ner.py trains a tiny model on the records alone (no --data_dir, no
tokenising), with the number of steps from the meta data's
`train_data_size`. The same checkpoint then evaluates the dev sentences
three ways, from this project's records, from Model Garden's and from the
CoNLL files: eval_results.txt says the same numbers; and the test
sentences' predicted tags, windows and all, are those of the raw files.
Mismatches between the records and the flags are one-line errors.
"""

import json
import os
import shutil

import numpy as np
import pytest

import bert_testing
import create_finetuning_data
import finetuning_data
import ner_data
import script_flags
import tokenization

SEQ, STRIDE, BATCH, EPOCHS = 16, 6, 8, 2
NAMES = ["anna", "bob", "carl", "dora", "erik", "fay"]
PLACES = [["paris"], ["rome"], ["oslo"], ["new", "york"], ["lima"]]


def sentence(i):
  """(words, IOB2 tags) of a short sentence, varied by `i`."""
  name, other = NAMES[i % 6], NAMES[(i + 2) % 6]
  place = PLACES[i % 5]
  loc = ["B-LOC"] + ["I-LOC"] * (len(place) - 1)
  if i % 3 == 0:
    return [name, "lives", "in"] + place + ["."], (
        ["B-PER", "O", "O"] + loc + ["O"])
  if i % 3 == 1:
    return [name, "met", other, "in"] + place + ["."], (
        ["B-PER", "O", "B-PER", "O"] + loc + ["O"])
  return ["we", "saw", name, "near"] + place, ["O", "O", "B-PER", "O"] + loc


def long_sentence(i):
  """Three short sentences joined by `and`: more pieces than a window."""
  words, tags = [], []
  for j in range(3):
    w, t = sentence(i + j)
    if words:
      words, tags = words + ["and"], tags + ["O"]
    words, tags = words + w, tags + t
  return words, tags


SPLITS = {
    "train": [sentence(i) for i in range(20)] + [long_sentence(i)
                                                 for i in range(4)],
    # Short sentences: Model Garden's windows are then this project's.
    "dev": [sentence(i) for i in range(20, 28)],
    "test": [sentence(30), long_sentence(31), sentence(32)],
}


def write_conll(path, sentences):
  with open(str(path), "w", encoding="utf-8") as f:
    for words, tags in sentences:
      f.write("".join("%s %s\n" % wt for wt in zip(words, tags)) + "\n")


def model_gardens_records(tmp, label_list):
  """Model Garden's tagging_data_lib writes the same sentences; its meta
  data as its create_finetuning_data.py writes it."""
  tagging = bert_testing.model_garden("official.nlp.data.tagging_data_lib")
  mg_tokenization = bert_testing.model_garden(
      "official.nlp.tools.tokenization")
  tokenizer = mg_tokenization.FullTokenizer(str(tmp / "vocab.txt"), True)
  label_ids = {label: i for i, label in enumerate(label_list)}
  sizes = {}
  for split, sentences in SPLITS.items():
    examples = [tagging.InputExample(
        sentence_id=i, words=list(words),
        label_ids=[label_ids[t] for t in tags])
                for i, (words, tags) in enumerate(sentences)]
    sizes[split] = tagging.write_example_to_file(
        examples, tokenizer, SEQ, str(tmp / "mg" / ("%s.tf_record" % split)))
  meta = tagging.token_classification_meta_data(
      sizes["train"], SEQ, len(label_list), sizes["dev"], sizes["test"],
      label_list=label_list, processor_type="conll")
  (tmp / "mg" / "meta_data").write_text(json.dumps(meta))
  return meta


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
  """The CoNLL files, a vocabulary and a tiny config, and both converters'
  records and meta data."""
  tmp = tmp_path_factory.mktemp("ner_records")
  (tmp / "data").mkdir()
  for split, sentences in SPLITS.items():
    write_conll(tmp / "data" / ("%s.txt" % split), sentences)
  texts = [" ".join(w) for s in SPLITS.values() for w, _ in s]
  vocab = bert_testing.write_vocab(str(tmp / "vocab.txt"), texts)
  bert_testing.write_config(str(tmp / "bert_config.json"), len(vocab),
                            max_position_embeddings=64)
  ours = create_finetuning_data.create_finetuning_data(script_flags.Settings(
      fine_tuning_task_type="tagging", input_data_dir=str(tmp / "data"),
      vocab_file=str(tmp / "vocab.txt"), do_lower_case=True,
      max_seq_length=SEQ, doc_stride=STRIDE, num_shards=1,
      meta_data_file_path=str(tmp / "ours" / "meta_data"),
      **{"%s_data_output_path" % s: str(tmp / "ours" / ("%s.tf_record" % n))
         for s, n in (("train", "train"), ("eval", "dev"),
                      ("test", "test"))}))
  (tmp / "mg").mkdir()
  mg = model_gardens_records(tmp, ours["label_list"])
  return tmp, ours, mg


def model_flags(tmp, out):
  return ["--bert_config_file=%s" % (tmp / "bert_config.json"),
          "--output_dir=%s" % out]


@pytest.fixture(scope="module")
def trained(converted):
  """run_ner.py trains on this project's records and evaluates and
  predicts on them; copies of its output directory are then evaluated on
  the CoNLL files and on Model Garden's records side by side."""
  tmp, _, _ = converted
  out = tmp / "out"
  proc = bert_testing.run_script("run_ner.py", model_flags(tmp, out) + [
      "--input_meta_data_path=%s" % (tmp / "ours" / "meta_data"),
      "--train_data_path=%s" % (tmp / "ours" / "train.tf_record"),
      "--eval_data_path=%s" % (tmp / "ours" / "dev.tf_record"),
      "--predict_data_path=%s" % (tmp / "ours" / "test.tf_record"),
      "--do_train", "--do_eval", "--do_predict", "--seed=1",
      "--train_batch_size=%d" % BATCH, "--num_train_epochs=%d" % EPOCHS,
      "--learning_rate=3e-3", "--save_checkpoints_steps=1000"])
  assert proc.returncode == 0, proc.stderr[-4000:]
  raw_out, mg_out = tmp / "raw_eval", tmp / "mg_eval"
  shutil.copytree(str(out), str(raw_out))
  shutil.copytree(str(out), str(mg_out))
  runs = {
      "raw": bert_testing.start_script("run_ner.py", model_flags(
          tmp, raw_out) + [
              "--data_dir=%s" % (tmp / "data"),
              "--vocab_file=%s" % (tmp / "vocab.txt"),
              "--max_seq_length=%d" % SEQ, "--doc_stride=%d" % STRIDE,
              "--do_eval", "--do_predict"],
          fresh=True),  # Its own hash seed, not that of the run it matches.
      "mg": bert_testing.start_script("run_ner.py", model_flags(
          tmp, mg_out) + [
              "--input_meta_data_path=%s" % (tmp / "mg" / "meta_data"),
              "--eval_data_path=%s" % (tmp / "mg" / "dev.tf_record"),
              "--do_eval"]),
  }
  logs = {"ours": proc.stderr}
  for name, run in runs.items():
    _, logs[name] = run.communicate(timeout=600)
    assert run.returncode == 0, (name, logs[name][-4000:])
  return out, raw_out, mg_out, logs


def test_trains_on_the_records_for_the_meta_datas_windows(converted, trained):
  _, ours, _ = converted
  out, _, _, logs = trained
  steps = int(ours["train_data_size"] / BATCH * EPOCHS)
  # The long training sentences are split into overlapping windows.
  assert ours["train_data_size"] > len(SPLITS["train"])
  assert (out / ("model.ckpt-%d.index" % steps)).exists()
  assert not (out / "train.tf_record").exists()  # Nothing converted.
  task = json.loads((out / "task.json").read_text())
  assert task["labels"] == ours["label_list"]
  assert task["max_seq_length"] == SEQ and task["doc_stride"] == STRIDE
  assert "Num windows = %d (records of --train_data_path=" % (
      ours["train_data_size"]) in logs["ours"]


def test_eval_results_of_records_are_those_of_the_conll_files(trained):
  out, raw_out, mg_out, _ = trained
  ours = bert_testing.read_eval_results(out / "eval_results.txt")
  raw = bert_testing.read_eval_results(raw_out / "eval_results.txt")
  garden = bert_testing.read_eval_results(mg_out / "eval_results.txt")
  assert set(ours) == set(raw) == set(garden)
  assert {"eval_f1", "eval_precision", "eval_recall", "eval_accuracy",
          "eval_loss", "eval_PER_f1", "eval_LOC_f1"} <= set(raw)
  for key in raw:
    assert ours[key] == pytest.approx(raw[key], abs=1e-5), key
    assert garden[key] == pytest.approx(raw[key], abs=1e-5), key
  # A model that learnt something: the comparison is not of zeros.
  assert raw["eval_accuracy"] > 0.6


def test_predicted_tags_of_records_are_those_of_the_conll_files(trained):
  out, raw_out, _, logs = trained
  lines = (out / "test_predicted_tags.txt").read_text().splitlines()
  raw = [[row.split()[-1] for row in block.splitlines()]
         for block in (raw_out / "test_predictions.txt").read_text().split(
             "\n\n") if block.strip()]
  assert [line.split() for line in lines] == raw
  assert [len(line.split()) for line in lines] == [
      len(words) for words, _ in SPLITS["test"]]
  assert "test_predicted_tags.txt" in logs["ours"]


def test_model_gardens_records_train(converted, tmp_path):
  tmp, _, mg = converted
  out = tmp_path / "out"
  proc = bert_testing.run_script("run_ner.py", model_flags(tmp, out) + [
      "--input_meta_data_path=%s" % (tmp / "mg" / "meta_data"),
      "--train_data_path=%s" % (tmp / "mg" / "train.tf_record"),
      "--do_train", "--train_batch_size=%d" % BATCH,
      "--num_train_epochs=%d" % EPOCHS])
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert (out / ("model.ckpt-%d.index" % int(
      mg["train_data_size"] / BATCH * EPOCHS))).exists()


def test_model_gardens_labels_are_masked_as_ours(converted):
  """The input function reads both layouts to the same label ids and mask
  (the dev sentences fit one window: the same windows in both)."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  tmp, _, _ = converted
  batches = {}
  for name in ("ours", "mg"):
    input_fn = ner_data.file_based_input_fn_builder(
        str(tmp / name / "dev.tf_record"), SEQ, is_training=False,
        drop_remainder=False, labels_from_ids=True)
    with tf.Graph().as_default():
      features = tf.data.make_one_shot_iterator(
          input_fn({"batch_size": 64})).get_next()
      with tf.Session() as sess:
        batches[name] = sess.run(features)
  for key in ("input_ids", "input_mask", "label_ids", "label_mask",
              "is_real_example"):
    np.testing.assert_array_equal(batches["ours"][key], batches["mg"][key],
                                  err_msg=key)
  assert batches["mg"]["label_ids"].min() == 0
  assert batches["mg"]["label_mask"].sum() == sum(
      len(w) for w, _ in SPLITS["dev"])


def test_record_sentences_follow_the_max_context_windows(converted):
  """Read back, this project's records give each word once, from the window
  run_ner predicts it from; Model Garden's give the same tags."""
  tmp, ours, mg = converted
  labels = ours["label_list"]
  for name, meta in (("ours", ours), ("mg", mg)):
    split = finetuning_data.record_split(
        str(tmp / name / "train.tf_record"), "train_data_path", meta,
        "train_data_size")
    sentences = ner_data.read_record_sentences(split, labels, STRIDE)
    assert [s.labels for s in sentences] == [t for _, t in SPLITS["train"]]
  # The windows' own map, as run_ner builds it from the raw sentences.
  examples = [ner_data.InputExample(str(i), w, t)
              for i, (w, t) in enumerate(SPLITS["train"])]
  tokenizer = tokenization.FullTokenizer(str(tmp / "vocab.txt"), True)
  features = ner_data.convert_examples_to_features(examples, labels, SEQ,
                                                   tokenizer, STRIDE)
  expected = {(f.example_index, word): (index, position)
              for index, f in enumerate(features)
              for position, word in f.token_to_word.items()
              if f.token_is_max_context[position]}
  split = finetuning_data.record_split(
      str(tmp / "ours" / "train.tf_record"), "train_data_path", ours,
      "train_data_size")
  sentences = ner_data.read_record_sentences(split, labels, STRIDE)
  assert {(i, word): slot for i, slots in enumerate(sentences.slots)
          for word, slot in enumerate(slots)} == expected


def test_mismatches_are_one_line_errors(converted, tmp_path):
  tmp, ours, _ = converted
  meta = tmp / "ours" / "meta_data"
  labels = ours["label_list"]
  squad_meta = tmp_path / "squad_meta_data"
  squad_meta.write_text(json.dumps({"task_type": "bert_squad",
                                    "max_seq_length": SEQ}))
  other_vocab = bert_testing.write_tokens(
      tmp_path / "other_vocab.txt", bert_testing.SPECIAL_TOKENS + ["x"])
  common = model_flags(tmp, tmp_path / "out") + [
      "--train_data_path=%s" % (tmp / "ours" / "train.tf_record"),
      "--do_train"]
  cases = {
      "the records are of max_seq_length 16, but --max_seq_length=32": [
          "--input_meta_data_path=%s" % meta, "--max_seq_length=32"],
      "the records have %d labels (%s), --labels 2 (O,B-PER)" % (
          len(labels), ",".join(labels)): [
              "--input_meta_data_path=%s" % meta, "--labels=O,B-PER"],
      "holds task_type 'bert_squad' records; run_ner.py trains on "
      "'tagging'": ["--input_meta_data_path=%s" % squad_meta],
      "another vocabulary than --vocab_file=%s" % other_vocab: [
          "--input_meta_data_path=%s" % meta,
          "--vocab_file=%s" % other_vocab],
      "the records were made with doc_stride=6, but --doc_stride=8": [
          "--input_meta_data_path=%s" % meta, "--doc_stride=8"],
  }
  runs = {message: bert_testing.start_script("run_ner.py", common + args)
          for message, args in cases.items()}
  for message, run in runs.items():
    _, err = run.communicate(timeout=300)
    assert run.returncode == 1, (message, err[-2000:])
    last = err.strip().splitlines()[-1]
    assert last.startswith("run_ner.py: error: --input_meta_data_path="), last
    assert message in last, last


def test_readme_tagging_records_commands_run_as_pasted(tmp_path):
  """The README's "Coming from Model Garden" tagging block, as pasted, on
  the project's data/ner (BERT_BASE_DIR: a tiny stand-in model)."""
  (block,) = [b for b in bert_testing.readme_blocks(
      "## Coming from Model Garden", "sh")
              if "--fine_tuning_task_type=tagging" in b]
  data = os.path.join(bert_testing.ROOT, "data", "ner")
  sentences = {}
  for split in ("train", "dev", "test"):
    sentences[split] = [[line.split()[0] for line in chunk.splitlines()]
                        for chunk in open(os.path.join(
                            data, "%s.txt" % split),
                                          encoding="utf-8").read().split(
                                              "\n\n")
                        if chunk.strip() and
                        not chunk.strip().startswith("-DOCSTART-")]
  base = tmp_path / "base"
  base.mkdir()
  vocab = bert_testing.write_vocab(str(base / "vocab.txt"), [
      " ".join(words) for split in sentences.values() for words in split])
  bert_testing.write_config(str(base / "bert_config.json"), len(vocab))
  bert_testing.write_stand_in_checkpoint(str(base / "bert_model.ckpt"),
                                         str(base / "bert_config.json"))
  model_dir = tmp_path / "model"
  proc = bert_testing.run_readme_block(block, tmp_path, env={
      "BERT_BASE_DIR": str(base), "MODEL_DIR": str(model_dir)})
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = bert_testing.read_eval_results(model_dir / "eval_results.txt")
  assert "f1" in " ".join(results), results
  tags = (model_dir / "test_predicted_tags.txt").read_text().splitlines()
  assert len(tags) == len(sentences["test"])
  assert [len(line.split()) for line in tags] == [
      len(words) for words in sentences["test"]]
