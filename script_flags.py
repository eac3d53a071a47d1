"""Command-line flags that several scripts share, in groups each script opts into.

A script calls `define("model", "training", ...)` with the groups that
mean something to it; they are then listed in its `--help` beside its own
flags (absl shows only a module's "key" flags there; the rest are in
`--helpfull`). Each flag keeps the name, default and meaning it has in the
original scripts.

Every group may be defined by several scripts in one process (tests, and
`run_classifier_with_tfhub.py`, which imports `run_classifier.py`): a flag
that exists already is left as it is. Where a script's default differs from
the group's (run_squad's `max_seq_length` of 384), the script passes it; in
a process that imports several scripts the first definition's default wins,
and such processes set their flags explicitly.

TensorFlow Model Garden's names for the same settings (`--model_dir`,
`--mode`, `--steps_per_loop`, ...; see MODEL_GARDEN_ALIASES) are defined
beside the flags they spell and listed after them in --help; `from_flags`
turns them into the project's flags, so a `Settings` value has one name per
setting.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import functools
import inspect
import sys
import textwrap

from absl import flags
from absl import logging

import optimization
import tokenization
from command_line import UserError

FLAGS = flags.FLAGS

PRECISIONS = ("fp32", "bf16", "fp16")
STRATEGIES = ("none", "mirrored", "multi_worker_mirrored")
# --bucket_by_length: lengths 1-16 share a bucket, 17-32 the next, and so on.
BUCKET_WIDTH = 16
# --log_every_n_steps, --save_summary_steps unset: about 20 points a run,
# but no fewer than one every this many steps.
MAX_PROGRESS_INTERVAL = 100
PROGRESS_POINTS = 20


# The names each running `_group` function defines, innermost last.
_collecting = []


# While set, `_define` records defaults instead of defining flags.
_defaults_only = []


def _define(kind, name, default, help_text, **kwargs):
  if _defaults_only:
    _defaults_only[-1][name] = default
    return
  if name in FLAGS and not kwargs.get("allow_override"):
    pass  # Defined by another script or group of this process.
  elif kind == "enum":
    flags.DEFINE_enum(name, default, kwargs.pop("enum_values"), help_text,
                      **kwargs)
  else:
    getattr(flags, "DEFINE_" + kind)(name, default, help_text, **kwargs)
  if _collecting:
    _collecting[-1].append(name)


def _group(define_fn):
  """Makes a `define_*_flags` function return the names of its flags."""

  @functools.wraps(define_fn)
  def wrapped(**kwargs):
    _collecting.append([])
    try:
      define_fn(**kwargs)
    finally:
      names = _collecting.pop()
    return names

  return wrapped


def _calling_module_name(depth):
  """The module name absl files the caller's flags under (for a script run
  as a command, its path, as absl does)."""
  name = sys._getframe(depth + 1).f_globals.get("__name__")  # pylint: disable=protected-access
  return sys.argv[0] if name == "__main__" else name


def define(*groups, **defaults):
  """Defines the flag `groups` and lists them in the calling script's --help.

  Args:
    *groups: names of groups: "model", "tf2_encoder", "sequence", "output",
      "tokenizer", "special_tokens", "training", "eval_during_training",
      "epoch", "evaluation", "prediction", "tpu", "performance", "bucketing",
      "export".
    **defaults: a default that differs from the group's, by flag name (only
      `max_seq_length` so far).
  """
  names = []
  for group in groups:
    define_fn = globals()["define_%s_flags" % group]
    names.extend(define_fn(**{
        k: v for k, v in defaults.items()
        if k in inspect.signature(define_fn).parameters}))
  names.extend(_define_model_garden_spellings(names))
  _register(names, _calling_module_name(1))


def adopt(names):
  """Lists the existing flags `names` in the calling script's --help (flags
  another script defined and this one uses too)."""
  _register(names, _calling_module_name(1))


def _register(names, module_name):
  for name in names:
    FLAGS.register_key_flag_for_module(module_name, FLAGS[name])


# absl's message for a flag marked with `flags.mark_flag_as_required`.
_REQUIRED_MESSAGE = "must have a value other than None"


def _is_required(flag):
  return any(_REQUIRED_MESSAGE in getattr(v, "message", "")
             for v in getattr(flag, "validators", ()))


def _flag_help(flag):
  """`  --name: help` with the help's own line breaks kept, then the
  default; `(required)` for a flag a run cannot start without."""
  lines = ["  --%s%s%s" % ("[no]" if flag.boolean else "", flag.name,
                           "  (required)" if _is_required(flag) else "")]
  for paragraph in (flag.help or "").split("\n"):
    lines.extend(textwrap.wrap(paragraph, 76, initial_indent="      ",
                               subsequent_indent="      ") or [""])
  if flag.default is not None and flag.default_as_str not in ("''", '""'):
    lines.append("      (default: %s)" % flag.default_as_str)
  return "\n".join(lines)


def grouped_help(module_name, usage, flag_values=None):
  """The text of a script's --help: its usage (module docstring), then its
  flags by group, each group under its name, the script's own flags first,
  flags a run needs marked `(required)`."""
  flag_values = flag_values or FLAGS
  key_flags = {f.name: f for f in
               flag_values.get_key_flags_for_module(module_name)}
  grouped = []
  placed = set()
  for group, names in group_names().items():
    names = _with_model_garden_spellings(names)
    members = [key_flags[n] for n in names if n in key_flags and
               n not in placed]
    placed.update(f.name for f in members)
    if members:
      grouped.append((group.replace("_", " ") + " flags", members))
  own = sorted((f for n, f in key_flags.items() if n not in placed),
               key=lambda f: f.name)
  sections = [("this script's flags", own)] if own else []
  sections.extend(sorted(grouped, key=_group_order))
  text = [usage.rstrip(), "",
          "Flags (`(required)`: a run cannot start without it; --helpfull "
          "lists TensorFlow's and absl's too):"]
  for title, members in sections:
    text.append("")
    text.append(title + ":")
    text.extend(_flag_help(f) for f in members)
  return "\n".join(text) + "\n"


# The order of the group sections in --help: what a run needs first.
_GROUP_ORDER = ("model", "tf2_encoder", "sequence", "output",
                "finetuning_data", "file_task", "tokenizer", "special_tokens",
                "training", "epoch", "eval_during_training", "evaluation",
                "prediction", "export", "performance", "bucketing", "tpu")


def _group_order(section):
  name = section[0][:-len(" flags")].replace(" ", "_")
  return _GROUP_ORDER.index(name) if name in _GROUP_ORDER else len(
      _GROUP_ORDER)


@_group
def define_model_flags():
  """The pre-trained model: its config and checkpoint."""
  _define("string", "bert_config_file", None,
          "The config json file corresponding to the pre-trained BERT model. "
          "This specifies the model architecture.")
  _define("string", "init_checkpoint", None,
          "Initial checkpoint (usually from a pre-trained BERT model). A TF2 "
          "object-based checkpoint of a Model Garden BertEncoder / "
          "BertEncoderV2 is read too, converted once to a cache "
          "($BERT_TF2_CACHE_DIR, else ~/.cache/bert/tf2_encoders).")


@_group
def define_tf2_encoder_flags():
  """A TF2 hub encoder in place of --init_checkpoint (Model Garden's flag)."""
  _define("string", "hub_module_url", None,
          "Local directory of a TF2 hub SavedModel encoder (Model Garden / "
          "TF Hub format: saved_model.pb, variables/, assets/vocab.txt) "
          "whose weights start the BERT model, instead of --init_checkpoint. "
          "Its vocabulary and casing are used when --vocab_file is not "
          "given; without --bert_config_file the config is read off its "
          "shapes. Download a tfhub.dev model first and pass its directory.")


@_group
def define_sequence_flags(max_seq_length=128):
  """The length every input is truncated or padded to."""
  _define("integer", "max_seq_length", max_seq_length,
          "The maximum total input sequence length after WordPiece "
          "tokenization. Sequences longer than this will be truncated, and "
          "sequences shorter than this will be padded.")


@_group
def define_output_flags():
  """Where a training script writes checkpoints and results."""
  _define("string", "output_dir", None,
          "The output directory where the model checkpoints and results will "
          "be written.")


@_group
def define_tokenizer_flags():
  """The vocabulary and casing that text is tokenised with."""
  _define("string", "vocab_file", None,
          "The vocabulary file that the BERT model was trained on.")
  _define("bool", "do_lower_case", True,
          "Whether to lower case the input text. Should be True for uncased "
          "models and False for cased models.")


@_group
def define_special_tokens_flags():
  """Tokens kept whole in text: --never_split, --preserve_unused_tokens.

  tokenization.py defines both when imported (as bert-tensorflow 1.0.4
  defines --preserve_unused_tokens there), so that any script importing it,
  a user's included, accepts them; this group lists them in --help.
  """
  for name in tokenization.TOKENIZER_FLAGS:
    if _defaults_only:
      _defaults_only[-1][name] = FLAGS[name].default
    elif _collecting:
      _collecting[-1].append(name)


@_group
def define_training_flags():
  """Training: batch, learning rate, optimiser, checkpoints, progress."""
  _define("bool", "do_train", False, "Whether to run training.")
  _define("integer", "train_batch_size", 32,
          "Total batch size for training (over all replicas and "
          "accumulation steps).")
  _define("float", "learning_rate", 5e-5,
          "The initial learning rate for Adam.")
  _define("integer", "save_checkpoints_steps", 1000,
          "How often to save the model checkpoint.")
  _define("enum", "optimizer", "adamw",
          "adamw: Adam with decoupled weight decay, as the original BERT. "
          "lamb: layer-wise adaptive steps (You et al. 2019), for large "
          "batches.", enum_values=["adamw", "lamb"])
  _define("integer", "num_accumulation_steps", 1,
          "Average gradients over this many micro-batches of "
          "train_batch_size / num_accumulation_steps examples before each "
          "update, so that a large train_batch_size fits in memory. Must "
          "divide train_batch_size.")
  _define("integer", "seed", None,
          "Graph-level random seed (initialisation, dropout, shuffling). "
          "Unset, runs differ from each other as the original's did.")
  _define("integer", "log_every_n_steps", None,
          "How often to log steps/sec, examples/sec, loss and ETA in "
          "training (the first and last steps are always logged). Default: "
          "every 5%% of the run's steps, at most every %d." %
          MAX_PROGRESS_INTERVAL)
  # Fixes of the original's optimiser (issue 18), off by default.
  _define("enum", "learning_rate_decay", "from_step_0",
          "Where the linear decay of the learning rate starts. from_step_0: "
          "the original's, so the rate drops to init_lr * (1 - warmup / "
          "total) right after warm-up. after_warmup: decay from the peak at "
          "the end of warm-up to 0 at the last step.",
          enum_values=list(optimization.LEARNING_RATE_DECAYS))
  _define("bool", "adam_bias_correction", False,
          "Divide Adam's moments by 1 - beta^t (AdamW and LAMB), as Adam "
          "does; off by default, as in the original, so published recipes "
          "reproduce.")
  _define("integer", "save_summary_steps", None,
          "How often to write TensorBoard summaries (loss, learning_rate, "
          "global_norm, examples_per_sec, global_step/sec) under "
          "--output_dir; view them with `tensorboard --logdir=<output_dir>`. "
          "Default: every 5%% of the run's steps, at most every %d." %
          MAX_PROGRESS_INTERVAL)
  _define("integer", "keep_checkpoint_max", 5,
          "How many recent checkpoints to keep in --output_dir (older ones "
          "are deleted; the best one under <output_dir>/best/ never is).")
  _define("bool", "resume_with_changed_settings", False,
          "Resume training in --output_dir even though the run there was "
          "started with other settings (its task.json records them); the "
          "log lists what changed. Without it such a run is refused.")
  _define("bool", "overwrite_output_dir", False,
          "Start over: remove the checkpoints and outputs of a previous run "
          "in --output_dir first. Without it, training resumes from the "
          "last checkpoint there. Refused if the directory holds files this "
          "project does not write.")


@_group
def define_eval_during_training_flags():
  """Evaluation during training, best checkpoint and early stopping."""
  _define("integer", "eval_every_n_steps", 0,
          "Evaluate on the dev set every this many training steps and at the "
          "end, appending each result to <output_dir>/eval_history.jsonl "
          "(0: evaluate only after training).")
  _define("string", "best_checkpoint_metric", None,
          "Evaluation metric that chooses the best checkpoint, copied to "
          "<output_dir>/best/ (default: the task's main metric, e.g. "
          "eval_accuracy; f1 for SQuAD; eval_pearson for STS-B; "
          "masked_lm_accuracy for pre-training).")
  _define("enum", "best_checkpoint_mode", "max",
          "Whether a larger (max) or smaller (min, e.g. for eval_loss) "
          "--best_checkpoint_metric is better.", enum_values=["max", "min"])
  _define("integer", "early_stopping_patience", 0,
          "Stop training after this many evaluations in a row without an "
          "improvement of --best_checkpoint_metric by more than "
          "--early_stopping_min_delta (0: never stop early). Needs "
          "--eval_every_n_steps.")
  _define("float", "early_stopping_min_delta", 0.0,
          "The smallest change of --best_checkpoint_metric that counts as an "
          "improvement for --early_stopping_patience.")


@_group
def define_epoch_flags():
  """Training length in epochs of a fine-tuning set, with linear warm-up."""
  _define("float", "num_train_epochs", 3.0,
          "Total number of training epochs to perform.")
  _define("float", "warmup_proportion", 0.1,
          "Proportion of training to perform linear learning rate warmup "
          "for. E.g., 0.1 = 10% of training.")


@_group
def define_evaluation_flags():
  """Evaluation on the dev data."""
  _define("bool", "do_eval", False, "Whether to run eval on the dev set.")
  _define("integer", "eval_batch_size", 8, "Total batch size for eval.")


@_group
def define_prediction_flags():
  """Prediction on the test data."""
  _define("bool", "do_predict", False,
          "Whether to run the model in inference mode on the test set and "
          "write its predictions.")
  _define("integer", "predict_batch_size", 8, "Total batch size for predict.")
  _define("bool", "allow_untrained_model", False,
          "Let --do_eval / --do_predict without --do_train use a model whose "
          "task head was never trained (no checkpoint in --output_dir and "
          "no fine-tuned --init_checkpoint); without it such a run is "
          "refused, since its results would be those of random weights.")


@_group
def define_tpu_flags():
  """Cloud TPU, as the original scripts had them."""
  _define("bool", "use_tpu", False, "Whether to use TPU or GPU/CPU.")
  _define("string", "tpu_name", None,
          "The Cloud TPU to use for training. This should be either the name "
          "used when creating the Cloud TPU, or a grpc://ip.address.of.tpu:8470 "
          "url.")
  _define("string", "tpu_zone", None,
          "[Optional] GCE zone where the Cloud TPU is located in. If not "
          "specified, we will attempt to automatically detect the GCE project "
          "from metadata.")
  _define("string", "gcp_project", None,
          "[Optional] Project name for the Cloud TPU-enabled project. If not "
          "specified, we will attempt to automatically detect the GCE project "
          "from metadata.")
  _define("string", "master", None, "[Optional] TensorFlow master URL.")
  _define("integer", "num_tpu_cores", 8,
          "Only used if `use_tpu` is True. Total number of TPU cores to use.")
  _define("integer", "iterations_per_loop", 1000,
          "How many steps to make in each estimator call.")
  _define("string", "tpu_job_name", None,
          "[Optional] Name of the TPU worker job, if it is not the default "
          "'tpu_worker' (as in bert-tensorflow 1.0.4); passed to TPUConfig.")


@_group
def define_performance_flags():
  """Precision, XLA and distribution over devices or machines."""
  _define("enum", "precision", "fp32",
          "Arithmetic of the encoder. bf16: bfloat16 matmuls with float32 "
          "variables, layer norm, softmax and loss (CPUs with "
          "AVX512_BF16/AMX, GPUs from Ampere, TPUs); checkpoints stay "
          "float32. fp16: float16 on GPU with dynamic loss scaling.",
          enum_values=list(PRECISIONS))
  _define("enum", "bf16_implementation", "grappler",
          "How --precision=bf16 is done. grappler: TensorFlow's "
          "auto_mixed_precision_onednn_bfloat16 rewrite of the float32 graph "
          "(fastest on CPU, see README). cast: explicit casts in the model "
          "(BertModel(compute_type=tf.bfloat16)); use it on GPU/TPU.",
          enum_values=["grappler", "cast"])
  _define("bool", "use_xla", False,
          "Compile the graph with XLA (session-level global JIT). On CPU "
          "only the element-wise work is compiled, around oneDNN's matmuls "
          "(TF_XLA_FLAGS='--tf_xla_cpu_global_jit "
          "--tf_xla_ops_to_cluster=FUSIBLE' unless TF_XLA_FLAGS is set): "
          "use it with --precision=bf16 (1.07-1.18x training on an AMX "
          "Xeon); fp32 gains nothing. See the README.")
  _define("enum", "distribution_strategy", "none",
          "tf.distribute engine for CPU/GPU training. mirrored: all local "
          "GPUs (--num_gpus), or the CPU; multi_worker_mirrored: several "
          "machines described by the TF_CONFIG environment variable. "
          "train_batch_size is the global batch. Model Garden's names are "
          "accepted too: off and one_device (as none), collective (as "
          "multi_worker_mirrored), tpu (as --use_tpu); in any case, as "
          "there.",
          enum_values=list(STRATEGIES) + list(MODEL_GARDEN_STRATEGIES),
          case_sensitive=False)
  _define("integer", "num_gpus", 0,
          "GPUs to mirror over with --distribution_strategy=mirrored (0: "
          "CPU).")
  _define("bool", "use_horovod", False,
          "Data-parallel training with Horovod (optional package), launched "
          "with `horovodrun -np N python <script> ... --use_horovod`. "
          "train_batch_size is the global batch; rank 0 writes checkpoints "
          "and results.")


@_group
def define_bucketing_flags():
  """Batches cut to their longest example instead of --max_seq_length."""
  _define("bool", "bucket_by_length", False,
          "CPU/GPU: batch examples of similar length together (buckets %d "
          "word pieces wide, lengths from each example's input_mask) and "
          "pad each batch to its longest example instead of "
          "--max_seq_length. Same results with less work on padding; "
          "prediction results keep the input order. Not with --use_tpu, "
          "whose shapes must be static." % BUCKET_WIDTH)


@_group
def define_finetuning_data_flags():
  """Data converted once by create_finetuning_data.py (or Model Garden's)."""
  _define("string", "input_meta_data_path", None,
          "The meta_data JSON that create_finetuning_data.py (this project's "
          "or Model Garden's) wrote beside its TFRecords. With it the run "
          "reads --train_data_path, --eval_data_path and --predict_data_path "
          "instead of raw files: no --data_dir, no tokenising; labels, "
          "training set size and --max_seq_length come from it and are "
          "checked against the flags.")
  _define("string", "train_data_path", None,
          "With --input_meta_data_path: the training TFRecords "
          "(create_finetuning_data.py --train_data_output_path); "
          "comma-separated paths or glob patterns, e.g. for shards.")
  _define("string", "eval_data_path", None,
          "With --input_meta_data_path: the evaluation TFRecords "
          "(--eval_data_output_path); paths or glob patterns.")
  _define("string", "predict_data_path", None,
          "With --input_meta_data_path: the TFRecords to predict on "
          "(--test_data_output_path). Default: --eval_data_path, as Model "
          "Garden's --mode=predict.")


@_group
def define_file_task_flags():
  """--task_name=file: a task in CSV, TSV or JSON-lines files, by flags
  (run_classifier.py, create_finetuning_data.py)."""
  # allow_override: run_ner.py defines --train_file, --labels, ... of its own.
  _define("enum", "input_format", None,
          "--task_name=file: how the files are laid out. tsv: tab-separated, "
          "quotes are data (as GLUE's files); csv: RFC 4180 (quoted fields "
          "may hold commas, quotes and newlines); jsonl: one JSON object per "
          "line. Default: from the file extension (.tsv/.txt, .csv, "
          ".jsonl/.json).", enum_values=["tsv", "csv", "jsonl"],
          allow_override=True)
  for split in ("train", "dev", "test"):
    _define("string", "%s_file" % split, None,
            "--task_name=file: the %s file. Default: %s.<tsv|csv|jsonl> in "
            "--data_dir." % (split, split), allow_override=True)
  _define("string", "text_a_column", "text",
          "--task_name=file: the column of the (first) text: a header name "
          "or a 0-based index (a JSON key for jsonl).", allow_override=True)
  _define("string", "text_b_column", None,
          "--task_name=file: the column of the second text of a pair "
          "(optional).", allow_override=True)
  _define("string", "label_column", "label",
          "--task_name=file: the column of the label (name or 0-based index). "
          "Optional in the test file.", allow_override=True)
  _define("string", "id_column", None,
          "--task_name=file: a column of example ids (optional; default: the "
          "row number).", allow_override=True)
  _define("bool", "has_header", None,
          "--task_name=file: whether the first row of a tsv/csv file names "
          "the columns. Default: yes when a column is given by name, else "
          "detected and logged (a header's label is not a label: not one of "
          "--labels or of the training labels, or, in the training file, a "
          "value no other row has while the others repeat).",
          allow_override=True)
  _define("list", "labels", None,
          "--task_name=file: the labels, comma-separated, in the order of the "
          "model's outputs. Default: the labels of the training file, sorted. "
          "Either way they are written to <output_dir>/label_list.txt, which "
          "later runs on that directory read back.", allow_override=True)
  _define("bool", "skip_bad_rows", False,
          "--task_name=file: skip (and count) rows whose text is empty "
          "instead of stopping with an error.", allow_override=True)
  _define("bool", "multi_label", False,
          "--task_name=file: each row has a set of labels (separated by "
          "--label_separator in the label column, or a JSON list): a sigmoid "
          "per label with binary cross-entropy instead of a softmax.",
          allow_override=True)
  _define("string", "label_separator", ",",
          "With --multi_label: the separator of the labels in the label "
          "column.", allow_override=True)


@_group
def define_export_flags():
  """A SavedModel for serving, written at the end of the run."""
  _define("string", "export_dir", None,
          "Directory to write a SavedModel for serving, after training, "
          "evaluation and prediction, from the best checkpoint "
          "(<output_dir>/best/, with --eval_every_n_steps) or else the "
          "newest one in --output_dir (without --do_* flags: export only, "
          "from --output_dir or a fine-tuned --init_checkpoint). Each export "
          "is a new subdirectory <export_dir>/<unix timestamp>/ holding "
          "signatures serving_default (int32 input_ids, input_mask, "
          "segment_ids [batch, max_seq_length]) and, with tensorflow-text "
          "installed, serving_text (strings), and assets vocab.txt and "
          "bert_export.json (casing, sequence length, task, labels); "
          "predict.py and predictor.Predictor load it.")
  _define("enum", "export_precision", "fp32",
          "Precision of the --export_dir SavedModel. fp32: the model as "
          "trained. int8: its dense layers (98% of the work) quantised "
          "after training, weights per output channel and activations per "
          "batch, on TensorFlow's oneDNN int8 kernels: about 2x faster "
          "prediction on a CPU with AVX512_VNNI or AMX, within a few tenths "
          "of a point of fp32's accuracy (the export logs its difference "
          "from fp32 on a probe batch). Runs in TensorFlow and TF Serving "
          "on x86 with oneDNN on (this project's scripts turn it on; TF "
          "Serving on a CPU without AVX512 needs TF_ENABLE_ONEDNN_OPTS=1).",
          enum_values=["fp32", "int8"])
  _define("enum", "export_format", "saved_model",
          "What --export_dir holds. saved_model: the SavedModel (TF Serving, "
          "saved_model_cli, predict.py, predictor.Predictor). onnx: the "
          "SavedModel and, beside its saved_model.pb, model.onnx for ONNX "
          "Runtime or Triton: serving_default's inputs and outputs by the "
          "same names, checked against the SavedModel to 1e-4 before the "
          "export is kept (fp32 only; needs pip install -r "
          "requirements-onnx.txt).",
          enum_values=["saved_model", "onnx"])


@functools.lru_cache(maxsize=None)
def group_defaults():
  """{flag name: default} of every flag of every group, defined or not."""
  _defaults_only.append({})
  try:
    for name, define_fn in sorted(globals().items()):
      if name.startswith("define_") and name.endswith("_flags"):
        define_fn()
  finally:
    defaults = _defaults_only.pop()
  return defaults


@functools.lru_cache(maxsize=None)
def group_names():
  """{group name: (its flag names, in definition order)}."""
  names = {}
  for name, define_fn in sorted(globals().items()):
    if name.startswith("define_") and name.endswith("_flags"):
      _defaults_only.append({})
      try:
        define_fn()
      finally:
        names[name[len("define_"):-len("_flags")]] = tuple(
            _defaults_only.pop())
  return names


class Settings(object):
  """The settings of one run: a frozen value, built once in a script's
  `main()` (`from_flags`) and passed down, as the original passed values to
  `model_fn_builder`.

  It holds every flag of every group (a group the script did not define has
  its defaults, so the runtime needs no case for each script: extract_features
  has no --precision and runs in fp32) and the script's own flags. Read them
  as attributes (`settings.learning_rate`); `replace(**changes)` makes a new
  value; `group("training")` gives one group's flags as a dict, e.g. to
  record what a model was trained with. Library users and tests build one
  directly: `Settings(learning_rate=1e-4)` is the defaults but that.
  """

  __slots__ = ("_values",)

  def __init__(self, **values):
    merged = dict(group_defaults())
    merged.update(values)
    object.__setattr__(self, "_values", merged)

  def __getattr__(self, name):
    try:
      return self._values[name]
    except KeyError:
      raise AttributeError(
          "These settings have no %r: it is no flag of a shared group nor of "
          "the script that made them." % name)

  def __setattr__(self, name, value):
    raise AttributeError("Settings are frozen; use replace(%s=...)." % name)

  def __contains__(self, name):
    return name in self._values

  def __eq__(self, other):
    return isinstance(other, Settings) and self._values == other._values

  def __hash__(self):
    return hash(tuple(sorted((k, repr(v)) for k, v in self._values.items())))

  def __repr__(self):
    return "Settings(%s)" % ", ".join(
        "%s=%r" % kv for kv in sorted(self._values.items()))

  def replace(self, **changes):
    """A copy with `changes` applied."""
    values = dict(self._values)
    values.update(changes)
    return Settings(**values)

  def get(self, name, default=None):
    return self._values.get(name, default)

  def as_dict(self):
    return dict(self._values)

  def group(self, name):
    """{flag: value} of the flag group `name` ("training", "performance",
    ...; see `define`)."""
    return {flag: self._values[flag] for flag in group_names()[name]}


# Flags whose value converted records fix (their meta data has them): with
# --input_meta_data_path and not given, `from_flags` leaves them None, to be
# taken from the meta data (`finetuning_data.read_converted_data`); given,
# they must agree with it.
RECORD_FLAGS = ("max_seq_length", "doc_stride", "max_query_length",
                "version_2_with_negative")


def from_flags(flag_values=None):
  """The `Settings` of the parsed command line: the one place that turns
  flags into settings (Model Garden's spellings into the project's flags).
  A script's `main()` calls it once.

  Raises:
    UserError: Model Garden's and the project's spelling of a setting
      disagree, or a Model Garden flag has a value this project cannot
      honour (`resolve_model_garden_spellings`).
  """
  flag_values = FLAGS if flag_values is None else flag_values
  if flag_values.is_parsed():
    values = resolve_model_garden_spellings(flag_values)
    if values.get("input_meta_data_path"):
      for name in RECORD_FLAGS:
        if name in values and not _given(flag_values[name]):
          # The records' own (finetuning_data.read_converted_data), as in
          # Model Garden, whose scripts take them from the meta data.
          values[name] = None
  else:  # Library use before parsing: the defaults.
    values = {name: flag_values[name].default for name in flag_values
              if name not in _ALL_SPELLINGS}
  return Settings(**values)


def warn_if_tokenizer_settings_set(settings):
  """Warns that --never_split / --preserve_unused_tokens do nothing here.

  Every script that imports `tokenization` accepts both flags, those that
  tokenise no text (checkpoint conversion, TF Hub export) too; such a script
  calls this with its settings so that a user who sets them is told.
  """
  set_names = [name for name in tokenization.TOKENIZER_FLAGS
               if settings.get(name)]
  if set_names:
    logging.warning("%s: this script does not tokenise text, so the flag "
                    "has no effect.", ", ".join("--" + n for n in set_names))


# Model Garden's spellings (official/legacy/bert: common_flags.py,
# run_classifier.py, run_squad.py), so that the commands of its README run
# here. Each is defined beside the flag it spells, in the scripts that have
# that flag, and listed after it in --help; `from_flags` turns it into the
# project's flag, so nothing below a script's main() ever sees one.

# Model Garden's name: the project's flag it spells (same values).
MODEL_GARDEN_ALIASES = {
    "model_dir": "output_dir",
    "model_export_path": "export_dir",
    "steps_per_loop": "iterations_per_loop",
    "tpu": "tpu_name",
    "dtype": "precision",
    "enable_xla": "use_xla",
    "optimizer_type": "optimizer",
    "log_steps": "log_every_n_steps",
}

# --distribution_strategy values of Model Garden: the project's value
# (None: --use_tpu).
MODEL_GARDEN_STRATEGIES = {
    "off": "none",
    "one_device": "none",
    "collective": "multi_worker_mirrored",
    "tpu": None,
}

# --mode of Model Garden: what it runs.
MODEL_GARDEN_MODES = {
    "train_and_eval": ("train", "eval"),
    "train_and_predict": ("train", "predict"),
    "train": ("train",),
    "eval": ("eval",),
    "predict": ("predict",),
    "export_only": (),
}

# Model Garden flags with no counterpart here, listed beside the flag
# closest in meaning: {name: (that flag, kind, the values that change
# nothing here, what to do instead)}. Any other value is refused, since
# ignoring it would change the results silently.
MODEL_GARDEN_ONLY = {
    "end_lr": ("learning_rate", "float", (0.0,),
               "the learning rate decays linearly to 0 here "
               "(--learning_rate_decay chooses from where)"),
    "num_eval_per_epoch": ("eval_every_n_steps", "integer", (1,),
                           "use --eval_every_n_steps=<training steps>"),
    "predict_checkpoint_path": ("do_predict", "string", (),
                                "give the fine-tuned checkpoint as "
                                "--init_checkpoint, with an --output_dir that "
                                "holds no checkpoint of its own"),
    "run_eagerly": ("use_xla", "bool", (False,),
                    "this project runs TensorFlow graphs; drop the flag"),
    "loss_scale": ("precision", "string", ("dynamic",),
                   "--precision=fp16 scales the loss dynamically here"),
    "scale_loss": ("train_batch_size", "bool", (False,),
                   "the loss here is already the mean over the global batch"),
    "use_keras_compile_fit": ("use_xla", "bool", (False,),
                              "this project trains with an Estimator; drop "
                              "the flag"),
    "worker_hosts": ("distribution_strategy", "string", (),
                     "describe the machines in the TF_CONFIG environment "
                     "variable, with --distribution_strategy="
                     "multi_worker_mirrored"),
    "task_index": ("distribution_strategy", "integer", (-1,),
                   "give each machine's index in the TF_CONFIG environment "
                   "variable, with --distribution_strategy="
                   "multi_worker_mirrored"),
}

# Every flag name of Model Garden's that this module may define.
MODEL_GARDEN_FLAGS = frozenset(
    list(MODEL_GARDEN_ALIASES) + list(MODEL_GARDEN_ONLY) + ["mode"])

# The same for flags a script defines itself rather than by group (Model
# Garden's run_pretraining.py): run_pretraining calls `define_spellings`.
MODEL_GARDEN_SCRIPT_ALIASES = {
    "input_files": "input_file",
    "warmup_steps": "num_warmup_steps",
}
MODEL_GARDEN_SCRIPT_ONLY = {
    "train_summary_interval": ("num_train_steps", "bool", (False,),
                               "use --save_summary_steps=<steps>"),
    "use_next_sentence_label": ("max_predictions_per_seq", "bool", (True,),
                                "pre-training here always has the "
                                "next-sentence loss"),
}
_ALL_ALIASES = dict(MODEL_GARDEN_ALIASES, **MODEL_GARDEN_SCRIPT_ALIASES)
_ALL_ONLY = dict(MODEL_GARDEN_ONLY, **MODEL_GARDEN_SCRIPT_ONLY)
# Model Garden's run_pretraining.py trains --num_train_epochs epochs of
# --num_steps_per_epoch steps: --num_train_steps here, their product.
MODEL_GARDEN_EPOCH_STEPS = {"num_steps_per_epoch": 1000,
                            "num_train_epochs": 3}
_ALL_SPELLINGS = MODEL_GARDEN_FLAGS | frozenset(
    list(MODEL_GARDEN_SCRIPT_ALIASES) + list(MODEL_GARDEN_SCRIPT_ONLY) +
    ["num_steps_per_epoch"])

# Flags that only a Model Garden command gives, the data flags of
# create_finetuning_data.py's records among them (where a script has them):
# with one of them and neither --mode nor a --do_* flag, a run does Model
# Garden's default, --mode=train_and_eval, as its README's run_squad.py
# commands expect.
MODEL_GARDEN_DEFAULT_MODE_FLAGS = MODEL_GARDEN_FLAGS | frozenset(
    ["input_meta_data_path", "train_data_path", "eval_data_path",
     "input_files", "warmup_steps"])


def _model_garden_spellings_of(name):
  """The Model Garden flags listed beside the project's flag `name`."""
  spellings = [a for a, target in _ALL_ALIASES.items() if target == name]
  if name == "do_train":
    spellings.append("mode")
  if name == "num_train_steps":
    spellings.extend(MODEL_GARDEN_EPOCH_STEPS)
  spellings.extend(n for n, spec in _ALL_ONLY.items() if spec[0] == name)
  return spellings


def _with_model_garden_spellings(names):
  """`names` with each flag's Model Garden spellings right after it."""
  expanded = []
  for name in names:
    expanded.append(name)
    expanded.extend(_model_garden_spellings_of(name))
  return tuple(expanded)


class _AliasFlag(flags.Flag):
  """A second name of the flag `target`, parsed as it is.

  On the command line it also sets `target` (unless that is given as well),
  so that a script's required --output_dir is satisfied by --model_dir;
  `from_flags` checks that both, if given, agree.
  """

  def __init__(self, name, target, help_text):
    super(_AliasFlag, self).__init__(
        target.parser, target.serializer, name, None, help_text,
        boolean=target.boolean)
    self.target = target

  def parse(self, argument):
    super(_AliasFlag, self).parse(argument)
    if not self.target.present:
      self.target.value = self.value


def _define_model_garden_spellings(names):
  """Defines the Model Garden spellings of the flags `names`; returns the
  spellings' names."""
  defined = []
  for name in names:
    for spelling in _model_garden_spellings_of(name):
      if spelling not in FLAGS:
        _define_model_garden_flag(spelling)
      defined.append(spelling)
  return defined


def define_spellings(names):
  """Defines the Model Garden spellings of a script's own flags `names` and
  lists them in the calling script's --help."""
  _register(_define_model_garden_spellings(names), _calling_module_name(1))


def _define_model_garden_flag(name):
  if name in _ALL_ALIASES:
    target = _ALL_ALIASES[name]
    flags.DEFINE_flag(_AliasFlag(
        name, FLAGS[target],
        "Model Garden's name for --%s (same values); giving both with "
        "different values is an error." % target))
  elif name in MODEL_GARDEN_EPOCH_STEPS:
    # A float num_train_epochs, as the fine-tuning scripts' flag of that name
    # (which it is, where a script has both).
    getattr(flags, "DEFINE_" + (
        "integer" if name == "num_steps_per_epoch" else "float"))(
            name, None,
            "Model Garden's run_pretraining.py: --num_train_steps is "
            "--num_steps_per_epoch (default %d) x --num_train_epochs (default "
            "%d) when either is given." % tuple(
                MODEL_GARDEN_EPOCH_STEPS.values()))
  elif name == "mode":
    flags.DEFINE_enum(
        "mode", None, list(MODEL_GARDEN_MODES),
        "Model Garden's way to say what a run does, instead of --do_train, "
        "--do_eval, --do_predict: train_and_eval, train_and_predict, train, "
        "eval, predict (run_squad: eval and predict are --do_predict, whose "
        "EM/F1 are computed when --predict_file holds answers), export_only "
        "(no training: a SavedModel of the newest checkpoint of --output_dir "
        "into --export_dir / --model_export_path). With --mode=predict, "
        "--eval_batch_size is the prediction batch as in Model Garden. "
        "Unset while another Model Garden name is given and no --do_* flag "
        "is: train_and_eval, Model Garden's default.")
  else:
    _, kind, harmless, instead = _ALL_ONLY[name]
    getattr(flags, "DEFINE_" + kind)(
        name, None,
        "Model Garden's flag, accepted here only %s: %s." % (
            "as " + " or ".join(str(v) for v in harmless) if harmless else
            "unset", instead))


def _given(flag):
  """Whether `flag` was set: on the command line, or by assignment."""
  return bool(flag.present) or flag.value != flag.default


def resolve_model_garden_spellings(flag_values):
  """{flag: value} of the parsed `flag_values`, each Model Garden spelling
  turned into the project's flag (and then dropped).

  Raises:
    UserError: both spellings of a setting with different values, --mode
      against a --do_* flag, or a Model Garden flag at a value that would
      change results here.
  """
  values = flag_values.flag_values_dict()
  given = {name for name in values if name in _ALL_SPELLINGS and
           _given(flag_values[name])}
  said = []
  for name in sorted(given & set(_ALL_ONLY)):
    _, _, harmless, instead = _ALL_ONLY[name]
    if values[name] not in harmless:
      raise UserError(
          "--%s=%s: Model Garden's flag has no counterpart here: %s." %
          (name, values[name], instead))
  for alias in sorted(given & set(_ALL_ALIASES)):
    target = _ALL_ALIASES[alias]
    if (_given(flag_values[target]) and
        flag_values[target].value != values[alias]):
      raise UserError(
          "--%s=%s and --%s=%s disagree: --%s is Model Garden's name for "
          "--%s; give one of them." % (
              alias, values[alias], target, flag_values[target].value, alias,
              target))
    values[target] = values[alias]
    said.append("--%s as --%s" % (alias, target))
  said.extend(_resolve_epoch_steps(values, flag_values))
  said.extend(_resolve_strategy(values, flag_values))
  said.extend(_resolve_mode(values, flag_values))
  if said:
    logging.info("Model Garden flag names: %s.", "; ".join(said))
  return {name: value for name, value in values.items()
          if name not in _ALL_SPELLINGS}


def _resolve_epoch_steps(values, flag_values):
  """--num_steps_per_epoch x --num_train_epochs as --num_train_steps, in a
  script whose --num_train_epochs is Model Garden's (no --warmup_proportion:
  run_pretraining)."""
  if "num_steps_per_epoch" not in values or "warmup_proportion" in values:
    return []
  given = [n for n in MODEL_GARDEN_EPOCH_STEPS if _given(flag_values[n])]
  epochs = values.pop("num_train_epochs")
  if not given:
    return []
  per_epoch = values["num_steps_per_epoch"]
  steps = int(
      (MODEL_GARDEN_EPOCH_STEPS["num_steps_per_epoch"] if per_epoch is None
       else per_epoch) *
      (MODEL_GARDEN_EPOCH_STEPS["num_train_epochs"] if epochs is None
       else epochs))
  if (_given(flag_values["num_train_steps"]) and
      values["num_train_steps"] != steps):
    raise UserError(
        "--%s and --num_train_steps=%d disagree: Model Garden's "
        "--num_steps_per_epoch x --num_train_epochs is %d training steps; "
        "give one of them." % (
            " --".join("%s=%s" % (n, flag_values[n].value) for n in given),
            values["num_train_steps"], steps))
  values["num_train_steps"] = steps
  return ["--num_steps_per_epoch x --num_train_epochs as --num_train_steps=%d"
          % steps]


def _resolve_strategy(values, flag_values):
  """--distribution_strategy=tpu|off|one_device|collective, --num_gpus=-1."""
  said = []
  strategy = values.get("distribution_strategy")
  if strategy in MODEL_GARDEN_STRATEGIES:
    if strategy == "tpu":
      if "use_tpu" not in values:
        raise UserError(
            "--distribution_strategy=tpu: this script does not run on TPUs.")
      if flag_values["use_tpu"].present and not values["use_tpu"]:
        raise UserError(
            "--distribution_strategy=tpu and --nouse_tpu disagree; give one "
            "of them.")
      values["use_tpu"] = True
      said.append("--distribution_strategy=tpu as --use_tpu")
    values["distribution_strategy"] = MODEL_GARDEN_STRATEGIES[strategy] or (
        "none")
    if strategy != "tpu":
      said.append("--distribution_strategy=%s as %s" % (
          strategy, values["distribution_strategy"]))
  if values.get("num_gpus", 0) < 0:
    if values["num_gpus"] != -1:
      raise UserError(
          "--num_gpus=%d: give a number of GPUs, 0 for the CPU, or -1 for "
          "all of them." % values["num_gpus"])
    import quiet_tensorflow  # pylint: disable=g-import-not-at-top,unused-import
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    values["num_gpus"] = len(tf.config.list_physical_devices("GPU"))
    said.append("--num_gpus=-1 as --num_gpus=%d (all)" % values["num_gpus"])
  return said


def _resolve_mode(values, flag_values):
  """--mode as --do_train / --do_eval / --do_predict (and export only)."""
  do_flags = [n for n in ("do_train", "do_eval", "do_predict") if n in values]
  mode = values.get("mode")
  model_garden_command = any(
      _given(flag_values[n]) for n in MODEL_GARDEN_DEFAULT_MODE_FLAGS
      if n in values)
  if (mode is None and "mode" in values and model_garden_command and
      not any(_given(flag_values[n]) for n in do_flags)):
    # Model Garden's default; its run_pretraining.py (--input_files) only
    # trains.
    mode = ("train" if "input_files" in values and
            _given(flag_values["input_files"]) else "train_and_eval")
    said = ["no --mode nor --do_*: Model Garden's default --mode=" + mode]
  elif mode is None:
    return []
  else:
    said = []
  wanted = dict.fromkeys(do_flags, False)
  for action in MODEL_GARDEN_MODES[mode]:
    name = "do_" + action
    if name not in values and action == "eval":
      name = "do_predict"  # run_squad evaluates its predictions.
    if name not in values:
      raise UserError(
          "--mode=%s: this script cannot %s; its --mode values are %s." % (
              mode, action, ", ".join(_modes_of(values))))
    wanted[name] = True
  if mode == "export_only" and not values.get("export_dir"):
    raise UserError(
        "--mode=export_only needs --export_dir (or --model_export_path): the "
        "directory to write the SavedModel to." if "export_dir" in values
        else "--mode=export_only: this script exports no SavedModel.")
  for name in do_flags:
    if _given(flag_values[name]) and values[name] != wanted[name]:
      raise UserError(
          "--mode=%s and --%s=%s disagree: --mode=%s means %s; give one of "
          "them." % (mode, name, str(values[name]).lower(), mode,
                     " ".join("--" + n for n in do_flags if wanted[n]) or
                     "no --do_* flag"))
    values[name] = wanted[name]
  if (mode == "predict" and "do_eval" in values and
      _given(flag_values["eval_batch_size"]) and
      not _given(flag_values["predict_batch_size"])):
    # Model Garden's run_classifier predicts in batches of eval_batch_size.
    values["predict_batch_size"] = values["eval_batch_size"]
    said.append("--eval_batch_size as --predict_batch_size")
  said.append("--mode=%s as %s" % (mode, " ".join(
      "--" + n for n in do_flags if wanted[n]) or "export only"))
  return said


def _modes_of(values):
  """The --mode values a script with the flags `values` can run."""
  can = {"train": "do_train" in values, "predict": "do_predict" in values,
         "eval": "do_eval" in values or "do_predict" in values}
  return [mode for mode, actions in MODEL_GARDEN_MODES.items()
          if all(can[a] for a in actions) and
          (actions or "export_dir" in values)]
