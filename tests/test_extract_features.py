"""Tests of extract_features.py: reading, features, and the JSON it writes.

The end-to-end test saves a tiny random model (2 layers, hidden 32), runs the
script on it in a subprocess and checks the values against the model's own
outputs computed here for the same checkpoint.
"""

import json

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import extract_features
import modeling
import tokenization

LINES = [
    "The cat sat on the mat.",
    "Who was Jim Henson ? ||| Jim Henson was a puppeteer",
    "",
    "A dog ran far away from the old town market.",
]
SEQ_LENGTH = 16


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
  return bert_testing.tokenizer_for(tmp_path_factory.mktemp("vocab"), LINES)


# --- reading and features -----------------------------------------------------


def test_read_examples_splits_pairs_and_keeps_every_line(tmp_path):
  path = tmp_path / "input.txt"
  path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
  examples = extract_features.read_examples(str(path))
  assert [(e.unique_id, e.text_a, e.text_b) for e in examples] == [
      (0, "The cat sat on the mat.", None),
      (1, "Who was Jim Henson ?", "Jim Henson was a puppeteer"),
      (2, "", None),
      (3, "A dog ran far away from the old town market.", None),
  ]


def test_pairs_get_segment_ids_zero_then_one(tokenizer):
  examples = [extract_features.InputExample(7, "the cat sat", "a dog ran")]
  (feature,) = extract_features.convert_examples_to_features(
      examples, SEQ_LENGTH, tokenizer)
  assert feature.unique_id == 7
  assert feature.tokens == ["[CLS]", "the", "cat", "sat", "[SEP]", "a", "dog",
                            "ran", "[SEP]"]
  assert feature.input_type_ids == [0] * 5 + [1] * 4 + [0] * 7
  assert feature.input_mask == [1] * 9 + [0] * 7
  assert feature.input_ids[:9] == tokenizer.convert_tokens_to_ids(
      feature.tokens)
  assert feature.input_ids[9:] == [0] * 7


def test_single_sentences_are_truncated_to_fit(tokenizer):
  text = "the cat sat on the mat " * 5
  (feature,) = extract_features.convert_examples_to_features(
      [extract_features.InputExample(0, text, None)], 8, tokenizer)
  assert feature.tokens == ["[CLS]", "the", "cat", "sat", "on", "the", "mat",
                            "[SEP]"]
  assert feature.input_type_ids == [0] * 8
  assert len(feature.input_ids) == len(feature.input_mask) == 8


def test_truncate_seq_pair_shortens_the_longer_first():
  a, b = list("abcdefg"), list("xyz")
  truncate = extract_features._truncate_seq_pair  # pylint: disable=protected-access
  truncate(a, b, 6)
  assert (a, b) == (list("abc"), list("xyz"))
  a, b = list("ab"), list("xyz")
  truncate(a, b, 3)
  # On a tie the second sequence gives way.
  assert (a, b) == (list("ab"), list("x"))


def test_layer_indexes_are_checked_against_the_model():
  assert extract_features.parse_layer_indexes("-1,-2,0", 2) == [-1, -2, 0]
  with pytest.raises(ValueError, match=r"has 2 layers.*\[-2, 1\]"):
    extract_features.parse_layer_indexes("-1,-2,-3,-4", 2)
  with pytest.raises(ValueError, match="comma-separated integers"):
    extract_features.parse_layer_indexes("last", 2)


# --- the script ---------------------------------------------------------------


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
  """A random tiny model, its outputs computed here, and the script's run."""
  tmp = tmp_path_factory.mktemp("extract")
  vocab_file = str(tmp / "vocab.txt")
  vocab = bert_testing.write_vocab(vocab_file, LINES)
  config_file = bert_testing.write_config(
      str(tmp / "bert_config.json"), len(vocab), max_position_embeddings=32)
  input_file = tmp / "input.txt"
  input_file.write_text("\n".join(LINES) + "\n", encoding="utf-8")
  tok = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  features = extract_features.convert_examples_to_features(
      extract_features.read_examples(str(input_file)), SEQ_LENGTH, tok)

  config = modeling.BertConfig.from_json_file(config_file)
  checkpoint = str(tmp / "model.ckpt")
  with tf.Graph().as_default():
    tf.set_random_seed(5)
    input_ids = tf.placeholder(tf.int32, [None, SEQ_LENGTH])
    input_mask = tf.placeholder(tf.int32, [None, SEQ_LENGTH])
    type_ids = tf.placeholder(tf.int32, [None, SEQ_LENGTH])
    model = modeling.BertModel(config, False, input_ids, input_mask, type_ids)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver().save(sess, checkpoint)
      layers = sess.run(model.get_all_encoder_layers(), {
          input_ids: [f.input_ids for f in features],
          input_mask: [f.input_mask for f in features],
          type_ids: [f.input_type_ids for f in features]})

  output_file = tmp / "output.jsonl"
  result = bert_testing.run_script("extract_features.py", [
      "--input_file=%s" % input_file, "--output_file=%s" % output_file,
      "--vocab_file=%s" % vocab_file, "--bert_config_file=%s" % config_file,
      "--init_checkpoint=%s" % checkpoint, "--layers=-1,-2",
      "--max_seq_length=%d" % SEQ_LENGTH, "--batch_size=3"])
  assert result.returncode == 0, result.stderr[-3000:]
  with open(output_file, encoding="utf-8") as f:
    lines = [json.loads(line) for line in f]
  return {"features": features, "layers": layers, "lines": lines,
          "dir": tmp, "hidden": config.hidden_size}


