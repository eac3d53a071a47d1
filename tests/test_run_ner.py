"""run_ner: CoNLL reading, labels, bad input, word pieces and windows.

Training runs are in test_e2e_ner.py; here the data side is checked
in-process, with the settings checks and the model_fn's training branch, and
the one-line errors of the command in a subprocess.
"""


import glob

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import modeling
import run_ner
import script_flags
import tokenization

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda "
         "mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega").split()


def write(path, text):
  path.write_text(text, encoding="utf-8")
  return str(path)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("vocab") / "vocab.txt")
  # Whole words for the first half of WORDS; the others split into pieces.
  bert_testing.write_vocab(path, [" ".join(WORDS)], max_words=0)
  with open(path, "a", encoding="utf-8") as f:
    f.write("\n".join(WORDS[:12]) + "\n")
  return tokenization.FullTokenizer(path, do_lower_case=True)


def test_read_conll_columns_docstart_and_sentences(tmp_path):
  path = write(tmp_path / "train.txt",
               "-DOCSTART- -X- -X- O\n\n"
               "Ann NNP B-NP B-PER\nsaw VBD B-VP O\n\n\n"
               "Rome NNP B-NP B-LOC\n"
               "-DOCSTART- -X- -X- O\n"
               "Bob NNP B-NP B-PER")    # No blank line at the end.
  examples = run_ner.read_conll(path)
  assert [e.words for e in examples] == [["Ann", "saw"], ["Rome"], ["Bob"]]
  assert [e.labels for e in examples] == [["B-PER", "O"], ["B-LOC"],
                                          ["B-PER"]]
  assert examples[0].where(1) == "%s:4" % path
  assert examples[2].where(0) == "%s:9" % path
  # --label_column counts from 0 (the token), as run_classifier's; 1 is
  # the part-of-speech column, -3 the same from the end.
  for column in (1, -3):
    pos = run_ner.read_conll(path, label_column=column)
    assert pos[0].labels == ["NNP", "VBD"], column
  with pytest.raises(ValueError) as error:
    run_ner.read_conll(path, label_column=0)
  assert str(error.value).startswith("--label_column=0 is the token column")
  assert run_ner.ConllProcessor.get_labels(examples) == ["O", "B-LOC",
                                                         "B-PER"]


@pytest.mark.parametrize("text,label_column,message", [
    ("Ann B-PER\nsaw\n", -1,
     ":2: expected at least 2 columns (the token first, the tag in "
     "--label_column=-1), found 1: 'saw'"),
    ("Ann NNP B-PER\nsaw VBD\n", 2,
     ":2: expected at least 3 columns (the token first, the tag in "
     "--label_column=2), found 2: 'saw VBD'"),
    ("Ann B-PER\n\tO\n", -1, ":2: empty token"),
    ("\n\n-DOCSTART- O\n\n", -1, "has no sentences"),
    ("", -1, "has no sentences"),
])
def test_read_conll_bad_input(tmp_path, text, label_column, message):
  path = write(tmp_path / "train.txt", text)
  with pytest.raises(ValueError) as error:
    run_ner.read_conll(path, label_column)
  assert message in str(error.value)
  assert str(error.value).startswith(path)


def test_read_conll_non_utf8_names_line_and_column(tmp_path):
  path = tmp_path / "train.txt"
  path.write_bytes(b"Ann B-PER\nJos\xe9 I-PER\n")
  with pytest.raises(ValueError, match=r"train.txt:2: not valid UTF-8 "
                     r"\(byte 0xe9 at column 4\)\.$"):
    run_ner.read_conll(str(path))


def test_missing_file_names_the_flag(tmp_path):
  with pytest.raises(ValueError, match="dev.txt does not exist .*--dev_file"):
    run_ner.ConllProcessor().get_dev_examples(str(tmp_path))


