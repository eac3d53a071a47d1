"""Tests of script_flags: each script has the flags that mean something to it,
and its --help lists them."""

import subprocess
import sys

from absl import flags

from conftest import ROOT
import create_pretraining_data  # pylint: disable=unused-import
import export_tfhub  # pylint: disable=unused-import
import extract_features  # pylint: disable=unused-import
import run_classifier  # pylint: disable=unused-import
import run_classifier_with_tfhub  # pylint: disable=unused-import
import run_pretraining  # pylint: disable=unused-import
import run_squad  # pylint: disable=unused-import
import script_flags

FLAGS = flags.FLAGS

TPU = {"use_tpu", "tpu_name", "tpu_zone", "gcp_project", "master",
       "num_tpu_cores", "iterations_per_loop"}
TRAINING = {"do_train", "train_batch_size", "learning_rate",
            "save_checkpoints_steps", "optimizer", "num_accumulation_steps",
            "seed", "log_every_n_steps", "save_summary_steps",
            "keep_checkpoint_max", "overwrite_output_dir"}
EVALUATION = {"eval_every_n_steps", "best_checkpoint_metric",
              "best_checkpoint_mode", "early_stopping_patience",
              "early_stopping_min_delta"}
PERFORMANCE = {"precision", "bf16_implementation", "use_xla",
               "distribution_strategy", "num_gpus", "use_horovod"}


def key_flags(module):
  return {f.name for f in FLAGS.get_key_flags_for_module(module)}


def test_each_script_lists_exactly_its_flags():
  assert key_flags("run_classifier") == TPU | TRAINING | EVALUATION | (
      PERFORMANCE) | {
      "bert_config_file", "init_checkpoint", "max_seq_length", "output_dir",
      "vocab_file", "do_lower_case", "num_train_epochs", "warmup_proportion",
      "export_dir", "data_dir", "task_name", "do_eval", "do_predict",
      "eval_batch_size", "predict_batch_size", "processor_module"}
  assert key_flags("run_pretraining") == TPU | TRAINING | EVALUATION | (
      PERFORMANCE) | {
      "bert_config_file", "init_checkpoint", "max_seq_length", "output_dir",
      "input_file", "max_predictions_per_seq", "do_eval", "eval_batch_size",
      "num_train_steps", "num_warmup_steps", "max_eval_steps"}
  assert key_flags("extract_features") == TPU | {
      "bert_config_file", "init_checkpoint", "max_seq_length", "vocab_file",
      "do_lower_case", "input_file", "output_file", "layers", "batch_size",
      "use_one_hot_embeddings"}
  hub = key_flags("run_classifier_with_tfhub")
  # The model, its vocabulary and casing come from the module.
  assert not hub & {"bert_config_file", "init_checkpoint", "vocab_file",
                    "do_lower_case"}
  assert {"bert_hub_module_handle", "data_dir", "task_name",
          "export_dir"} <= hub
  assert key_flags("export_tfhub") == {
      "bert_config_file", "init_checkpoint", "vocab_file", "do_lower_case",
      "export_dir"}
  squad = key_flags("run_squad")
  assert TPU | TRAINING | EVALUATION | PERFORMANCE <= squad
  assert "export_dir" in squad and EVALUATION <= hub
  assert not squad & {"do_eval", "data_dir", "task_name"}


def test_a_group_a_script_did_not_define_reads_as_its_default():
  defaults = script_flags.group_defaults()
  assert defaults["precision"] == "fp32"
  assert defaults["num_accumulation_steps"] == 1
  assert defaults["use_horovod"] is False
  assert script_flags.SETTINGS.precision == FLAGS["precision"].value


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
