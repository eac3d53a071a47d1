"""The README's shell blocks: run as pasted, or saying what they need.

* data/squad, the SQuAD-format sample of our own: every `answer_start`
  points at its answer, the 2.0 files add unanswerable questions with
  plausible answers, and the files are what make_data.py writes.
* The run_squad.py section's sample blocks (1.1 training, squad_evaluate,
  the answers one-liner; 2.0 training and squad_evaluate) and the NER block
  run as pasted on a tiny stand-in for the quick start's converted MiniLM
  (`<tmp>/bert_quickstart/minilm/{vocab.txt,bert_config.json,
  bert_model.ckpt}`); every /tmp/ path is moved under the test's own
  directory, so a user's /tmp/bert_quickstart is never touched.
* Every ```sh block is either run by a test or names something the quick
  start does not make (an official checkpoint, SQuAD, elided flags, ...),
  which its section's text then explains.
"""

import json
import os
import re
import subprocess
import sys

import pytest

import bert_testing

ROOT = bert_testing.ROOT
SQUAD = os.path.join(ROOT, "data", "squad")
SQUAD_HEADING = "## run_squad.py: SQuAD 1.1 and 2.0"
NER_HEADING = "## Named entities: `run_ner.py`"


def load_squad(name):
  with open(os.path.join(SQUAD, name), encoding="utf-8") as f:
    return json.load(f)


def questions(dataset):
  return [(p["context"], q) for a in dataset["data"]
          for p in a["paragraphs"] for q in p["qas"]]


@pytest.mark.parametrize("name", ["train-v1.1.json", "dev-v1.1.json",
                                  "train-v2.0.json", "dev-v2.0.json"])
def test_squad_sample_answer_starts_point_at_their_text(name):
  qas = questions(load_squad(name))
  assert qas
  for context, qa in qas:
    spans = qa["answers"] + qa.get("plausible_answers", [])
    assert spans, qa["id"]
    for span in spans:
      start = span["answer_start"]
      assert context[start:start + len(span["text"])] == span["text"], (
          qa["id"], span)
    if qa.get("is_impossible"):
      assert qa["answers"] == [] and qa["plausible_answers"], qa["id"]
    elif name.startswith("train"):
      assert len(qa["answers"]) == 1, qa["id"]


def test_squad_sample_2_0_adds_unanswerable_questions_to_1_1():
  for split in ("train", "dev"):
    v1 = {q["id"]: q for _, q in questions(load_squad(split + "-v1.1.json"))}
    v2 = {q["id"]: q for _, q in questions(load_squad(split + "-v2.0.json"))}
    impossible = [i for i, q in v2.items() if q["is_impossible"]]
    assert impossible and set(v2) - set(impossible) == set(v1)
    for qid, qa in v1.items():
      assert v2[qid]["answers"] == qa["answers"]
  ids = [q["id"] for n in ("train-v2.0.json", "dev-v2.0.json")
         for _, q in questions(load_squad(n))]
  assert len(ids) == len(set(ids)) == 62