def test_output_has_the_original_json_layout(extracted):
  lines = extracted["lines"]
  assert [line["linex_index"] for line in lines] == list(range(len(LINES)))
  for line, feature in zip(lines, extracted["features"]):
    assert list(line) == ["linex_index", "features"]
    assert [f["token"] for f in line["features"]] == feature.tokens
    for token in line["features"]:
      assert list(token) == ["token", "layers"]
      assert [layer["index"] for layer in token["layers"]] == [-1, -2]
      for layer in token["layers"]:
        assert list(layer) == ["index", "values"]
        assert len(layer["values"]) == extracted["hidden"]
        assert all(round(v, 6) == v for v in layer["values"])
  # The empty line is just [CLS] [SEP]; the pair has both [SEP]s.
  assert [f["token"] for f in lines[2]["features"]] == ["[CLS]", "[SEP]"]
  pair_tokens = [f["token"] for f in lines[1]["features"]]
  assert pair_tokens.count("[SEP]") == 2 and "henson" in pair_tokens


def test_values_equal_the_model_outputs(extracted):
  (last, second_last) = (extracted["layers"][-1], extracted["layers"][-2])
  for i, line in enumerate(extracted["lines"]):
    for position, token in enumerate(line["features"]):
      by_index = {layer["index"]: layer["values"] for layer in token["layers"]}
      np.testing.assert_allclose(by_index[-1], last[i, position], atol=1e-5)
      np.testing.assert_allclose(by_index[-2], second_last[i, position],
                                 atol=1e-5)


def test_no_temporary_file_is_left(extracted):
  names = sorted(p.name for p in extracted["dir"].iterdir())
  assert not [n for n in names if ".tmp-" in n], names


def test_bad_layers_fail_before_writing(extracted, tmp_path):
  tmp = extracted["dir"]
  output_file = tmp_path / "out.jsonl"
  result = bert_testing.run_script("extract_features.py", [
      "--input_file=%s" % (tmp / "input.txt"),
      "--output_file=%s" % output_file,
      "--vocab_file=%s" % (tmp / "vocab.txt"),
      "--bert_config_file=%s" % (tmp / "bert_config.json"),
      "--init_checkpoint=%s" % (tmp / "model.ckpt")])  # Default -1..-4.
  assert result.returncode != 0
  assert "--layers=-1,-2,-3,-4: the model has 2 layers" in result.stderr
  assert not output_file.exists()


@pytest.mark.parametrize("checkpoint,message", [
    ("missing", "--init_checkpoint=%s is not a readable checkpoint"),
    # 5 embedding, 16 per layer (2 layers), 2 pooler variables.
    ("foreign", "--init_checkpoint=%s lacks 39 of the 39 variables of the "
     "model of --bert_config_file: bert/embeddings/LayerNorm/beta"),
])
def test_a_checkpoint_without_the_encoder_is_refused(extracted, tmp_path,
                                                     checkpoint, message):
  """Features of a checkpoint that does not hold the model would be those
  of random weights: refused, naming the file, leaving nothing behind."""
  tmp = extracted["dir"]
  path = str(tmp_path / "model.ckpt")
  if checkpoint == "foreign":
    with tf.Graph().as_default():
      tf.get_variable("something/else", [3])
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        tf.train.Saver().save(sess, path)
  scratch = tmp_path / "scratch"
  scratch.mkdir()
  output_file = tmp_path / "out.jsonl"
  result = bert_testing.run_script("extract_features.py", [
      "--input_file=%s" % (tmp / "input.txt"),
      "--output_file=%s" % output_file,
      "--vocab_file=%s" % (tmp / "vocab.txt"),
      "--bert_config_file=%s" % (tmp / "bert_config.json"),
      "--init_checkpoint=%s" % path, "--layers=-1",
      "--max_seq_length=%d" % SEQ_LENGTH], env={"TMPDIR": str(scratch)})
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("extract_features.py: error: " + message % path), (
      last)
  assert not output_file.exists()
  assert not list(scratch.iterdir())  # No Estimator model folder left.


def test_the_estimator_folder_is_removed_after_a_run(extracted, tmp_path):
  tmp = extracted["dir"]
  scratch = tmp_path / "scratch"
  scratch.mkdir()
  result = bert_testing.run_script("extract_features.py", [
      "--input_file=%s" % (tmp / "input.txt"),
      "--output_file=%s" % (tmp_path / "out.jsonl"),
      "--vocab_file=%s" % (tmp / "vocab.txt"),
      "--bert_config_file=%s" % (tmp / "bert_config.json"),
      "--init_checkpoint=%s" % (tmp / "model.ckpt"), "--layers=-1",
      "--max_seq_length=%d" % SEQ_LENGTH], env={"TMPDIR": str(scratch)})
  assert result.returncode == 0, result.stderr[-3000:]
  assert (tmp_path / "out.jsonl").exists()
  assert not list(scratch.iterdir())
