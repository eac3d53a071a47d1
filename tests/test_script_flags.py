"""Tests of script_flags: each script has the flags that mean something to it,
and its --help lists them."""

import json
import subprocess
import sys

from absl import flags
import pytest

from conftest import ROOT
import script_flags

FLAGS = flags.FLAGS

TPU = {"use_tpu", "tpu_name", "tpu_zone", "gcp_project", "master",
       "num_tpu_cores", "iterations_per_loop", "tpu_job_name"}
TRAINING = {"do_train", "train_batch_size", "learning_rate",
            "save_checkpoints_steps", "optimizer", "num_accumulation_steps",
            "seed", "log_every_n_steps", "learning_rate_decay",
            "adam_bias_correction", "save_summary_steps",
            "keep_checkpoint_max", "overwrite_output_dir",
            "resume_with_changed_settings"}
EVAL_DURING_TRAINING = {"eval_every_n_steps", "best_checkpoint_metric",
                        "best_checkpoint_mode", "early_stopping_patience",
                        "early_stopping_min_delta"}
SPECIAL_TOKENS = {"never_split", "preserve_unused_tokens"}
PERFORMANCE = {"precision", "bf16_implementation", "use_xla",
               "distribution_strategy", "num_gpus", "use_horovod"}


def key_flags(module):
  """The flags `module`'s --help lists, in a process that imports it alone,
  as a user runs it (in one process with other scripts, a flag that two
  scripts define belongs to one of them)."""
  code = ("import json, %s\nfrom absl import flags\nprint(json.dumps(sorted("
          "f.name for f in flags.FLAGS.get_key_flags_for_module(%r))))" %
          (module, module))
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_each_script_lists_exactly_its_flags():
  assert key_flags("run_classifier") == (
      TPU | TRAINING | EVAL_DURING_TRAINING | PERFORMANCE | SPECIAL_TOKENS) | {
      "bert_config_file", "init_checkpoint", "max_seq_length", "output_dir",
      "vocab_file", "do_lower_case", "num_train_epochs", "warmup_proportion",
      "export_dir", "data_dir", "task_name", "do_eval", "do_predict",
      "eval_batch_size", "predict_batch_size", "allow_untrained_model",
      "processor_module",
      # The file task (--task_name=file) and long documents.
      "input_format", "train_file", "dev_file", "test_file", "text_a_column",
      "text_b_column", "label_column", "id_column", "has_header", "labels",
      "skip_bad_rows", "multi_label", "label_separator",
      "multi_label_threshold", "class_weights", "doc_stride",
      "window_aggregation", "bucket_by_length", "hub_module_url"}
  assert key_flags("run_ner") == (
      TPU | TRAINING | EVAL_DURING_TRAINING | PERFORMANCE | SPECIAL_TOKENS) | {
      "bert_config_file", "init_checkpoint", "max_seq_length", "output_dir",
      "vocab_file", "do_lower_case", "num_train_epochs", "warmup_proportion",
      "export_dir", "data_dir", "do_eval", "do_predict", "eval_batch_size",
      "predict_batch_size", "allow_untrained_model", "train_file",
      "dev_file", "test_file", "label_column", "labels", "doc_stride",
      "tag_scheme", "hub_module_url"}
  assert key_flags("run_pretraining") == TPU | TRAINING | (
      EVAL_DURING_TRAINING) | PERFORMANCE | {
      "bert_config_file", "init_checkpoint", "max_seq_length", "output_dir",
      "input_file", "max_predictions_per_seq", "do_eval", "eval_batch_size",
      "num_train_steps", "num_warmup_steps", "max_eval_steps"}
  assert key_flags("extract_features") == TPU | SPECIAL_TOKENS | {
      "bert_config_file", "init_checkpoint", "max_seq_length", "vocab_file",
      "do_lower_case", "input_file", "output_file", "layers", "batch_size",
      "use_one_hot_embeddings", "hub_module_url"}
  hub = key_flags("run_classifier_with_tfhub")
  # The model, its vocabulary and casing come from the module.
  assert not hub & {"bert_config_file", "init_checkpoint", "vocab_file",
                    "do_lower_case"}
  assert {"bert_hub_module_handle", "data_dir", "task_name",
          "export_dir", "bucket_by_length"} | SPECIAL_TOKENS <= hub
  assert key_flags("export_tfhub") == {
      "bert_config_file", "init_checkpoint", "vocab_file", "do_lower_case",
      "export_dir"}
  squad = key_flags("run_squad")
  assert TPU | TRAINING | EVAL_DURING_TRAINING | PERFORMANCE | (
      SPECIAL_TOKENS) <= squad
  assert "hub_module_url" in squad
  assert "export_dir" in squad and EVAL_DURING_TRAINING <= hub
  assert SPECIAL_TOKENS <= key_flags("create_pretraining_data")
  assert "bucket_by_length" in squad  # For training (README).
  assert not squad & {"do_eval", "data_dir", "task_name"}


