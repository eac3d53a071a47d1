"""End-to-end: run_classifier.py on records converted once.

Model Garden's workflow as its README gives it, from the README's section
"Coming from Model Garden" as pasted: create_finetuning_data.py converts
MRPC pairs, run_classifier.py trains and evaluates on the records with
`--input_meta_data_path`, then `--mode=predict` writes test_results.tsv
from the `--eval_data_path` records. Records written by Model Garden's own
converter (tf-models-official) train exactly as the raw files do, and a
mismatch between records and flags is a one-line error before any work.
"""

import os

import numpy as np
import pytest

import bert_testing
from command_line import UserError
import finetuning_data
import run_classifier
import script_flags

SECTION = "## Coming from Model Garden"
NUM_TRAIN, NUM_TEST = 24, 12


@pytest.fixture(scope="module")
def glue(tmp_path_factory):
  """$GLUE_DIR/MRPC (a slice of the shared MSR files), a stand-in
  $BERT_BASE_DIR, and the environment of the README's placeholders."""
  tmp = tmp_path_factory.mktemp("records")
  texts = bert_testing.write_mrpc_slice(str(tmp / "glue" / "MRPC"),
                                        NUM_TRAIN, NUM_TEST)
  base = tmp / "bert_base"
  base.mkdir()
  vocab = bert_testing.write_vocab(str(base / "vocab.txt"), texts)
  config = bert_testing.write_config(str(base / "bert_config.json"),
                                     len(vocab))
  bert_testing.write_stand_in_checkpoint(str(base / "bert_model.ckpt"),
                                         config)
  env = {"GLUE_DIR": str(tmp / "glue"), "BERT_BASE_DIR": str(base),
         "MODEL_DIR": str(tmp / "model")}
  return tmp, env


def mrpc_labels(glue_dir, name):
  with open(os.path.join(glue_dir, "MRPC", name), encoding="utf-8") as f:
    return [int(line.split("\t")[0]) for line in f.read().splitlines()[1:]]


