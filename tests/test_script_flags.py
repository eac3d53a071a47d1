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
       "num_tpu_cores", "iterations_per_loop", "tpu_job_name",
       # Model Garden's names, listed beside the flags they spell.
       "tpu", "steps_per_loop"}
TRAINING = {"do_train", "train_batch_size", "learning_rate",
            "save_checkpoints_steps", "optimizer", "num_accumulation_steps",
            "seed", "log_every_n_steps", "learning_rate_decay",
            "adam_bias_correction", "save_summary_steps",
            "keep_checkpoint_max", "overwrite_output_dir",
            "resume_with_changed_settings",
            "mode", "end_lr", "optimizer_type", "log_steps", "scale_loss"}
EVAL_DURING_TRAINING = {"eval_every_n_steps", "best_checkpoint_metric",
                        "best_checkpoint_mode", "early_stopping_patience",
                        "early_stopping_min_delta", "num_eval_per_epoch"}
SPECIAL_TOKENS = {"never_split", "preserve_unused_tokens"}
PERFORMANCE = {"precision", "bf16_implementation", "use_xla",
               "distribution_strategy", "num_gpus", "use_horovod",
               "dtype", "loss_scale", "enable_xla", "run_eagerly",
               "use_keras_compile_fit", "worker_hosts", "task_index"}
OUTPUT = {"output_dir", "model_dir"}
EXPORT = {"export_dir", "export_precision", "export_format",
          "model_export_path"}
PREDICTION = {"do_predict", "predict_batch_size", "allow_untrained_model",
              "predict_checkpoint_path"}
# Records converted once (create_finetuning_data.py, Model Garden's too).
FINETUNING = {"input_meta_data_path", "train_data_path", "eval_data_path",
              "predict_data_path"}


SCRIPTS = ("run_classifier", "run_classifier_with_tfhub", "run_ner",
           "run_pretraining", "run_squad", "extract_features", "export_tfhub",
           "create_pretraining_data")
_key_flags = {}


def key_flags(module):
  """The flags `module`'s --help lists, in a process that imports it alone,
  as a user runs it (in one process with other scripts, a flag that two
  scripts define belongs to one of them). The scripts' processes run side
  by side, started on the first call."""
  if not _key_flags:
    running = {}
    for name in SCRIPTS:
      code = ("import json, %s\nfrom absl import flags\nprint(json.dumps("
              "sorted(f.name for f in flags.FLAGS.get_key_flags_for_module("
              "%r))))" % (name, name))
      running[name] = subprocess.Popen(
          [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
          stderr=subprocess.PIPE, text=True)
    for name, proc in running.items():
      out, err = proc.communicate(timeout=300)
      assert proc.returncode == 0, (name, err[-2000:])
      _key_flags[name] = set(json.loads(out.strip().splitlines()[-1]))
  return _key_flags[module]


def test_each_script_lists_exactly_its_flags():
  assert key_flags("run_classifier") == (
      TPU | TRAINING | EVAL_DURING_TRAINING | PERFORMANCE | SPECIAL_TOKENS |
      OUTPUT | EXPORT | PREDICTION | FINETUNING) | {
      "bert_config_file", "init_checkpoint", "max_seq_length",
      "vocab_file", "do_lower_case", "num_train_epochs", "warmup_proportion",
      "data_dir", "task_name", "do_eval", "eval_batch_size",
      "processor_module",
      # The file task (--task_name=file) and long documents.
      "input_format", "train_file", "dev_file", "test_file", "text_a_column",
      "text_b_column", "label_column", "id_column", "has_header", "labels",
      "skip_bad_rows", "multi_label", "label_separator",
      "multi_label_threshold", "class_weights", "doc_stride",
      "window_aggregation", "bucket_by_length", "hub_module_url", "pooling"}
  assert key_flags("run_ner") == (
      TPU | TRAINING | EVAL_DURING_TRAINING | PERFORMANCE | SPECIAL_TOKENS |
      OUTPUT | EXPORT | PREDICTION | FINETUNING) | {
      "bert_config_file", "init_checkpoint", "max_seq_length",
      "vocab_file", "do_lower_case", "num_train_epochs", "warmup_proportion",
      "data_dir", "do_eval", "eval_batch_size", "train_file",
      "dev_file", "test_file", "label_column", "labels", "doc_stride",
      "tag_scheme", "hub_module_url"}
  assert key_flags("run_pretraining") == TPU | TRAINING | (
      EVAL_DURING_TRAINING) | PERFORMANCE | OUTPUT | {
      "bert_config_file", "init_checkpoint", "max_seq_length",
      "input_file", "max_predictions_per_seq", "do_eval", "eval_batch_size",
      "num_train_steps", "num_warmup_steps", "max_eval_steps",
      # Model Garden's run_pretraining.py names.
      "input_files", "warmup_steps", "num_steps_per_epoch",
      "num_train_epochs", "use_next_sentence_label",
      "train_summary_interval"}
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
      "export_dir", "format"}
  squad = key_flags("run_squad")
  assert TPU | TRAINING | EVAL_DURING_TRAINING | PERFORMANCE | (
      SPECIAL_TOKENS) | FINETUNING <= squad
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
  # --vocab_file and --bert_config_file may come from --hub_module_url,
  # --task_name from the records of --input_meta_data_path.
  assert required == {"output_dir"}
  assert "Required, except with --input_meta_data_path" in " ".join(
      text.split())
  # Every key flag is listed once.
  assert set(lines) == key_flags("run_classifier")
  # Model Garden's names follow the flag they spell, in its group.
  order = list(lines)
  for spelling, target in list(script_flags.MODEL_GARDEN_ALIASES.items()) + [
      ("mode", "do_train")]:
    between = order[order.index(target) + 1:order.index(spelling)]
    assert set(between) <= script_flags.MODEL_GARDEN_FLAGS, (spelling, between)
  assert "Model Garden's name for --output_dir" in text
  assert len(lines) == sum(l.startswith("  --") for l in text.splitlines())
  # A multi-line help text keeps its own line breaks.
  ner = script_help("run_ner.py")
  assert {n for n, l in flag_lines(ner).items()
          if l.endswith("(required)")} == {"output_dir"}
  assert "this script's flags:" in ner and "--tag_scheme" in ner


