"""SavedModel export (`--export_dir`): a model that stands alone.

Every export is a directory `<export_dir>/<unix timestamp>/`, written as
`temp-<timestamp>/` and renamed when complete, holding a TF1 SavedModel (tag
`serve`) with

  signatures
    serving_default    int32 input_ids, input_mask, segment_ids
                       [batch, max_seq_length] -> the model's predictions
                       (probabilities, or start_logits / end_logits);
                       classification and regression take any length up
                       to max_seq_length, [batch, length] (a batch cut to
                       its longest input costs no work on padding)
    serving_text       (only with the optional package tensorflow-text)
                       string [batch] inputs, tokenised in the graph with TF
                       Text's BertTokenizer into the ids above: text_a and,
                       for sentence pairs, text_b ("" for none) for
                       classification; question and context for SQuAD.
                       Not for a model trained with --never_split or
                       --preserve_unused_tokens, which TF Text's tokenizer
                       cannot reproduce (the export says so in its log)
  assets
    vocab.txt          the vocabulary the model was trained with
    bert_export.json   what a client needs besides the vocabulary:
                       {"format": "bert-savedmodel", "format_version": 1,
                        "task": "classification" | "regression" | "squad"
                                | "token_classification",
                        "labels": [names in get_labels() order] | null,
                        "do_lower_case": bool, "max_seq_length": int,
                        "signatures": {name: [input names]},
                        ... task parameters (SQuAD: doc_stride, ...),
                        ... the run's task description (task_description.py:
                        kind, multi_label_threshold, never_split,
                        preserve_unused_tokens, window_aggregation, ...)}

`predictor.Predictor` reads this layout; `export_format.read_metadata`
checks it.
The graph is built here (not by `Estimator.export_saved_model`, which writes
one receiver per signature and no assets of ours), from the script's
`model_fn` in PREDICT mode, and restored from the checkpoint being exported.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import json
import os
import shutil
import tempfile
import time

import numpy as np

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import export_format
import int8_graph
import onnx_export
import task_description

# The layout's names (export_format is the library module that the predictor
# reads exports with).
SERVING_INPUTS = export_format.SERVING_INPUTS
TEXT_SIGNATURE = export_format.TEXT_SIGNATURE
METADATA_FILE = export_format.METADATA_FILE
VOCAB_FILE = export_format.VOCAB_FILE
TASKS = export_format.TASKS
# --export_precision: the float32 model, or its dense layers in int8.
PRECISIONS = ("fp32", "int8")
# --export_format: the SavedModel alone, or with model.onnx beside it.
FORMATS = ("saved_model", "onnx")
tensorflow_text = export_format.tensorflow_text
# The string inputs of serving_text for each task; the second one may be "".
TEXT_INPUTS = {
    "classification": ("text_a", "text_b"),
    "regression": ("text_a", "text_b"),
    "squad": ("question", "context"),
}


def check_export_dir(export_dir, output_dir, will_train, init_checkpoint=None,
                     precision="fp32", output_format="saved_model"):
  """Fails before any work if `--export_dir` could not be written at the end.

  Without training, the export is of the newest checkpoint in `output_dir`
  or else of `init_checkpoint` (`checkpoint_to_export`): one must exist.
  An int8 export (`precision`) needs TensorFlow's oneDNN kernels; an ONNX
  one (`output_format`) the ONNX extra and fp32.
  """
  if not export_dir:
    return
  _check_precision(precision)
  _check_format(output_format, precision)
  if tf.io.gfile.exists(export_dir) and not tf.io.gfile.isdir(export_dir):
    raise UserError(
        "--export_dir=%s is a file, not a directory: SavedModels are written "
        "to new subdirectories of it." % export_dir)
  try:
    tf.io.gfile.makedirs(export_dir)
  except (tf.errors.OpError, OSError) as e:
    raise UserError("--export_dir=%s cannot be created: %s" % (export_dir, e))
  if not will_train:
    checkpoint_to_export(output_dir, init_checkpoint)


def _check_precision(precision):
  if precision not in PRECISIONS:
    raise UserError("--export_precision=%s: expected one of %s." %
                    (precision, ", ".join(PRECISIONS)))
  kernels_off = precision == "int8" and int8_graph.onednn_disabled()
  if kernels_off:
    raise UserError("--export_precision=int8: %s." % kernels_off)


def _check_format(output_format, precision):
  if output_format not in FORMATS:
    raise UserError("--export_format=%s: expected one of %s." %
                    (output_format, ", ".join(FORMATS)))
  if output_format != "onnx":
    return
  if precision != "fp32":
    raise UserError(
        "--export_format=onnx writes the fp32 model (not --export_precision="
        "%s): for int8 in ONNX Runtime, quantise model.onnx with "
        "onnxruntime.quantization.quantize_dynamic." % precision)
  missing = onnx_export.missing_packages()
  if missing:
    raise UserError("--export_format=onnx needs %s, not installed: %s" % (
        ", ".join(missing), onnx_export.INSTALL))


def checkpoint_to_export(output_dir, init_checkpoint=None):
  """The newest checkpoint in `output_dir`, else `init_checkpoint`.

  Whether `init_checkpoint` holds the task head too is checked when the
  graph is restored from it (`export_saved_model`).
  """
  latest = tf.train.latest_checkpoint(output_dir) if output_dir else None
  if latest:
    return latest
  if init_checkpoint and tf.io.gfile.exists(init_checkpoint + ".index"):
    return init_checkpoint
  raise UserError(
      "--export_dir exports the model trained in --output_dir=%s, which has "
      "no checkpoint: add --do_train, or point --output_dir (or "
      "--init_checkpoint) at a fine-tuned model." % output_dir)


def serving_input_receiver_fn(seq_length):
  """Receiver of int32 `SERVING_INPUTS`, [batch, seq_length] each (for
  `Estimator.export_saved_model` users; the export here builds its own)."""

  def receiver_fn():
    inputs = {
        name: tf.placeholder(tf.int32, [None, seq_length], name=name)
        for name in SERVING_INPUTS
    }
    return tf.estimator.export.ServingInputReceiver(inputs, inputs)

  return receiver_fn


def export_metadata(task, max_seq_length, do_lower_case, labels=None,
                    description=None, **task_params):
  """The bert_export.json dict of a script's export (see the module doc).

  `description` (a `task_description.TaskDescription`) adds its fields
  (`task_description.export_fields`): the multi-label threshold and the
  tokenizer options a client must use as training did.
  """
  if task not in TASKS:
    raise UserError("Unknown task kind %r; expected one of %s." %
                     (task, ", ".join(TASKS)))
  metadata = {
      "format": export_format.FORMAT,
      "format_version": export_format.FORMAT_VERSION, "task": task,
      "labels": None if labels is None else [str(l) for l in labels],
      "do_lower_case": bool(do_lower_case),
      "max_seq_length": int(max_seq_length),
  }
  if description is not None:
    metadata.update(task_description.export_fields(description))
  metadata.update(task_params)
  return metadata


def export_run(settings, estimator, description, checkpoint_path=None,
               **task_params):
  """A training script's --export_dir step: `checkpoint_path` (default: the
  newest checkpoint of --output_dir, else a fine-tuned --init_checkpoint) as
  a SavedModel of --max_seq_length with --vocab_file, and `description` (a
  `task_description.TaskDescription`: task, labels, threshold, tokenizer
  options) with `task_params` in its metadata."""
  return export_saved_model(
      estimator, settings.export_dir, settings.max_seq_length,
      metadata=export_metadata(
          task_description.export_task(description), settings.max_seq_length,
          settings.do_lower_case, description.labels, description=description,
          **task_params),
      vocab_file=settings.vocab_file,
      checkpoint=checkpoint_path or checkpoint_to_export(
          settings.output_dir, settings.init_checkpoint),
      precision=settings.get("export_precision") or "fp32",
      output_format=settings.get("export_format") or "saved_model")


def export_saved_model(estimator, export_dir, seq_length, metadata=None,
                       vocab_file=None, checkpoint=None, text_signature=True,
                       precision="fp32", output_format="saved_model"):
  """Writes a checkpoint as a SavedModel (see the module doc for the layout).

  Args:
    estimator: the script's estimator; its model_fn builds the graph.
    export_dir: the SavedModel is written to a new `<timestamp>/` in it.
    seq_length: the sequence length of the inputs.
    metadata: the `export_metadata` dict; without it (old callers) the
      export has serving_default alone and no assets.
    vocab_file: the vocabulary, copied into the SavedModel's assets.
    checkpoint: what to export; default the newest in the model directory.
    text_signature: whether to add serving_text (if tensorflow-text is
      installed and the task has one).
    precision: "fp32", or "int8" for the dense layers quantised
      (`int8_graph`; needs metadata).
    output_format: "saved_model", or "onnx" for `onnx_export.ONNX_FILE`
      beside it too, checked against it (needs metadata).

  Returns:
    the path of the SavedModel.
  """
  checkpoint = checkpoint or tf.train.latest_checkpoint(estimator.model_dir)
  if not checkpoint:
    raise UserError("No checkpoint in %s to export." % estimator.model_dir)
  _check_precision(precision)
  _check_format(output_format, precision)
  if output_format == "onnx" and metadata is None:
    raise UserError("An ONNX export needs the export's metadata.")
  weight_max = None
  if precision == "int8":
    if metadata is None:
      raise UserError("An int8 export needs the export's metadata.")
    weight_max = int8_graph.weight_max_here()
    metadata = dict(metadata, precision=precision,
                    quantization=int8_graph.DESCRIPTION,
                    int8_weight_max=weight_max)
  elif metadata is not None:
    metadata = dict(metadata, precision=precision)
  text_inputs = None
  any_length = (metadata is not None and
                metadata["task"] in export_format.ANY_LENGTH_TASKS)
  if metadata is not None and text_signature:
    text_inputs = TEXT_INPUTS.get(metadata["task"])
    if text_inputs and tensorflow_text() is None:
      tf.logging.warning(
          "tensorflow-text is not installed: the SavedModel gets the "
          "serving_default signature only (token ids in), not %s (strings "
          "in). For it: %s", TEXT_SIGNATURE,
          export_format.TENSORFLOW_TEXT_INSTALL)
      text_inputs = None
    kept = _kept_tokens(metadata)
    if text_inputs and kept:
      # TF Text's BertTokenizer has no never_split, and its
      # preserve_unused_token also splits [unusedN] out of words, which
      # FullTokenizer does not: the strings would not become training's ids.
      tf.logging.warning(
          "The model was trained with %s, which the in-graph tokenizer of "
          "%s (TF Text) cannot reproduce: the SavedModel gets the "
          "serving_default signature only (token ids in). Tokenise with "
          "predictor.Predictor, which applies them.", kept, TEXT_SIGNATURE)
      text_inputs = None
  staging = tempfile.mkdtemp(prefix="bert_export_assets_")
  try:
    assets = _stage_assets(staging, metadata, vocab_file, text_inputs)
    final_path, temp_dir = _new_export_paths(export_dir)
    try:
      _write_saved_model(estimator, checkpoint, seq_length, assets,
                         text_inputs, any_length, temp_dir, precision,
                         weight_max)
      if output_format == "onnx":
        difference = _write_onnx(temp_dir, assets, seq_length)
      tf.io.gfile.rename(temp_dir, final_path)
    except BaseException:
      if tf.io.gfile.exists(temp_dir):
        tf.io.gfile.rmtree(temp_dir)
      raise
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  tf.logging.info("Exported a%s SavedModel to %s (from %s; signatures: %s)",
                  "n int8" if precision == "int8" else "", final_path,
                  checkpoint,
                  ", ".join(["serving_default"] +
                            ([TEXT_SIGNATURE] if text_inputs else [])))
  if output_format == "onnx":
    tf.logging.info("Wrote %s beside it: outputs within %.2g of the "
                    "SavedModel's on sample inputs (tolerance %g)",
                    onnx_export.ONNX_FILE, difference,
                    onnx_export.TOLERANCE)
  return final_path


def _write_onnx(path, assets, seq_length):
  """model.onnx beside the SavedModel at `path`, its check recorded in the
  export's bert_export.json."""
  try:
    _, difference = onnx_export.write_onnx(
        path, len(_read_vocab(assets["vocab"])), seq_length)
  except ValueError as e:
    raise UserError("--export_format=onnx: %s." % e)
  meta = os.path.join(path, "assets", METADATA_FILE)
  with open(meta, encoding="utf-8") as f:
    metadata = json.load(f)
  metadata["onnx"] = {"file": onnx_export.ONNX_FILE,
                      "opset": onnx_export.OPSET,
                      "max_difference": difference,
                      "tolerance": onnx_export.TOLERANCE}
  _write_metadata(meta, metadata)
  return difference