def test_quickstart_data_is_make_data_output_balanced_without_examples(
    tmp_path):
  quickstart = os.path.join(ROOT, "data", "quickstart")
  proc = subprocess.run([sys.executable, os.path.join(quickstart,
                                                      "make_data.py"),
                         str(tmp_path)], capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr
  sentences = []
  for name, count in (("train.tsv", 1200), ("dev.tsv", 200),
                      ("test.tsv", 100)):
    with open(os.path.join(quickstart, name), encoding="utf-8") as f:
      text = f.read()
    assert (tmp_path / name).read_text(encoding="utf-8") == text, name
    rows = [line.split("\t") for line in text.splitlines()[1:]]
    assert len(rows) == count, name
    if name != "test.tsv":
      labels = [label for _, label in rows]
      assert labels.count("1") == labels.count("0") == count // 2, name
      sentences += [sentence for sentence, _ in rows]
    else:
      sentences += [sentence for _, sentence in rows]
  assert len(set(sentences)) == len(sentences) == 1500
  # The README's examples are what the quick-start model is checked on.
  assert not {"a warm , funny and moving film .",
              "tedious , with no plot to speak of ."} & set(sentences)


def test_squad_sample_files_are_make_data_output(tmp_path):
  proc = subprocess.run([sys.executable, os.path.join(SQUAD, "make_data.py"),
                         str(tmp_path)], capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr
  for name in sorted(os.listdir(str(tmp_path))):
    with open(os.path.join(SQUAD, name), encoding="utf-8") as f:
      assert (tmp_path / name).read_text(encoding="utf-8") == f.read(), name
  assert len(os.listdir(str(tmp_path))) == 4


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
  """<tmp>/bert_quickstart/minilm as quickstart.sh lays it out, tiny."""
  tmp = tmp_path_factory.mktemp("readme_commands")
  minilm = tmp / "bert_quickstart" / "minilm"
  os.makedirs(str(minilm))
  texts = [c + " " + q["question"] for n in ("train-v2.0.json",
                                             "dev-v2.0.json")
           for c, q in questions(load_squad(n))]
  for name in ("train.txt", "dev.txt", "test.txt"):
    with open(os.path.join(ROOT, "data", "ner", name)) as f:
      texts.append(" ".join(l.split(" ")[0] for l in f.read().splitlines()))
  vocab = bert_testing.write_vocab(str(minilm / "vocab.txt"), texts)
  config = bert_testing.write_config(str(minilm / "bert_config.json"),
                                     len(vocab), max_position_embeddings=256)
  bert_testing.write_stand_in_checkpoint(str(minilm / "bert_model.ckpt"),
                                         config)
  return tmp


def run_blocks(blocks, tmp):
  outputs = []
  for block in blocks:
    proc = bert_testing.run_readme_block(block, tmp)
    logs = "".join(open(str(p)).read()[-3000:] for p in tmp.glob("*.log"))
    assert proc.returncode == 0, proc.stderr[-3000:] + logs
    outputs.append(proc.stdout)
  return outputs


def test_readme_squad_sample_blocks_run_as_pasted(stand_in):
  blocks = [b for b in bert_testing.readme_blocks(SQUAD_HEADING, "sh")
            if "$BERT_BASE_DIR" not in b]
  assert len(blocks) == 3
  v1_out, _, evaluate_out = run_blocks(blocks, stand_in)
  lines = v1_out.splitlines()
  metrics = json.loads(lines[0])
  assert sorted(metrics) == ["exact_match", "f1"]
  with open(str(stand_in / "squad_sample" / "predictions.json")) as f:
    predictions = json.load(f)
  dev = questions(load_squad("dev-v1.1.json"))
  assert sorted(predictions) == sorted(q["id"] for _, q in dev)
  # The one-liner prints every dev question with run_squad's answer.
  assert lines[1:] == ["%s -> %s" % (q["question"], predictions[q["id"]])
                       for _, q in dev]
  for context, qa in dev:
    assert predictions[qa["id"]] in context
  with open(str(stand_in / "squad2_sample" / "predictions.json")) as f:
    predictions_2 = json.load(f)
  with open(str(stand_in / "squad2_sample" / "null_odds.json")) as f:
    null_odds = json.load(f)
  dev_2 = [q["id"] for _, q in questions(load_squad("dev-v2.0.json"))]
  assert sorted(predictions_2) == sorted(null_odds) == sorted(dev_2)
  evaluation = json.loads(evaluate_out)
  assert evaluation["total"] == 18 and evaluation["NoAns_total"] == 4
  assert evaluation["HasAns_total"] == 14


def test_readme_ner_block_runs_as_pasted(stand_in):
  (block,) = bert_testing.readme_blocks(NER_HEADING, "sh")
  assert "$MODEL_DIR" not in block
  (report,) = run_blocks([block], stand_in)
  assert "processed 1519 tokens" in report
  results = bert_testing.read_eval_results(
      stand_in / "ner_output" / "eval_results.txt")
  assert 0.0 <= results["eval_f1"] <= 1.0
  with open(str(stand_in / "ner_output" / "test_predictions.txt")) as f:
    rows = [l.split() for l in f.read().splitlines() if l.strip()]
  assert len(rows) == 1519 and all(len(r) == 3 for r in rows)


# Blocks run by tests (section heading, a fragment of the block): the
# Predict blocks by test_predictor.py, quickstart.sh by its own test, the
# test command by CI itself.
RUN_BY_TESTS = [
    ("## Set up, run, test", "bash quickstart.sh"),
    ("## Set up, run, test", "python -m pytest -n 2 --dist loadfile tests"),
    ("## Predict on your own sentences", "--do_predict"),
    ("## Predict on your own sentences", "predict.py"),
    (SQUAD_HEADING, "data/squad/train-v1.1.json"),
    (SQUAD_HEADING, "data/squad/train-v2.0.json"),
    (SQUAD_HEADING, "squad_evaluate.py data/squad"),
    (NER_HEADING, "run_ner.py"),
    ("## Serving: `--export_dir` (SavedModel)", "--export_format=onnx"),
    # By test_e2e_classifier_records.py, with the placeholders set.
    ("## Coming from Model Garden", "create_finetuning_data.py"),
    ("## Coming from Model Garden", "--input_meta_data_path"),
]

# Blocks that run as pasted but are too heavy for the suite (minutes of a
# BERT-base model or of the real MRPC files each).
RUN_UNTESTED = [("## Benchmarks", "python benchmarks/")]

# What a block may need that the quick start does not make, and the words
# its section's text (outside the blocks) must use to say so.
PLACEHOLDERS = [
    ("$BERT_BASE_DIR", "`$BERT_BASE_DIR`"),
    ("$SQUAD_DIR", "`$SQUAD_DIR`"),
    ("$MODEL_DIR", "`$MODEL_DIR`"),
    ("$GLUE_DIR", "`$GLUE_DIR`"),
    ("/path/to/", "/path/to/"),
    ("../shared/data", "../shared/data"),
    (" ...", "`...`"),
    ("/tmp/bert_quickstart/serving", "Predict on your own sentences"),
]


def readme_sections():
  with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    text = f.read()
  return re.split(r"\n(?=## )", text)


def test_every_block_runs_or_says_what_it_needs():
  unexplained = []
  run = set()
  for section in readme_sections():
    heading = section.splitlines()[0]
    prose = re.sub(r"```.*?```", "", section, flags=re.S)
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
      tested = [(h, f) for h, f in RUN_BY_TESTS + RUN_UNTESTED
                if h == heading and f in block]
      run.update(tested)
      needs = [(p, e) for p, e in PLACEHOLDERS if p in block]
      if not tested and not needs:
        unexplained.append("%s: runs untested: %s" % (heading, block[:60]))
      for placeholder, explanation in needs:
        if explanation not in prose:
          unexplained.append("%s: %s not explained in the text (%s)" %
                             (heading, placeholder, block[:60]))
  assert not unexplained, "\n".join(unexplained)
  assert run == set(RUN_BY_TESTS + RUN_UNTESTED)