# Model Garden's flag names (official/legacy/bert), parsed in-process.

import copy  # pylint: disable=g-import-not-at-top,g-bad-import-order

import bert_testing  # pylint: disable=g-import-not-at-top
import command_line  # pylint: disable=g-import-not-at-top
import run_classifier  # pylint: disable=g-import-not-at-top,unused-import

CLASSIFIER = ("--task_name=mrpc", "--vocab_file=v.txt",
              "--bert_config_file=c.json")


def script_flag_values(without=()):
  """A fresh FlagValues with every shared group's flags and their Model
  Garden spellings (as run_classifier has them), less `without`: a script
  without --do_eval is run_squad's shape, one without --do_predict
  run_pretraining's. The flags are copies in one go, so that a spelling
  still sets the copy of the flag it spells."""
  names = set(script_flags._with_model_garden_spellings(  # pylint: disable=protected-access
      sum(script_flags.group_names().values(), ())))
  names |= {"task_name"}
  names -= set(without)
  # A group no script of this process defines has no flags to copy.
  names = {name for name in names if name in FLAGS}
  flag_values = flags.FlagValues()
  for name, flag in copy.deepcopy({n: FLAGS[n] for n in names}).items():
    flag_values[name] = flag
  # A spelling sets the flag of its target's name here: the one defined
  # when the spelling was may since have been redefined (allow_override by
  # a script imported later, convert_checkpoint's --output_dir).
  for name in names:
    if name in script_flags.MODEL_GARDEN_ALIASES:
      flag_values[name].target = flag_values[
          script_flags.MODEL_GARDEN_ALIASES[name]]
  flag_values.unparse_flags()
  return flag_values


def parse(*args, without=(), required=()):
  flag_values = script_flag_values(without)
  for name in required:
    flags.mark_flag_as_required(name, flag_values=flag_values)
  flag_values(["prog"] + list(CLASSIFIER if "task_name" in flag_values
                                 else ()) + list(args))
  return script_flags.from_flags(flag_values)