def _write_metadata(path, metadata):
  """bert_export.json as every export writes it (sorted keys, indented)."""
  with open(path, "w", encoding="utf-8") as f:
    json.dump(metadata, f, indent=2, sort_keys=True)
    f.write("\n")


def _kept_tokens(metadata):
  """The tokenizer options of `metadata` that keep tokens whole, as flags
  ("--never_split=XYZ"), or "" if none is set."""
  kept = []
  if metadata.get("never_split"):
    kept.append("--never_split=%s" % ",".join(metadata["never_split"]))
  if metadata.get("preserve_unused_tokens"):
    kept.append("--preserve_unused_tokens")
  return " and ".join(kept)


def _stage_assets(staging, metadata, vocab_file, text_inputs):
  """Writes the asset files under their SavedModel names in `staging`.

  Returns:
    {"vocab": path, "metadata": path} (empty without metadata).
  """
  if metadata is None:
    return {}
  if not vocab_file:
    raise UserError("An export with metadata needs its vocab_file.")
  metadata = dict(metadata, signatures={"serving_default": list(
      SERVING_INPUTS)})
  if text_inputs:
    metadata["signatures"][TEXT_SIGNATURE] = list(text_inputs)
  vocab = os.path.join(staging, VOCAB_FILE)
  tf.io.gfile.copy(vocab_file, vocab, overwrite=True)
  meta = os.path.join(staging, METADATA_FILE)
  _write_metadata(meta, metadata)
  return {"vocab": vocab, "metadata": meta,
          "do_lower_case": metadata["do_lower_case"],
          "max_query_length": metadata.get("max_query_length")}


