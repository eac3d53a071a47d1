"""predictor.py and predict.py: a SavedModel loaded once, new text in.

* The README's "Predict on your own sentences" commands run exactly as
  written (paths moved to a temporary directory) on a tiny model trained
  the quick start's way (SST-2 layout, data/quickstart, seq 64):
  test_predictions.tsv agrees with test_results.tsv, and predict.py's JSON
  lines with both; the README's Python serving snippet, which reads the
  sequence length from the model, prints the same probabilities.
* `Predictor` truncates as training does: a long sentence gives what
  serving_default gives on run_classifier.convert_single_example's ids.
* A tiny SQuAD model: the predictor's answers and n-best equal
  run_squad.py's predictions.json and nbest_predictions.json.
* predict.py's bad input: one-line errors naming file:line, exit status 1,
  no output file; empty lines skipped with a warning.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import bert_testing
import predictor
import run_classifier
import tokenization

ROOT = bert_testing.ROOT
QUICKSTART_OUT = "/tmp/bert_quickstart"
SENTENCES_DIR = "/tmp/my_sentences"


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
  """Runs the README's two blocks on a quick-start-shaped model."""
  tmp = tmp_path_factory.mktemp("readme")
  out = str(tmp / "bert_quickstart")
  # A tiny model from random weights needs ~10 epochs to leave the prior
  # (at 1-3 it answers ~0.5 for every sentence; 10: dev accuracy 0.80).
  proc = bert_testing.quickstart_shaped_model(out, epochs=10)
  assert proc.returncode == 0, proc.stderr[-3000:]
  blocks = bert_testing.readme_blocks("## Predict on your own sentences", "sh")
  assert len(blocks) == 2
  results = []
  for block in blocks:
    assert QUICKSTART_OUT in block and SENTENCES_DIR in block
    proc = bert_testing.run_readme_block(block, tmp)
    log = tmp / "my_sentences" / "log.txt"
    assert proc.returncode == 0, (proc.stderr + (
        log.read_text()[-3000:] if log.exists() else ""))
    results.append(proc.stdout)
  return out, results


def test_readme_do_predict_writes_labelled_predictions(readme_run):
  out, (do_predict_stdout, _) = readme_run
  with open(os.path.join(out, "sentiment", "test_predictions.tsv")) as f:
    rows = [line.split("\t") for line in f.read().splitlines()]
  assert do_predict_stdout.splitlines() == ["\t".join(r) for r in rows]
  assert rows[0] == ["guid", "prediction", "prob_0", "prob_1"]
  assert [r[0] for r in rows[1:]] == ["test-0", "test-1"]
  probabilities = np.array([[float(x) for x in r[2:]] for r in rows[1:]])
  original = np.loadtxt(os.path.join(out, "sentiment", "test_results.tsv"),
                        ndmin=2)
  np.testing.assert_allclose(probabilities, original, atol=1e-7)
  assert [r[1] for r in rows[1:]] == [str(i) for i in
                                      original.argmax(axis=1)]


def predict_py_lines(readme_run):
  _, (_, predict_stdout) = readme_run
  return [json.loads(line) for line in predict_stdout.splitlines()]


def test_readme_predict_py_agrees_with_do_predict(readme_run):
  out, _ = readme_run
  lines = predict_py_lines(readme_run)
  original = np.loadtxt(os.path.join(out, "sentiment", "test_results.tsv"),
                        ndmin=2)
  assert len(lines) == 2
  for line, row in zip(lines, original):
    assert sorted(line) == ["label", "probabilities"]
    assert line["label"] == str(int(np.argmax(row)))
    got = [line["probabilities"][label] for label in ("0", "1")]
    np.testing.assert_allclose(got, row, atol=1e-5)
  # The two sentences get outputs that differ by far more than the 1e-5
  # compared above, so mixed-up inputs would show.
  assert abs(original[0, 0] - original[1, 0]) > 1e-4