def test_model_garden_names_give_the_settings_of_the_projects_names():
  garden = parse(
      "--mode=train_and_eval", "--model_dir=/tmp/out", "--steps_per_loop=7",
      "--distribution_strategy=tpu", "--tpu=grpc://127.0.0.1:8470",
      "--dtype=bf16", "--enable_xla", "--optimizer_type=lamb",
      "--log_steps=3", "--model_export_path=/tmp/export",
      "--end_lr=0", "--noscale_loss")
  ours = parse(
      "--do_train", "--do_eval", "--output_dir=/tmp/out",
      "--iterations_per_loop=7", "--use_tpu",
      "--tpu_name=grpc://127.0.0.1:8470", "--precision=bf16", "--use_xla",
      "--optimizer=lamb", "--log_every_n_steps=3", "--export_dir=/tmp/export")
  assert garden == ours
  assert (garden.do_train, garden.do_eval, garden.do_predict) == (
      True, True, False)
  assert garden.distribution_strategy == "none" and garden.use_tpu
  # Nothing below main() sees a Model Garden name.
  assert not set(garden.as_dict()) & script_flags.MODEL_GARDEN_FLAGS


@pytest.mark.parametrize("strategy,expected", [
    ("off", "none"), ("one_device", "none"), ("mirrored", "mirrored"),
    ("collective", "multi_worker_mirrored"),
    # Model Garden reads the strategy in any case.
    ("Mirrored", "mirrored"), ("OFF", "none")])
def test_model_garden_strategies_are_the_projects(strategy, expected):
  settings = parse("--output_dir=o", "--distribution_strategy=" + strategy)
  assert settings.distribution_strategy == expected
  assert not settings.use_tpu


@pytest.mark.parametrize("args,message", [
    (("--model_dir=a", "--output_dir=b"),
     "--model_dir=a and --output_dir=b disagree: --model_dir is Model "
     "Garden's name for --output_dir; give one of them."),
    (("--output_dir=o", "--steps_per_loop=5", "--iterations_per_loop=50"),
     "--steps_per_loop=5 and --iterations_per_loop=50 disagree"),
    (("--output_dir=o", "--dtype=fp16", "--precision=bf16"),
     "--dtype=fp16 and --precision=bf16 disagree"),
    (("--output_dir=o", "--distribution_strategy=tpu", "--nouse_tpu"),
     "--distribution_strategy=tpu and --nouse_tpu disagree; give one of "
     "them."),
    (("--mode=train", "--do_eval", "--output_dir=o"),
     "--mode=train and --do_eval=true disagree: --mode=train means "
     "--do_train; give one of them."),
    (("--mode=export_only", "--do_train", "--output_dir=o",
      "--export_dir=e"),
     "--mode=export_only and --do_train=true disagree: --mode=export_only "
     "means no --do_* flag"),
    (("--mode=export_only", "--output_dir=o"),
     "--mode=export_only needs --export_dir (or --model_export_path)"),
    (("--output_dir=o", "--end_lr=1e-6"),
     "--end_lr=1e-06: Model Garden's flag has no counterpart here: the "
     "learning rate decays linearly to 0"),
    (("--output_dir=o", "--num_eval_per_epoch=4"),
     "use --eval_every_n_steps=<training steps>"),
    (("--output_dir=o", "--predict_checkpoint_path=m/ckpt-9"),
     "--predict_checkpoint_path=m/ckpt-9: Model Garden's flag has no "
     "counterpart here: give the fine-tuned checkpoint as --init_checkpoint"),
    (("--output_dir=o", "--run_eagerly"), "--run_eagerly=True"),
    (("--output_dir=o", "--loss_scale=128"),
     "--precision=fp16 scales the loss dynamically here"),
    (("--output_dir=o", "--num_gpus=-2"), "--num_gpus=-2: give a number"),
    (("--output_dir=o", "--worker_hosts=127.0.0.1:2222", "--task_index=0"),
     "--task_index=0: Model Garden's flag has no counterpart here: give each "
     "machine's index in the TF_CONFIG environment variable"),
])
def test_disagreeing_or_unsupported_model_garden_flags_are_one_line_errors(
    args, message):
  with pytest.raises(command_line.UserError) as error:
    parse(*args)
  text = str(error.value)
  assert message in text and text.startswith("--") and "\n" not in text, text


def test_both_spellings_with_one_value_and_harmless_values_are_fine():
  settings = parse("--model_dir=o", "--output_dir=o", "--mode=train",
                   "--do_train", "--nodo_eval", "--dtype=fp32",
                   "--precision=fp32", "--end_lr=0.0", "--num_eval_per_epoch=1",
                   "--loss_scale=dynamic", "--norun_eagerly",
                   "--nouse_keras_compile_fit")
  assert (settings.output_dir, settings.do_train, settings.do_eval,
          settings.precision) == ("o", True, False, "fp32")
  assert settings == parse("--output_dir=o", "--do_train")