def test_labels_and_tags_checked_with_file_and_line(tmp_path):
  train = run_ner.read_conll(write(tmp_path / "train.txt",
                                   "Ann B-PER\nsaw O\n\nRome B-LOC\n"))
  dev = run_ner.read_conll(write(tmp_path / "dev.txt",
                                 "Bob B-PER\n\nAcme B-ORG\n"))
  labels = run_ner.resolve_labels(train, None, str(tmp_path))
  assert labels == ["O", "B-LOC", "B-PER"]
  with pytest.raises(ValueError) as error:
    run_ner.check_labels(dev, labels, "the model is trained on")
  assert str(error.value) == (
      "%s:3: label 'B-ORG' is not among the labels the model is trained on "
      "(O, B-LOC, B-PER)." % (tmp_path / "dev.txt"))
  with pytest.raises(ValueError, match=r"train.txt:4: label 'B-LOC' is not "
                     r"among the labels of --labels \(O, B-PER\)"):
    run_ner.resolve_labels(train, ["O", "B-PER"], str(tmp_path))
  bad = run_ner.read_conll(write(tmp_path / "bad.txt", "Ann I-\nsaw O\n"))
  with pytest.raises(ValueError, match=r"bad.txt:1: tag 'I-' is not valid in "
                     r"IOB2: expected O or B-/I- followed by a type"):
    run_ner.check_tags(bad, "IOB2")
  run_ner.check_tags(train, "IOB2")  # Valid: no error.


def test_label_list_written_and_read_back(tmp_path):
  run_ner.write_label_list(str(tmp_path), ["O", "B-PER", "I-PER"])
  assert (tmp_path / "label_list.txt").read_text() == "O\nB-PER\nI-PER\n"
  assert run_ner.resolve_labels(None, None, str(tmp_path)) == [
      "O", "B-PER", "I-PER"]
  with pytest.raises(ValueError, match="differs from the labels the model"):
    run_ner.resolve_labels(None, ["O", "B-PER"], str(tmp_path))
  with pytest.raises(ValueError, match="without --do_train"):
    run_ner.read_label_list(str(tmp_path / "nothing"))


def example_of(words, labels):
  return run_ner.InputExample("t-0", words, labels, "x.txt",
                              list(range(1, len(words) + 1)))


def test_first_piece_carries_the_label(tokenizer):
  words = ["alpha", "omicron", "beta", "upsilon"]  # 2nd and 4th split.
  labels = ["B-PER", "I-PER", "O", "B-LOC"]
  label_list = ["O", "B-LOC", "B-PER", "I-PER"]
  label_map = {l: i for i, l in enumerate(label_list)}
  (feature,) = run_ner.convert_single_example(
      0, example_of(words, labels), label_map, 32, tokenizer, 8)
  pieces = [tokenizer.tokenize(w) for w in words]
  assert len(pieces[1]) > 1 and len(pieces[3]) > 1
  tokens = ["[CLS]"] + sum(pieces, []) + ["[SEP]"]
  n = len(tokens)
  assert feature.input_ids[:n] == tokenizer.convert_tokens_to_ids(tokens)
  assert feature.input_ids[n:] == [0] * (32 - n)
  assert feature.input_mask == [1] * n + [0] * (32 - n)
  firsts = np.cumsum([1] + [len(p) for p in pieces[:-1]]).tolist()
  assert [i for i, m in enumerate(feature.label_mask) if m] == firsts
  assert [feature.label_ids[i] for i in firsts] == [label_map[l]
                                                    for l in labels]
  assert sum(feature.label_ids) == sum(label_map[l] for l in labels)
  assert feature.token_to_word == dict(zip(firsts, range(4)))
  assert all(feature.token_is_max_context.values())


def brute_force_best_window(features, piece_position_in_window):
  """The window where a piece has the most context: the larger
  min(left, right) in the window, then the longer window, then the first."""
  best = None
  for index, position in piece_position_in_window.items():
    length = sum(features[index].input_mask) - 2
    left = position - 1
    right = length - position
    key = (min(left, right), length, -index)
    if best is None or key > best[0]:
      best = (key, index)
  return best[1]