def _new_export_paths(export_dir):
  """(`<export_dir>/<timestamp>`, `<export_dir>/temp-<timestamp>`), unused."""
  tf.io.gfile.makedirs(export_dir)
  stamp = int(time.time())
  while (tf.io.gfile.exists(os.path.join(export_dir, str(stamp))) or
         tf.io.gfile.exists(os.path.join(export_dir, "temp-%d" % stamp))):
    stamp += 1
  return (os.path.join(export_dir, str(stamp)),
          os.path.join(export_dir, "temp-%d" % stamp))


def _write_saved_model(estimator, checkpoint, seq_length, assets, text_inputs,
                       any_length, path, precision="fp32", weight_max=None):
  with tf.Graph().as_default() as graph:
    id_inputs, string_inputs = _inputs(seq_length, assets, text_inputs,
                                       any_length)
    features = _checked_length(id_inputs, seq_length) if any_length else dict(
        id_inputs)
    spec = estimator._call_model_fn(  # pylint: disable=protected-access
        features, None, tf.estimator.ModeKeys.PREDICT,
        estimator.config)
    outputs = spec.predictions
    if not isinstance(outputs, dict):
      outputs = {"output": outputs}
    signatures = {"serving_default": _signature(id_inputs, outputs)}
    if string_inputs:
      signatures[TEXT_SIGNATURE] = _signature(string_inputs, outputs)
    for key in ("vocab", "metadata"):
      if key in assets:
        tf.add_to_collection(tf.GraphKeys.ASSET_FILEPATHS,
                             tf.constant(assets[key], name="asset_" + key))
    # Ours, and those the graph added (serving_text's vocabulary table).
    asset_files = tf.get_collection(tf.GraphKeys.ASSET_FILEPATHS)
    main_op = tf.group(tf.tables_initializer(),
                       tf.local_variables_initializer(), name="main_op")
    saver = tf.train.Saver(sharded=True)
    with tf.Session() as sess:
      _restore(sess, saver, checkpoint)
      if precision == "int8":
        frozen = _frozen(sess, graph, signatures, asset_files + [main_op])
      else:
        _save(sess, path, signatures, asset_files, main_op, saver)
  if precision == "int8":
    _write_int8_saved_model(frozen, signatures, asset_files, main_op, id_inputs,
                            seq_length, len(_read_vocab(assets["vocab"])),
                            path, weight_max)