@pytest.mark.parametrize("mode,without,expected", [
    ("train_and_eval", (), ("do_train", "do_eval")),
    ("train_and_predict", (), ("do_train", "do_predict")),
    ("train", (), ("do_train",)),
    ("eval", (), ("do_eval",)),
    ("predict", (), ("do_predict",)),
    # run_squad's shape: its predictions are its evaluation, as there.
    ("train_and_eval", ("do_eval", "eval_batch_size"),
     ("do_train", "do_predict")),
    ("eval", ("do_eval", "eval_batch_size"), ("do_predict",)),
    # run_pretraining's shape.
    ("train_and_eval", ("do_predict", "predict_batch_size"),
     ("do_train", "do_eval")),
])
def test_mode_sets_the_do_flags(mode, without, expected):
  settings = parse("--mode=" + mode, "--model_dir=o", without=without)
  do_flags = [n for n in ("do_train", "do_eval", "do_predict")
              if n not in without]
  assert [n for n in do_flags if settings.get(n)] == list(expected)


def test_mode_export_only_exports_without_running_anything():
  settings = parse("--mode=export_only", "--model_dir=o",
                   "--model_export_path=e")
  assert settings.export_dir == "e"
  assert not (settings.do_train or settings.do_eval or settings.do_predict)


def test_mode_a_script_cannot_run_names_the_modes_it_can():
  with pytest.raises(command_line.UserError) as error:
    parse("--mode=predict", "--model_dir=o",
          without=("do_predict", "predict_batch_size", "export_dir",
                   "model_export_path"))
  assert str(error.value) == (
      "--mode=predict: this script cannot predict; its --mode values are "
      "train_and_eval, train, eval.")


def test_mode_predict_batches_by_eval_batch_size_as_model_garden_does():
  assert parse("--mode=predict", "--model_dir=o",
               "--eval_batch_size=4").predict_batch_size == 4
  assert parse("--mode=predict", "--model_dir=o", "--eval_batch_size=4",
               "--predict_batch_size=2").predict_batch_size == 2
  # The project's own spelling keeps its own meaning.
  assert parse("--do_predict", "--output_dir=o",
               "--eval_batch_size=4").predict_batch_size == 8


def test_model_garden_command_without_mode_runs_its_default():
  settings = parse("--model_dir=o")
  assert (settings.do_train, settings.do_eval) == (True, True)
  # The original's commands are unchanged: without --do_* nothing runs.
  assert not parse("--output_dir=o").do_train
  assert parse("--model_dir=o", "--do_predict").do_train is False


def test_model_garden_data_flags_alone_run_its_default_mode_too():
  flag_values = script_flag_values()
  if "train_data_path" not in flag_values:  # Defined by a group, or not.
    flags.DEFINE_string("train_data_path", None, "", flag_values=flag_values)
  flag_values(["prog"] + list(CLASSIFIER) + ["--output_dir=o",
                                             "--train_data_path=t"])
  settings = script_flags.from_flags(flag_values)
  assert (settings.do_train, settings.do_eval) == (True, True)


def test_model_dir_satisfies_a_required_output_dir():
  settings = parse("--model_dir=o", "--mode=train", required=["output_dir"])
  assert settings.output_dir == "o"
  with pytest.raises(flags.IllegalFlagValueError, match="output_dir"):
    parse("--mode=train", required=["output_dir"])


import run_pretraining  # pylint: disable=g-import-not-at-top,unused-import,g-bad-import-order


def parse_pretraining(*args):
  """from_flags of a fresh copy of run_pretraining's flags, parsed."""
  names = {f.name for f in FLAGS.get_key_flags_for_module("run_pretraining")}
  flag_values = flags.FlagValues()
  for name, flag in copy.deepcopy({n: FLAGS[n] for n in names}).items():
    flag_values[name] = flag
  flag_values.unparse_flags()
  flag_values(["prog", "--bert_config_file=c.json"] + list(args))
  return script_flags.from_flags(flag_values)