def test_long_sentence_every_word_predicted_once_from_max_context(tokenizer):
  words = [WORDS[(i * 7) % len(WORDS)] for i in range(40)]
  labels = ["B-PER" if i % 5 == 0 else "O" for i in range(40)]
  example = example_of(words, labels)
  max_seq_length, doc_stride = 16, 5
  features = run_ner.convert_single_example(
      0, example, {"O": 0, "B-PER": 1}, max_seq_length, tokenizer, doc_stride)
  num_pieces = sum(len(tokenizer.tokenize(w)) for w in words)
  assert num_pieces > 2 * (max_seq_length - 2)  # Several windows.
  assert len(features) >= 4
  # Where each word's first piece is, in each window that holds it.
  first_piece = np.cumsum([0] + [len(tokenizer.tokenize(w))
                                 for w in words[:-1]])
  starts = [0]
  for f in features[:-1]:
    starts.append(starts[-1] + doc_stride)
  for word, piece in enumerate(first_piece):
    holders = {}
    for index, (f, start) in enumerate(zip(features, starts)):
      length = sum(f.input_mask) - 2
      if start <= piece < start + length:
        holders[index] = piece - start + 1
        assert f.token_to_word[piece - start + 1] == word
    chosen = [i for i, p in holders.items()
              if features[i].token_is_max_context[p]]
    assert chosen == [brute_force_best_window(features, holders)], word

  # The probabilities of each word come from that window alone: give each
  # window's positions values that say which window and position they are.
  predictions = []
  for index, f in enumerate(features):
    probs = np.zeros([max_seq_length, 2], np.float32)
    probs[:, 0] = index * 100 + np.arange(max_seq_length)
    predictions.append({"probabilities": probs})
  (word_probs,) = run_ner.word_probabilities([example], features, predictions)
  for word in range(len(words)):
    index, position = divmod(int(word_probs[word, 0]), 100)
    assert features[index].token_to_word[position] == word
    assert features[index].token_is_max_context[position]


def test_word_probabilities_refuses_a_word_predicted_twice(tokenizer):
  example = example_of(["alpha", "beta"], ["O", "O"])
  (feature,) = run_ner.convert_single_example(0, example, {"O": 0}, 8,
                                              tokenizer, 2)
  prediction = {"probabilities": np.ones([8, 1], np.float32)}
  with pytest.raises(ValueError, match="predicted twice"):
    run_ner.word_probabilities([example], [feature, feature],
                               [prediction, prediction])
  with pytest.raises(ValueError, match="Expected 1 predictions, got 0"):
    run_ner.word_probabilities([example], [feature], [])


def test_predictions_file_is_conll_layout(tmp_path):
  examples = [example_of(["Ann", "saw"], ["B-PER", "O"]),
              example_of(["Rome"], ["B-LOC"])]
  label_list = ["O", "B-PER", "B-LOC"]
  probabilities = [np.array([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]]),
                   np.array([[0.5, 0.1, 0.4]])]
  evaluation, predicted, loss = run_ner.evaluate_predictions(
      examples, probabilities, label_list, "IOB2")
  assert predicted == [["B-PER", "O"], ["O"]]
  assert loss == pytest.approx(-(np.log(0.8) + np.log(0.7) + np.log(0.4)) / 3)
  assert evaluation.metrics()["eval_recall"] == 0.5
  path = str(tmp_path / "test_predictions.txt")
  run_ner.write_predictions(examples, predicted, path)
  with open(path) as f:
    assert f.read() == "Ann B-PER B-PER\nsaw O O\n\nRome B-LOC O\n\n"


def small_task(tmp_path, train, dev):
  data = tmp_path / "data"
  data.mkdir()
  write(data / "train.txt", train)
  write(data / "dev.txt", dev)
  bert_testing.write_vocab(str(tmp_path / "vocab.txt"), [train + dev])
  bert_testing.write_config(str(tmp_path / "bert_config.json"), 100)
  return [
      "--do_train", "--do_eval", "--data_dir=%s" % data,
      "--vocab_file=%s" % (tmp_path / "vocab.txt"),
      "--bert_config_file=%s" % (tmp_path / "bert_config.json"),
      "--output_dir=%s" % (tmp_path / "out"), "--max_seq_length=16"]


@pytest.mark.parametrize("train,dev,message", [
    ("Ann B-PER\nsaw O\n", "Bob B-ORG\n",
     "dev.txt:1: label 'B-ORG' is not among the labels the model is trained "
     "on (O, B-PER)."),
    ("Ann B-PER\nsaw O\n\nRome I-\n", "Bob B-PER\n",
     "train.txt:4: tag 'I-' is not valid in IOB2: expected O or B-/I- "
     "followed by a type (e.g. B-PER) (--tag_scheme=IOB2, detected from the "
     "gold tags)."),
])
def test_command_rejects_bad_input_before_training(tmp_path, train, dev,
                                                   message):
  proc = bert_testing.run_script("run_ner.py", small_task(tmp_path, train,
                                                          dev))
  assert proc.returncode == 1
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("run_ner.py: error: ") and last.endswith(message)
  assert str(tmp_path / "data") in last
  assert not (tmp_path / "out" / "train.tf_record").exists()
  assert not (tmp_path / "out" / "checkpoint").exists()