def _save(sess, path, signatures, asset_files, main_op, saver=None):
  builder = tf.saved_model.Builder(path)
  builder.add_meta_graph_and_variables(
      sess, [tf.saved_model.tag_constants.SERVING],
      signature_def_map=signatures, assets_collection=asset_files,
      main_op=main_op, strip_default_attrs=True, saver=saver)
  builder.save()


def _frozen(sess, graph, signatures, kept):
  """The graph with its variables as constants, cut to what the signatures
  and the `kept` tensors or ops need."""
  names = set(op.name for op in (getattr(k, "op", k) for k in kept))
  for signature in signatures.values():
    for info in list(signature.inputs.values()) + list(
        signature.outputs.values()):
      names.add(info.name.split(":")[0])
  return tf.graph_util.convert_variables_to_constants(
      sess, graph.as_graph_def(), sorted(names))


def _write_int8_saved_model(frozen, signatures, asset_files, main_op,
                            id_inputs, seq_length, vocab_size, path,
                            weight_max):
  """Writes the frozen graph with its dense layers in int8 (int8_graph), after
  checking it against the float32 graph on a probe batch."""
  quantized, report = int8_graph.quantize_dense_matmuls(
      frozen, weight_max=weight_max)
  if not report.quantized:
    raise UserError("--export_precision=int8: the model has no dense layer "
                    "to quantise (%s)." % "; ".join(
                        "%s: %s" % kept for kept in report.kept[:3]))
  _log_int8_difference(frozen, quantized, signatures["serving_default"],
                       id_inputs, seq_length, vocab_size)
  if weight_max < int8_graph.WEIGHT_MAX:
    tf.logging.info(
        "--export_precision=int8: weights up to %d, not %d: this CPU has no "
        "int8 dot-product instructions, and larger ones would saturate "
        "oneDNN's 16-bit sums here (the export is exact on every CPU). %s",
        weight_max, int8_graph.WEIGHT_MAX,
        int8_graph.SPEED_WITHOUT_DOT_PRODUCTS)
  with tf.Graph().as_default() as graph:
    tf.import_graph_def(quantized, name="")
    with tf.Session() as sess:
      _save(sess, path, signatures,
            [graph.get_tensor_by_name(a.name) for a in asset_files],
            graph.get_operation_by_name(main_op.name))
  tf.logging.info("int8 export: %d dense layers quantised, %d kept float32 "
                  "(%s)", len(report.quantized), len(report.kept),
                  "; ".join("%s: %s" % kept for kept in report.kept) or "none")