def test_a_group_a_script_did_not_define_reads_as_its_default():
  defaults = script_flags.group_defaults()
  assert defaults["precision"] == "fp32"
  assert defaults["num_accumulation_steps"] == 1
  assert defaults["use_horovod"] is False
  # Settings of a process whose script defined no group at all
  # (extract_features has no --precision): the runtime reads the defaults.
  settings = script_flags.from_flags(flags.FlagValues())
  assert settings.precision == "fp32"
  assert settings.use_tpu is False
  assert settings.train_batch_size == 32


def test_settings_are_frozen_values_read_once_from_the_flags():
  flag_values = flags.FlagValues()
  flags.DEFINE_integer("train_batch_size", 32, "", flag_values=flag_values)
  flags.DEFINE_string("task_name", None, "", flag_values=flag_values)
  flag_values(["prog", "--train_batch_size=4", "--task_name=mrpc"])
  settings = script_flags.from_flags(flag_values)
  assert (settings.train_batch_size, settings.task_name) == (4, "mrpc")
  assert settings.learning_rate == 5e-5  # A group it did not define.
  flag_values["train_batch_size"].value = 8  # Later changes do not leak in.
  assert settings.train_batch_size == 4
  with pytest.raises(AttributeError, match="frozen"):
    settings.train_batch_size = 16
  with pytest.raises(AttributeError, match="no 'nope'"):
    settings.nope  # pylint: disable=pointless-statement
  changed = settings.replace(learning_rate=1e-4)
  assert (changed.learning_rate, settings.learning_rate) == (1e-4, 5e-5)
  assert changed != settings and changed == settings.replace(
      learning_rate=1e-4)
  assert settings.group("epoch") == {"num_train_epochs": 3.0,
                                     "warmup_proportion": 0.1}


def test_help_shows_the_runtime_flags_and_unknown_groups_are_refused():
  help_text = subprocess.run(
      [sys.executable, "run_classifier.py", "--help"], cwd=ROOT,
      capture_output=True, text=True, timeout=300).stdout
  for name in ("--export_dir", "--seed", "--[no]use_tpu",
               "--save_checkpoints_steps", "--log_every_n_steps",
               "--precision", "--task_name"):
    assert "\n  " + name in help_text, name
  proc = subprocess.run(
      [sys.executable, "extract_features.py", "--optimizer=lamb"], cwd=ROOT,
      capture_output=True, text=True, timeout=300)
  assert proc.returncode != 0
  assert "Unknown command line flag 'optimizer'" in proc.stderr


def script_help(script):
  proc = subprocess.run([sys.executable, script, "--help"], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return proc.stdout


def flag_lines(help_text):
  """{flag name: its line} of a grouped --help."""
  return {l.split()[0][2:].replace("[no]", ""): l
          for l in help_text.splitlines() if l.startswith("  --")}


def test_help_lists_flags_by_group_and_marks_required_ones():
  text = script_help("run_classifier.py")
  # The docstring's example keeps its line breaks.
  assert ("python run_classifier.py --task_name=MRPC --do_train --do_eval \\\n"
          "      --data_dir=$GLUE_DIR/MRPC" in text)
  headings = [l for l in text.splitlines() if l.endswith(" flags:")]
  assert headings[:5] == ["this script's flags:", "model flags:",
                          "tf2 encoder flags:", "sequence flags:",
                          "output flags:"]
  assert headings[-1] == "tpu flags:"
  lines = flag_lines(text)
  # Each group's flags follow its heading: --use_tpu under "tpu flags:".
  assert text.index("\n  --[no]use_tpu") > text.index("\ntpu flags:")
  config = text.index("\n  --bert_config_file")
  assert text.index("\nmodel flags:") < config < text.index(
      "\nsequence flags:")
  required = {n for n, l in lines.items() if l.endswith("(required)")}
  # --vocab_file and --bert_config_file may come from --hub_module_url.
  assert required == {"task_name", "output_dir"}
  # Every key flag is listed once.
  assert set(lines) == key_flags("run_classifier")
  assert len(lines) == sum(l.startswith("  --") for l in text.splitlines())
  # A multi-line help text keeps its own line breaks.
  ner = script_help("run_ner.py")
  assert {n for n, l in flag_lines(ner).items()
          if l.endswith("(required)")} == {"output_dir"}
  assert "this script's flags:" in ner and "--tag_scheme" in ner