def test_a_word_without_pieces_still_gets_a_label(tokenizer):
  # U+200B (zero width space) is dropped by the tokenizer's cleaning.
  example = example_of(["alpha", "\u200b", "beta"], ["O", "B-PER", "O"])
  (feature,) = run_ner.convert_single_example(
      0, example, {"O": 0, "B-PER": 1}, 8, tokenizer, 2)
  assert tokenizer.tokenize("\u200b") == []
  assert feature.input_ids[2] == tokenizer.vocab["[UNK]"]
  assert feature.label_ids[:5] == [0, 0, 1, 0, 0]
  assert feature.token_to_word == {1: 0, 2: 1, 3: 2}


def test_columns_split_at_spaces_and_tabs_only(tmp_path):
  path = write(tmp_path / "train.txt",
               "Ann\tB-PER\r\nNew\u00a0York  B-LOC\r\nsaw\u2028it O\n")
  (example,) = run_ner.read_conll(path)
  assert example.words == ["Ann", "New\u00a0York", "saw\u2028it"]
  assert example.labels == ["B-PER", "B-LOC", "O"]
  assert example.where(2) == "%s:3" % path


def ner_settings(**values):
  """run_ner's settings: the group defaults and its own flags' values."""
  own = {"data_dir": None, "train_file": None, "dev_file": None,
         "test_file": None, "label_column": -1, "labels": None,
         "tag_scheme": None, "doc_stride": 64}
  own.update(values)
  return script_flags.Settings(**own)


@pytest.mark.parametrize("values,message", [
    ({}, "At least one of --do_train, --do_eval, --do_predict, --export_dir"),
    ({"do_eval": True, "doc_stride": 0}, "--doc_stride=0 must be at least 1"),
    ({"do_eval": True, "label_column": 1}, "--label_column=1: columns count"),
    ({"do_eval": True, "max_seq_length": 600}, "max_position_embeddings"),
])
def test_validate_flags_reads_the_settings(values, message):
  config = modeling.BertConfig(vocab_size=10, max_position_embeddings=512)
  with pytest.raises(ValueError, match=message):
    run_ner.validate_flags(ner_settings(**values), config)
  run_ner.validate_flags(ner_settings(do_eval=True, allow_untrained_model=True),
                         config)
  with pytest.raises(ValueError, match="--do_eval without --do_train reads"):
    run_ner.validate_flags(ner_settings(do_eval=True), config)


def test_model_fn_trains_through_runtime_train_spec(monkeypatch):
  """The TRAIN branch is runtime.train_spec, given the run's settings."""
  ids = [[1, 2, 3, 0], [4, 5, 0, 0]]
  features = {"input_ids": ids, "input_mask": [[1, 1, 1, 0], [1, 1, 0, 0]],
              "segment_ids": [[0] * 4] * 2,
              "label_ids": [[0, 1, 2, 0], [0, 2, 0, 0]],
              "label_mask": [[0, 1, 1, 0], [0, 1, 0, 0]],
              "is_real_example": [1, 1]}
  bert_testing.check_trains_through_train_spec(
      monkeypatch, lambda config, settings: run_ner.model_fn_builder(
          config, 3, None, 1e-3, 10, 1, False, False, settings=settings),
      ner_settings(optimizer="lamb"), features)


def test_tensorboard_has_loss_and_the_dev_evaluation(tmp_path):
  train = "Ann B-PER\nsaw O\nRome B-LOC\n\nBob B-PER\nran O\n\n" * 4
  args = small_task(tmp_path, train, "Ann B-PER\nsaw O\n")
  proc = bert_testing.run_script("run_ner.py", args + [
      "--train_batch_size=2", "--num_train_epochs=1",
      "--save_summary_steps=1"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = tmp_path / "out"

  def tags(directory):
    found = {}
    for path in glob.glob(str(directory / "events.out.tfevents.*")):
      for event in tf.train.summary_iterator(path):
        for value in event.summary.value:
          found.setdefault(value.tag, []).append(event.step)
    return found

  training = tags(out)
  assert "loss" in training and "loss_1" not in training
  results = dict(line.split(" = ", 1) for line in
                 (out / "eval_results.txt").read_text().splitlines())
  evaluation = tags(out / "eval")
  for name in ("eval_f1", "eval_loss", "eval_precision"):
    assert evaluation[name] == [int(results["global_step"])], name