def _log_int8_difference(frozen, quantized, signature, id_inputs, seq_length,
                         vocab_size):
  """Logs the largest difference of the int8 outputs from the float32 ones
  on a probe batch of ids, so that an export says how far it is off."""
  # Ids past the special tokens at the head of a BERT vocabulary.
  ids = np.random.RandomState(0).randint(min(999, vocab_size - 1), vocab_size,
                                         size=[4, seq_length])
  probe = {"input_ids": ids, "input_mask": np.ones_like(ids),
           "segment_ids": np.zeros_like(ids)}
  feeds = {signature.inputs[k].name: probe[k] for k in id_inputs}
  fetches = {k: v.name for k, v in signature.outputs.items()}
  results = []
  for graph_def in (frozen, quantized):
    with tf.Graph().as_default():
      tf.import_graph_def(graph_def, name="")
      with tf.Session() as sess:
        results.append(sess.run(fetches, feeds))
  for name in sorted(fetches):
    tf.logging.info(
        "int8 export: %s within %.4g of float32's on a probe batch (4 "
        "random sequences of %d ids)", name,
        np.max(np.abs(results[0][name].astype(np.float64) -
                      results[1][name])), seq_length)


def _restore(sess, saver, checkpoint):
  """Restores every variable of the graph from `checkpoint`, or says which
  ones it lacks (a pre-trained checkpoint has no task head)."""
  available = set(name for name, _ in tf.train.list_variables(checkpoint))
  missing = [v.op.name for v in tf.global_variables()
             if v.op.name not in available]
  if missing:
    raise UserError(
        "Checkpoint %s lacks %d variable(s) of the model, e.g. %s: it is not "
        "a fine-tuned checkpoint of this script and task (a pre-trained one "
        "has no task head). Export the checkpoint of a fine-tuning run "
        "(--output_dir of --do_train)." %
        (checkpoint, len(missing), ", ".join(missing[:3])))
  saver.restore(sess, checkpoint)