@pytest.fixture(scope="module")
def readme_run(glue):
  """The section's create_finetuning_data.py and run_classifier.py blocks,
  as pasted."""
  tmp, env = glue
  blocks = [b for b in bert_testing.readme_blocks(SECTION, "sh")
            if ("create_finetuning_data.py" in b and
                "--classification_task_name" in b) or
            ("run_classifier.py" in b and "--input_meta_data_path" in b)]
  assert len(blocks) == 2
  logs = []
  for block in blocks:
    proc = bert_testing.run_readme_block(block, tmp, env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    logs.append(proc.stderr)
  return tmp, env, logs


def test_model_garden_readme_commands_train_evaluate_and_predict(readme_run):
  tmp, env, (_, log) = readme_run
  model_dir = tmp / "model"
  # 24 pairs, batches of 4, 3 epochs.
  assert (model_dir / "model.ckpt-18.index").exists()
  results = bert_testing.read_eval_results(model_dir / "eval_results.txt")
  assert {"eval_accuracy", "eval_f1", "eval_loss"} <= set(results)
  assert "Converted data: %s/finetuning/MRPC_meta_data" % tmp in log
  # A healthy run under --distribution_strategy=mirrored warns of nothing.
  assert "WARNING" not in log and "Warning" not in log, log[-3000:]
  # The records are read as they are: nothing converted into the model dir.
  assert not list(model_dir.glob("*.tf_record"))
  rows = (model_dir / "test_results.tsv").read_text().splitlines()
  assert len(rows) == NUM_TEST
  probabilities = np.array([r.split("\t") for r in rows], dtype=np.float64)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
  # The predictions of the last checkpoint score what its evaluation said.
  gold = mrpc_labels(env["GLUE_DIR"], "msr_paraphrase_test.txt")
  accuracy = np.mean(np.argmax(probabilities, axis=1) == gold)
  assert accuracy == pytest.approx(results["eval_accuracy"], abs=1e-6)
  predictions = (model_dir / "test_predictions.tsv").read_text().splitlines()
  assert predictions[0] == "guid\tprediction\tprob_0\tprob_1"
  assert predictions[1].startswith("test-0\t")


def write_model_garden_records(tmp, glue_dir, vocab_file, seq):
  """MRPC's train and dev rows as Model Garden's own converter writes them,
  and its meta data keys (no label_list, vocabulary or casing)."""
  cdl = bert_testing.model_garden("official.nlp.data.classifier_data_lib")
  tokenization = bert_testing.model_garden("official.nlp.tools.tokenization")
  tokenizer = tokenization.FullTokenizer(vocab_file, True)
  out = tmp / "mg"
  out.mkdir()
  sizes = {}
  for split, name in (("train", "msr_paraphrase_train.txt"),
                      ("eval", "msr_paraphrase_test.txt")):
    with open(os.path.join(glue_dir, "MRPC", name), encoding="utf-8") as f:
      rows = [l.split("\t") for l in f.read().splitlines()[1:]]
    examples = [cdl.InputExample("%s-%d" % (split, i), r[3], r[4], r[0])
                for i, r in enumerate(rows)]
    cdl.file_based_convert_examples_to_features(
        examples, ["0", "1"], seq, tokenizer,
        str(out / ("%s.tf_record" % split)))
    sizes["%s_data_size" % split] = len(examples)
  finetuning_data.write_meta_data(str(out / "meta_data"), dict(
      task_type="bert_classification", processor_type="MRPC", num_labels=2,
      max_seq_length=seq, **sizes))
  return out


def test_model_garden_records_train_as_the_raw_files_do(glue):
  tmp, env = glue
  base = env["BERT_BASE_DIR"]
  records = write_model_garden_records(
      tmp, env["GLUE_DIR"], os.path.join(base, "vocab.txt"), 48)
  common = ["--do_train", "--do_eval", "--seed=3", "--train_batch_size=8",
            "--num_train_epochs=2", "--learning_rate=1e-3",
            "--bert_config_file=%s/bert_config.json" % base,
            "--init_checkpoint=%s/bert_model.ckpt" % base]
  raw = bert_testing.start_script("run_classifier.py", common + [
      "--task_name=MRPC", "--data_dir=%s/MRPC" % env["GLUE_DIR"],
      "--vocab_file=%s/vocab.txt" % base, "--max_seq_length=48",
      "--output_dir=%s" % (tmp / "raw")],
      fresh=True)  # Its own hash seed, not that of the run it matches.
  from_records = bert_testing.run_script("run_classifier.py", common + [
      "--input_meta_data_path=%s" % (records / "meta_data"),
      "--train_data_path=%s" % (records / "train.tf_record"),
      "--eval_data_path=%s" % (records / "eval.tf_record"),
      "--output_dir=%s" % (tmp / "mg_model")])
  _, raw_log = raw.communicate(timeout=600)
  assert raw.returncode == 0, raw_log[-4000:]
  assert from_records.returncode == 0, from_records.stderr[-4000:]
  ours = bert_testing.read_eval_results(tmp / "raw" / "eval_results.txt")
  theirs = bert_testing.read_eval_results(
      tmp / "mg_model" / "eval_results.txt")
  # MRPC's metrics from processor_type, the same numbers from either data.
  assert "eval_f1" in theirs and sorted(ours) == sorted(theirs)
  for name, value in ours.items():
    assert theirs[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
  assert (tmp / "mg_model" / "model.ckpt-6.index").exists()  # 24/8 x 2.


def settings_for(records, **changes):
  values = dict(
      input_meta_data_path=str(records / "MRPC_meta_data"),
      train_data_path=str(records / "MRPC_train.tf_record"),
      eval_data_path=str(records / "MRPC_eval.tf_record"),
      predict_data_path=None,
      do_train=True, do_eval=True, do_predict=False, max_seq_length=None,
      task_name=None, vocab_file=None, do_lower_case=True, multi_label=False,
      doc_stride=None, eval_every_n_steps=0, processor_module=None,
      export_dir=None)
  values.update(changes)
  return script_flags.Settings(**values)


@pytest.fixture(scope="module")
def our_records(readme_run):
  return readme_run[0] / "finetuning"


def test_records_settings_come_from_the_meta_data(our_records):
  settings, processor = run_classifier.processor_of(
      settings_for(our_records, do_eval=False, do_predict=True), None)
  assert settings.max_seq_length == 128  # The records', not given.
  assert processor.get_labels() == ["0", "1"]
  assert processor.metrics == ("f1",)  # processor_type MRPC.
  assert len(processor.get_train_examples(None)) == NUM_TRAIN
  # Model Garden's --mode=predict reads the --eval_data_path records.
  assert processor.get_test_examples(None).files == [
      str(our_records / "MRPC_eval.tf_record")]


@pytest.mark.parametrize("changes, message", [
    (dict(max_seq_length=64), "max_seq_length 128, but --max_seq_length=64"),
    (dict(task_name="MNLI"), "the records have 2 labels"),
    (dict(multi_label=True), "--multi_label cannot be used with "
     "--input_meta_data_path"),
    (dict(export_dir="/tmp/x"), "--export_dir with --input_meta_data_path "
     "needs --vocab_file"),
    (dict(train_data_path=None), "this run trains, so it needs "
     "--train_data_path"),
    (dict(input_meta_data_path=None, task_name="MRPC"),
     "--train_data_path=.* needs --input_meta_data_path"),
    (dict(input_meta_data_path=None, train_data_path=None,
          eval_data_path=None), "--task_name is required"),
])
def test_records_that_disagree_with_the_run_are_refused(our_records, changes,
                                                         message):
  settings = settings_for(our_records, **changes)
  task = (run_classifier.get_processor(settings.task_name)
          if settings.task_name else None)
  with pytest.raises(UserError, match=message):
    run_classifier.processor_of(settings, None, task)