def only_export(out):
  return bert_testing.only_export(os.path.join(out, "serving"))


def test_readme_serving_snippet_reads_the_sequence_length(readme_run):
  out, _ = readme_run
  (snippet,) = bert_testing.readme_blocks("## Serving: `--export_dir` (SavedModel)",
                             "python")
  assert "/tmp/mrpc_serving/" in snippet
  code = snippet.replace("/tmp/mrpc_serving/", os.path.join(out, "serving")
                         + "/")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, cwd=ROOT, timeout=300,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  printed = eval(proc.stdout.strip().splitlines()[-1])  # pylint: disable=eval-used
  # The snippet's sentence is the first of the README's predict.py input.
  want = predict_py_lines(readme_run)[0]["probabilities"]
  assert sorted(printed) == ["0", "1"]
  for label in printed:
    assert abs(printed[label] - want[label]) < 1e-5


def test_predictor_truncates_long_inputs_as_training(readme_run):
  out, _ = readme_run
  model = predictor.Predictor(only_export(out), batch_size=2)
  assert model.max_seq_length == 64 and model.labels == ["0", "1"]
  long_text = " ".join(["a warm , funny and moving film ."] * 12)
  inputs = [long_text, ("tedious , with no plot .", "a warm film ."),
            {"text_a": "moving", "text_b": "funny"}]
  results = model.predict(inputs)
  assert model.num_truncated == 1
  # The same inputs through run_classifier's own conversion.
  tokenizer = tokenization.FullTokenizer(
      os.path.join(out, "minilm", "vocab.txt"), True)
  features = [run_classifier.convert_single_example(
      10, run_classifier.InputExample("x", a, b, "0"), ["0", "1"], 64,
      tokenizer) for a, b in [(long_text, None),
                              ("tedious , with no plot .", "a warm film ."),
                              ("moving", "funny")]]
  assert sum(features[0].input_mask) == 64
  expected = model.run(*[np.array([getattr(f, k) for f in features])
                         for k in ("input_ids", "input_mask",
                                   "segment_ids")])["probabilities"]
  for result, row in zip(results, expected):
    np.testing.assert_allclose(
        [result["probabilities"][l] for l in ("0", "1")], row, atol=1e-6)
  with pytest.raises(ValueError, match=r"input 1: expected a text"):
    model.predict(["fine", 3])
  model.close()