def _signature(inputs, outputs):
  return tf.saved_model.signature_def_utils.predict_signature_def(
      inputs=inputs, outputs=outputs)


def _checked_length(id_inputs, seq_length):
  """The id inputs, failing at run time when longer than `seq_length` (the
  model was fine-tuned no longer; the position table would still run)."""
  length = tf.shape(id_inputs["input_ids"])[1]
  check = tf.debugging.assert_less_equal(
      length, seq_length, message="inputs longer than the model's "
      "max_seq_length=%d: cut them as bert_inputs.classifier_inputs does" %
      seq_length)
  with tf.control_dependencies([check]):
    return {name: tf.identity(value) for name, value in id_inputs.items()}


def _inputs(seq_length, assets, text_inputs, any_length=False):
  """(the id inputs, the string inputs or None).

  With `text_inputs`, the ids default to the in-graph tokenisation of the
  strings (`tf.placeholder_with_default`): serving_default feeds the ids and
  never runs the tokenizer, serving_text feeds the strings. `any_length`:
  ids [batch, any length <= seq_length], and the strings' ids padded to the
  batch's longest.
  """
  id_shape = [None, None if any_length else seq_length]
  if not text_inputs:
    return {name: tf.placeholder(tf.int32, id_shape, name=name)
            for name in SERVING_INPUTS}, None
  first = tf.placeholder(tf.string, [None], name=text_inputs[0])
  second = tf.placeholder_with_default(
      tf.fill(tf.shape(first), ""), [None], name=text_inputs[1])
  from_text = text_to_ids(first, second, assets["vocab"],
                          assets["do_lower_case"], seq_length,
                          assets.get("max_query_length"),
                          pad_to_longest=any_length)
  ids = {name: tf.placeholder_with_default(from_text[name], id_shape,
                                           name=name)
         for name in SERVING_INPUTS}
  return ids, {text_inputs[0]: first, text_inputs[1]: second}