def test_model_garden_pretraining_names_give_the_projects_settings():
  garden = parse_pretraining(
      "--input_files=a.tfrecord,b*.tfrecord", "--warmup_steps=7",
      "--model_dir=/tmp/out", "--use_next_sentence_label",
      "--notrain_summary_interval",
      "--max_predictions_per_seq=5")
  ours = parse_pretraining(
      "--input_file=a.tfrecord,b*.tfrecord", "--num_warmup_steps=7",
      "--output_dir=/tmp/out", "--do_train", "--max_predictions_per_seq=5")
  assert garden == ours
  # Model Garden's run_pretraining.py only trains.
  assert (garden.do_train, garden.do_eval) == (True, False)
  assert not set(garden.as_dict()) & {"input_files", "warmup_steps",
                                      "num_steps_per_epoch",
                                      "use_next_sentence_label"}
  # Epochs of --num_steps_per_epoch steps (Model Garden's defaults: 1000, 3).
  for args, steps in [(("--num_steps_per_epoch=40", "--num_train_epochs=2"),
                       80),
                      (("--num_steps_per_epoch=40",), 120),
                      (("--num_train_epochs=2",), 2000),
                      (("--num_steps_per_epoch=40", "--num_train_steps=120"),
                       120),
                      ((), 100000)]:
    assert parse_pretraining("--output_dir=o", *args).num_train_steps == steps


@pytest.mark.parametrize("args,message", [
    (("--input_files=a", "--input_file=b"),
     "--input_files=a and --input_file=b disagree: --input_files is Model "
     "Garden's name for --input_file; give one of them."),
    (("--input_files=a", "--num_steps_per_epoch=100",
      "--num_train_epochs=2", "--num_train_steps=50"),
     "--num_steps_per_epoch=100 --num_train_epochs=2.0 and "
     "--num_train_steps=50 disagree: Model Garden's --num_steps_per_epoch x "
     "--num_train_epochs is 200 training steps; give one of them."),
    (("--input_files=a", "--train_summary_interval"),
     "--train_summary_interval=True: Model Garden's flag has no counterpart "
     "here: use --save_summary_steps=<steps>."),
    (("--input_files=a", "--nouse_next_sentence_label"),
     "--use_next_sentence_label=False: Model Garden's flag has no "
     "counterpart here: pre-training here always has the next-sentence "
     "loss."),
])
def test_model_garden_pretraining_flags_that_differ_are_one_line_errors(
    args, message):
  with pytest.raises(command_line.UserError) as error:
    parse_pretraining("--output_dir=o", *args)
  assert str(error.value) == message


def test_run_pretraining_help_lists_model_garden_names():
  text = script_help("run_pretraining.py")
  for name in ("input_files", "warmup_steps", "num_steps_per_epoch",
               "use_next_sentence_label"):
    assert "\n  --%s\n" % name in text or "\n  --[no]%s\n" % name in text
  assert "Model Garden's name for --input_file" in text