def test_predictor_keeps_never_split_tokens_whole_as_training(tmp_path):
  """A model trained with --never_split=XYZ records it in its export's
  metadata, and the predictor tokenises with it: "XYZ" stays one piece and
  the probabilities are those of --do_predict (issue 23, bug 3: the old
  export did not record it, so the predictor split "xyz" into pieces)."""
  task = tmp_path / "task"
  task.mkdir()
  rows = ["the XYZ sat,pos", "the dog ran,neg", "a XYZ ran,pos",
          "a dog sat,neg"] * 2
  (task / "train.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
  texts = ["the XYZ ran", "a dog sat XYZ"]
  (task / "test.csv").write_text("text\n" + "\n".join(texts) + "\n")
  vocab = bert_testing.write_vocab(str(task / "vocab.txt"),
                                   [r.split(",")[0] for r in rows])
  with open(str(task / "vocab.txt"), "a") as f:
    f.write("XYZ\n")  # The cased token, kept whole; x, ##y, ##z are there.
  bert_testing.write_config(str(task / "bert_config.json"), len(vocab) + 1)
  out, export_dir = tmp_path / "out", tmp_path / "export"
  proc = bert_testing.run_script("run_classifier.py", [
      "--task_name=file", "--data_dir=%s" % task, "--do_train",
      "--do_predict", "--never_split=XYZ", "--export_dir=%s" % export_dir,
      "--vocab_file=%s" % (task / "vocab.txt"),
      "--bert_config_file=%s" % (task / "bert_config.json"),
      "--output_dir=%s" % out, "--max_seq_length=8", "--seed=1",
      "--train_batch_size=4", "--num_train_epochs=1"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  model = predictor.Predictor(bert_testing.only_export(str(export_dir)))
  try:
    assert model.metadata["never_split"] == ["XYZ"]
    assert model.metadata["preserve_unused_tokens"] is False
    assert model.tokenizer.tokenize("the XYZ ran") == ["the", "XYZ", "ran"]
    results = model.predict(texts)
  finally:
    model.close()
  expected = np.loadtxt(str(out / "test_results.tsv"))
  got = [[r["probabilities"][l] for l in ("neg", "pos")] for r in results]
  np.testing.assert_allclose(got, expected, atol=1e-5)


def run_predict(args, stdin=None):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "predict.py")] + args,
      input=stdin, capture_output=True, cwd=ROOT, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def assert_one_line_error(proc, *fragments):
  stderr = proc.stderr.decode("utf-8")
  assert proc.returncode == 1, stderr[-2000:]
  last = stderr.strip().splitlines()[-1]
  assert last.startswith("predict.py: error: "), last
  for fragment in fragments:
    assert fragment in last, last
  assert "Traceback" not in stderr


def test_predict_py_skips_empty_lines_and_writes_in_order(readme_run,
                                                          tmp_path):
  out, _ = readme_run
  source = tmp_path / "in.txt"
  source.write_text("a warm , funny and moving film .\n\n   \n"
                    '{"text_a": "tedious , with no plot to speak of .", "id": "q7"}\n')
  target = tmp_path / "out.jsonl"
  proc = run_predict(["--saved_model_dir=%s" % only_export(out),
                      "--input_file=%s" % source,
                      "--output_file=%s" % target])
  assert proc.returncode == 0, proc.stderr.decode()[-2000:]
  assert "skipped 2 empty line(s): 2, 3" in proc.stderr.decode()
  # Success is reported as information, not as a warning.
  assert "predict.py: wrote 2 predictions to %s" % target in (
      proc.stderr.decode())
  assert "WARNING:tensorflow:wrote" not in proc.stderr.decode()
  lines = [json.loads(l) for l in target.read_text().splitlines()]
  readme_lines = predict_py_lines(readme_run)
  assert [l.get("id") for l in lines] == [None, "q7"]
  for line, want in zip(lines, readme_lines):
    assert line["label"] == want["label"]
    for label, p in want["probabilities"].items():
      assert abs(line["probabilities"][label] - p) < 1e-5
  assert sorted(os.listdir(str(tmp_path))) == ["in.txt", "out.jsonl"]


@pytest.mark.parametrize("content,fragments", [
    (b"fine\none\ttwo\tthree\n",
     [":2: expected text_a or text_a<TAB>text_b, found 3 tab-separated"]),
    (b"fine\nbad \xff byte\n", [":2: not valid UTF-8"]),
    (b'{"text_b": "no text_a"}\n', [':1: expected "text_a"']),
], ids=["too_many_fields", "not_utf8", "json_without_text_a"])
def test_predict_py_bad_lines(readme_run, tmp_path, content, fragments):
  out, _ = readme_run
  source = tmp_path / "in.txt"
  source.write_bytes(content)
  target = tmp_path / "out.jsonl"
  target.write_text("old\n")
  proc = run_predict(["--saved_model_dir=%s" % only_export(out),
                      "--input_file=%s" % source,
                      "--output_file=%s" % target])
  assert_one_line_error(proc, str(source), *fragments)
  assert target.read_text() == "old\n"  # Untouched; no temporary left.
  assert sorted(os.listdir(str(tmp_path))) == ["in.txt", "out.jsonl"]


def test_predict_py_names_missing_assets(readme_run, tmp_path):
  out, _ = readme_run
  copy = tmp_path / "model"
  shutil.copytree(only_export(out), str(copy))
  os.remove(str(copy / "assets" / "bert_export.json"))
  proc = run_predict(["--saved_model_dir=%s" % copy,
                      "--output_file=%s" % (tmp_path / "o.jsonl")],
                     stdin=b"fine\n")
  assert_one_line_error(proc, "lacks assets/bert_export.json",
                        "--export_dir=DIR and no --do_* flag")
  proc = run_predict(["--saved_model_dir=%s" % out], stdin=b"fine\n")
  assert_one_line_error(proc, "is not a SavedModel directory")
  assert not (tmp_path / "o.jsonl").exists()


@pytest.fixture(scope="module")
def squad_run(tmp_path_factory):
  """A tiny SQuAD model with --do_predict and --export_dir."""
  import test_export  # pylint: disable=g-import-not-at-top
  tmp = str(tmp_path_factory.mktemp("squad_predictor"))
  squad_file = os.path.join(tmp, "squad.json")
  test_export.write_squad(squad_file)
  texts = [c for c, _ in test_export.PARAGRAPHS] + [
      q for _, qs in test_export.PARAGRAPHS for q, _ in qs]
  vocab = bert_testing.write_vocab(os.path.join(tmp, "vocab.txt"), texts)
  config = bert_testing.write_config(os.path.join(tmp, "bert_config.json"),
                                     len(vocab))
  out = os.path.join(tmp, "out")
  proc = bert_testing.run_script("run_squad.py", [
      "--do_train", "--do_predict", "--train_file=%s" % squad_file,
      "--predict_file=%s" % squad_file,
      "--vocab_file=%s" % os.path.join(tmp, "vocab.txt"),
      "--bert_config_file=%s" % config, "--output_dir=%s" % out,
      "--export_dir=%s" % os.path.join(tmp, "export"),
      "--max_seq_length=32", "--doc_stride=8", "--max_query_length=8",
      "--train_batch_size=4", "--learning_rate=1e-3", "--num_train_epochs=2",
      "--n_best_size=5", "--seed=3"], timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return out, bert_testing.only_export(os.path.join(tmp, "export")), (
      test_export.PARAGRAPHS)


def test_squad_predictor_answers_as_run_squad(squad_run):
  out, saved_model, paragraphs = squad_run
  with open(os.path.join(out, "predictions.json")) as f:
    predictions = json.load(f)
  with open(os.path.join(out, "nbest_predictions.json")) as f:
    nbest = json.load(f)
  model = predictor.Predictor(saved_model, batch_size=3)
  assert model.metadata["doc_stride"] == 8
  inputs = [{"question": q, "context": c} for c, qs in paragraphs
            for q, _ in qs]
  ids = ["p%d-q%d" % (p, q) for p, (_, qs) in enumerate(paragraphs)
         for q in range(len(qs))]
  results = model.predict(inputs)
  assert len(results) == len(ids) == 6
  for qid, result in zip(ids, results):
    assert result["answer"] == predictions[qid]
    assert [e["text"] for e in result["nbest"]] == [
        e["text"] for e in nbest[qid]]
    for got, want in zip(result["nbest"], nbest[qid]):
      assert abs(got["probability"] - want["probability"]) < 1e-4
    assert result["score"] == result["nbest"][0]["probability"]
  # Answers are spans of their contexts, not placeholders.
  assert all(r["answer"] in i["context"] for r, i in zip(results, inputs))


def test_predict_py_squad_line_without_context(squad_run, tmp_path):
  _, saved_model, _ = squad_run
  proc = run_predict(["--saved_model_dir=%s" % saved_model,
                      "--output_file=%s" % (tmp_path / "o.jsonl")],
                     stdin=b'{"question": "Who?"}\n')
  assert_one_line_error(proc, "<stdin>:1:", '"context"')
  proc = run_predict(["--saved_model_dir=%s" % saved_model,
                      "--output_file=%s" % (tmp_path / "o.jsonl")],
                     stdin=b"Who built it?\n")
  assert_one_line_error(proc, "<stdin>:1:", "needs a context")
  assert not (tmp_path / "o.jsonl").exists()