def text_to_ids(first, second, vocab_file, do_lower_case, seq_length,
                max_query_length=None, pad_to_longest=False):
  """`SERVING_INPUTS` of string tensors [batch], tokenised in the graph.

  Classification: the layout and truncation of
  `bert_inputs.classifier_inputs` (a pair when `second` tokenises to
  anything, else a single sentence). SQuAD (`max_query_length` set): as
  run_squad.py's first window, `[CLS] question [SEP] context [SEP]` with the
  question cut to `max_query_length` pieces and the context to the room
  left; a longer context needs the predictor's windows (`predictor.py`).
  Padded to `seq_length`, or with `pad_to_longest` to the batch's longest.
  """
  text = tensorflow_text()
  table = tf.lookup.StaticVocabularyTable(
      tf.lookup.TextFileInitializer(
          vocab_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
          tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
      num_oov_buckets=1)
  vocab = _read_vocab(vocab_file)
  # Casing and accents are done here, as FullTokenizer does them, not by TF
  # Text's lower_case=True: that one is NFKC case folding, which also maps
  # compatibility characters ("½" to "1⁄2", "µ" to "μ", "³" to "3").
  tokenizer = text.BertTokenizer(
      table, token_out_type=tf.int64, lower_case=False,
      unknown_token="[UNK]",
      # FullTokenizer's WordpieceTokenizer gives [UNK] past 200 characters;
      # TF Text counts bytes (the same for ASCII).
      max_bytes_per_word=200)
  first = _normalize(first, do_lower_case, text)
  second = _normalize(second, do_lower_case, text)
  pieces_a = tokenizer.tokenize(first).merge_dims(1, 2)
  pieces_b = tokenizer.tokenize(second).merge_dims(1, 2)
  return _layout(pieces_a, pieces_b, vocab["[CLS]"], vocab["[SEP]"],
                 seq_length, max_query_length, pad_to_longest)


def _normalize(strings, do_lower_case, text):
  """FullTokenizer's cleaning and (uncased) lower-casing and accent stripping.

  Control and format characters (Unicode Cc, Cf), NUL and U+FFFD go;
  tab, newline and carriage return are white space. Uncased: lower case,
  NFD, then no combining marks (Mn).
  """
  strings = tf.strings.regex_replace(strings, r"[\t\n\r]", " ")
  strings = tf.strings.regex_replace(strings, r"[\p{Cc}\p{Cf}\x{FFFD}]", "")
  if not do_lower_case:
    return strings
  strings = text.normalize_utf8(tf.strings.lower(strings, encoding="utf-8"),
                                "NFD")
  return tf.strings.regex_replace(strings, r"\p{Mn}", "")


def _read_vocab(vocab_file):
  with tf.io.gfile.GFile(vocab_file, "r") as f:
    return {line.strip(): i for i, line in enumerate(f)}


def _layout(pieces_a, pieces_b, cls_id, sep_id, seq_length, max_query_length,
            pad_to_longest):
  """[CLS] A [SEP] (B [SEP]) of ragged piece ids, truncated and padded."""
  len_a = pieces_a.row_lengths()
  len_b = pieces_b.row_lengths()
  if max_query_length:
    kept_a = tf.minimum(len_a, max_query_length)
    kept_b = tf.minimum(len_b, seq_length - 3 - kept_a)
    # run_squad always closes the context with [SEP].
    len_b = tf.ones_like(len_b)
  else:
    kept_a, kept_b = _truncated_lengths(len_a, len_b, seq_length)
  a = tf.RaggedTensor.from_tensor(pieces_a.to_tensor(), lengths=kept_a)
  b = tf.RaggedTensor.from_tensor(pieces_b.to_tensor(), lengths=kept_b)
  batch = tf.shape(len_a, out_type=tf.int64)[0]
  cls = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.cast(cls_id,
                                                                 tf.int64)))
  sep = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.cast(sep_id,
                                                                 tf.int64)))
  sep_b = tf.RaggedTensor.from_tensor(
      tf.fill([batch, 1], tf.cast(sep_id, tf.int64)),
      lengths=tf.cast(len_b > 0, tf.int64))
  ids = tf.concat([cls, a, sep, b, sep_b], axis=1)
  segments = tf.concat([tf.zeros_like(cls), tf.zeros_like(a),
                        tf.zeros_like(sep), tf.ones_like(b),
                        tf.ones_like(sep_b)], axis=1)
  shape = [None, None if pad_to_longest else seq_length]
  input_ids = tf.cast(ids.to_tensor(0, shape=shape), tf.int32)
  return {
      "input_ids": input_ids,
      "input_mask": tf.cast(
          tf.ones_like(ids).to_tensor(0, shape=shape), tf.int32),
      "segment_ids": tf.cast(segments.to_tensor(0, shape=shape), tf.int32),
  }


def _truncated_lengths(len_a, len_b, seq_length):
  """`bert_inputs.truncated_lengths` on int64 vectors."""
  room = seq_length - 3
  pair_a = tf.minimum(len_a, tf.maximum(room - len_b, (room + 1) // 2))
  pair_b = tf.minimum(len_b, room - pair_a)
  single = len_b <= 0
  kept_a = tf.where(single, tf.minimum(len_a, seq_length - 2), pair_a)
  kept_b = tf.where(single, tf.zeros_like(len_b), pair_b)
  return kept_a, kept_b