def test_run_pretraining_runs_on_model_garden_names_alone(tmp_path):
  # --input_files satisfies the required --input_file: the run gets as far
  # as reading the data (and finds none).
  import bert_testing  # pylint: disable=g-import-not-at-top
  bert_testing.write_config(str(tmp_path / "c.json"), 30)
  missing = str(tmp_path / "none*.tfrecord")
  proc = subprocess.run(
      [sys.executable, "run_pretraining.py", "--input_files=" + missing,
       "--bert_config_file=%s" % (tmp_path / "c.json"),
       "--model_dir=%s" % (tmp_path / "out"), "--warmup_steps=1"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      "run_pretraining.py: error: --input_file pattern %r matches no file."
      % missing)
  assert "--input_files as --input_file" in proc.stderr
  assert "Model Garden's default --mode=train" in proc.stderr


def test_model_garden_tpu_flags_build_a_tpu_estimator(tmp_path):
  import runtime  # pylint: disable=g-import-not-at-top
  settings = parse("--mode=train", "--model_dir=%s" % tmp_path,
                   "--distribution_strategy=tpu",
                   "--tpu=grpc://127.0.0.1:8470", "--steps_per_loop=7")
  estimator = runtime.build_estimator(
      settings, lambda features, labels, mode, params: None,
      settings.output_dir, 8, 8, 8)
  # Nothing connects to the address until the estimator runs.
  assert type(estimator).__name__ == "TPUEstimator"
  assert estimator.config.master == "grpc://127.0.0.1:8470"
  assert estimator.config.tpu_config.iterations_per_loop == 7
  assert estimator._ctx._use_tpu  # pylint: disable=protected-access


# Model Garden's flags, as its own code defines them: {script: {name: {
# "default", "enum" (values or None), "boolean"}}}, read in a process of
# their own (they are defined on absl's global flags, some under the
# project's names).
MODEL_GARDEN_FLAG_DUMP = """
import json, sys
sys.path.insert(0, "tests")
import bert_testing
from absl import flags
import tensorflow, tensorflow_hub
FLAGS = flags.FLAGS
before = set(FLAGS)  # absl's, TensorFlow's and TF Hub's own.
dump = {}
for module in ("run_classifier", "run_squad"):
  bert_testing.model_garden("official.legacy.bert." + module)
  names = sorted(n for n in set(FLAGS) - before if FLAGS[n].name == n)
  dump[module] = {n: {
      "default": FLAGS[n].default,
      "enum": sorted(getattr(FLAGS[n].parser, "enum_values", None) or ()),
      "boolean": FLAGS[n].boolean} for n in names}
  for name in set(FLAGS) - before:
    if name in FLAGS:
      delattr(FLAGS, name)
print(json.dumps(dump))
"""

# Model Garden flags that are unknown here (an error at the start): tuning
# of its Keras training loop and of tf.distribute that this project's
# Estimator runs do not have.
UNKNOWN_HERE = {"all_reduce_alg", "allreduce_bytes_per_pack",
                "datasets_num_private_threads", "explicit_allreduce",
                "fp16_implementation", "gin_file", "gin_param",
                "per_gpu_thread_count", "sub_model_export_name",
                "tf_gpu_thread_mode"}
# Issue 24's other parts: converted data and TF2 hub encoders.
OTHER_PARTS = {"input_meta_data_path", "train_data_path", "eval_data_path",
               "train_data_size", "hub_module_url", "hub_module_trainable"}


@pytest.fixture(scope="module")
def model_garden_flags():
  # Skips (or fails under CI) here when Model Garden is not installed; this
  # module defines no flags.
  bert_testing.model_garden("official.legacy.bert.configs")
  proc = subprocess.run([sys.executable, "-c", MODEL_GARDEN_FLAG_DUMP],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_model_garden_flag_is_ours_a_spelling_or_known_to_be_missing(
    model_garden_flags):
  import run_squad  # pylint: disable=g-import-not-at-top,unused-import
  garden = set(model_garden_flags["run_classifier"]) | set(
      model_garden_flags["run_squad"])
  unaccounted = garden - set(FLAGS) - script_flags.MODEL_GARDEN_FLAGS - (
      UNKNOWN_HERE | OTHER_PARTS)
  assert not unaccounted
  # Every spelling is a name Model Garden's code defines.
  assert script_flags.MODEL_GARDEN_FLAGS <= garden


def test_model_garden_values_are_accepted_and_its_defaults_change_nothing(
    model_garden_flags):
  classifier = model_garden_flags["run_classifier"]
  squad = model_garden_flags["run_squad"]
  assert set(squad["mode"]["enum"]) == set(script_flags.MODEL_GARDEN_MODES)
  assert set(classifier["mode"]["enum"]) < set(script_flags.MODEL_GARDEN_MODES)
  for alias, target in script_flags.MODEL_GARDEN_ALIASES.items():
    garden = classifier[alias]
    assert garden["boolean"] == FLAGS[target].boolean, alias
    if garden["enum"]:
      assert set(garden["enum"]) <= set(FLAGS[target].parser.enum_values)
  # Model Garden's optimizer_type is a string: its help names the values.
  assert set(FLAGS["optimizer"].parser.enum_values) == {"adamw", "lamb"}
  for name, (_, _, harmless, _) in script_flags.MODEL_GARDEN_ONLY.items():
    default = classifier[name]["default"]
    assert default is None or default in harmless, name
    parse("--output_dir=o", *(["--%s=%s" % (name, default)]
                              if default is not None else []))
  # The strategies of Model Garden's help text, tpu included.
  for strategy in ("off", "one_device", "mirrored", "collective", "tpu"):
    parse("--output_dir=o", "--distribution_strategy=" + strategy)
  assert parse("--output_dir=o", "--distribution_strategy=TPU").use_tpu
