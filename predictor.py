"""Predictions from an exported SavedModel, loaded once.

  import predictor
  p = predictor.Predictor("/tmp/bert_quickstart/serving/1712345678")
  p.predict(["a wonderful film", "dull and far too long"])
  # [{"label": "1", "probabilities": {"0": 0.02, "1": 0.98}}, ...]
  p.predict([("The cat sat.", "A cat was sitting.")])        # pairs
  p.predict([{"question": "Who?", "context": "Ann did."}])    # SQuAD
  # [{"answer": "Ann", "score": 0.91, "nbest": [...]}]

The directory is one `--export_dir` wrote (see serving.py for its layout):
its `assets/bert_export.json` gives the task, the labels, the casing, the
sequence length, the tokenizer options of training (`never_split`,
`preserve_unused_tokens`; none in an older export) and a multi-label model's
threshold (0.5 in an older export), and `assets/vocab.txt` the vocabulary.
Texts are tokenised here with `tokenization.FullTokenizer` (the tokenizer of
training, and no optional package), with those options, laid out and truncated as in training
(`bert_inputs.classifier_inputs`; SQuAD: `squad_windows`' windows), run
through the `serving_default` signature in batches of `batch_size` in one
TensorFlow session, and SQuAD logits become answers through
`squad_postprocess.compute_predictions`, run_squad.py's own post-processing.

Library layer: it imports the library modules (tokenization, bert_inputs,
squad_windows, squad_postprocess, export_format, int8_graph) and never a
script.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os

import numpy as np
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import bert_inputs
import export_format
import int8_graph
import squad_postprocess
import squad_windows
import tokenization


class Predictor(object):
  """A SavedModel of this project, loaded once; `predict` many times."""

  def __init__(self, saved_model_dir, batch_size=32):
    if batch_size < 1:
      raise ValueError("batch_size must be positive, not %d." % batch_size)
    self.saved_model_dir = saved_model_dir
    self.batch_size = batch_size
    self.metadata = export_format.read_metadata(saved_model_dir)
    if self.metadata.get("precision") == "int8":
      # (Exports older than the key have weights up to WEIGHT_MAX.)
      why = int8_graph.saturates_here(
          self.metadata.get("int8_weight_max", int8_graph.WEIGHT_MAX))
      if why:
        tf.logging.warning("%s is an int8 export, and %s.", saved_model_dir,
                           why)
    self.task = self.metadata["task"]
    if self.task == "token_classification":
      raise ValueError(
          "%s is a token-classification (NER) model; the predictor answers "
          "classification, regression and SQuAD models." % saved_model_dir)
    self.labels = self.metadata["labels"]
    self.max_seq_length = int(self.metadata["max_seq_length"])
    # Recorded by the export since the task description (task_description.py)
    # joined it; an older export had none of them, which meant these.
    self.multi_label_threshold = float(
        self.metadata.get("multi_label_threshold") or 0.5)
    # Given explicitly, so that no --never_split of this process applies.
    self.tokenizer = tokenization.FullTokenizer(
        os.path.join(saved_model_dir, "assets", export_format.VOCAB_FILE),
        do_lower_case=self.metadata["do_lower_case"],
        never_split=list(self.metadata.get("never_split") or []),
        preserve_unused_tokens=bool(
            self.metadata.get("preserve_unused_tokens", False)))
    self.num_truncated = 0
    self._load(saved_model_dir)

  def _load(self, saved_model_dir):
    """Imports the graph into a session of its own, ready to run."""
    if (export_format.TEXT_SIGNATURE in self.metadata.get("signatures", {})
        and export_format.tensorflow_text() is None):
      raise ValueError(
          "%s has the %s signature, whose tokenizer ops are TensorFlow "
          "Text's: loading it needs that package (%s), or re-export the "
          "model where tensorflow-text is not installed." %
          (saved_model_dir, export_format.TEXT_SIGNATURE,
           export_format.TENSORFLOW_TEXT_INSTALL))
    self._graph = tf.Graph()
    self._session = tf.Session(graph=self._graph)
    meta_graph = tf.saved_model.loader.load(
        self._session, [tf.saved_model.tag_constants.SERVING],
        saved_model_dir)
    signature = meta_graph.signature_def["serving_default"]
    self._inputs = {name: self._graph.get_tensor_by_name(info.name)
                    for name, info in signature.inputs.items()}
    self._outputs = {name: self._graph.get_tensor_by_name(info.name)
                     for name, info in signature.outputs.items()}
    missing = set(export_format.SERVING_INPUTS) - set(self._inputs)
    if missing:
      raise ValueError("%s: serving_default lacks inputs %s." %
                       (saved_model_dir, ", ".join(sorted(missing))))
    # Exports of per-example tasks take any length (serving.py): each batch
    # is then cut to its longest input, so no work goes to padding.
    self.cuts_padding = tf.compat.dimension_value(
        self._inputs["input_ids"].shape[1]) is None

  def close(self):
    self._session.close()

  def run(self, input_ids, input_mask, segment_ids):
    """The serving_default outputs of int arrays [n, max_seq_length], run in
    batches of `batch_size`; a dict of arrays [n, ...]. A model that takes
    any length gets each batch cut after its last unmasked position."""
    columns = {"input_ids": input_ids, "input_mask": input_mask,
               "segment_ids": segment_ids}
    results = {name: [] for name in self._outputs}
    for start in range(0, len(input_ids), self.batch_size):
      batch = {name: np.asarray(values[start:start + self.batch_size])
               for name, values in columns.items()}
      if self.cuts_padding:
        batch = without_padding(batch)
      feed = {self._inputs[name]: values for name, values in batch.items()}
      for name, value in self._session.run(self._outputs, feed).items():
        results[name].append(value)
    return {name: np.concatenate(values) if values else np.zeros([0])
            for name, values in results.items()}

  def predict(self, inputs):
    """Predictions for `inputs`, in order.

    Args:
      inputs: a list; each item is a text, a (text_a, text_b) pair, or a dict
        {"text_a": ..., "text_b": ...}; for SQuAD a (question, context) pair
        or {"question": ..., "context": ...}.

    Returns:
      one dict per input: {"label", "probabilities": {label: p}} for
      classification ({"labels", ...} for a multi-label model: those of
      probability >= its `multi_label_threshold`), {"score"} for regression, {"answer", "score",
      "nbest": [{"text", "probability", "start_logit", "end_logit"}]} for
      SQuAD (`score`: the answer's probability among the n-best).

    Raises:
      ValueError: an input is not of the task's form (names its index).
    """
    inputs = list(inputs)
    if self.task == "squad":
      return self._predict_squad(inputs)
    return self._predict_classifier(inputs)

  def _predict_classifier(self, inputs):
    ids, masks, segments = [], [], []
    truncated = 0
    for index, item in enumerate(inputs):
      text_a, text_b = _classifier_texts(item, index)
      tokens, segment_ids, was_cut = bert_inputs.classifier_inputs(
          self.tokenizer.tokenize(text_a),
          self.tokenizer.tokenize(text_b) if text_b else None,
          self.max_seq_length)
      truncated += was_cut
      ids.append(bert_inputs.pad(self.tokenizer.convert_tokens_to_ids(tokens),
                                 self.max_seq_length))
      masks.append(bert_inputs.pad([1] * len(tokens), self.max_seq_length))
      segments.append(bert_inputs.pad(segment_ids, self.max_seq_length))
    self._log_truncated(truncated, len(inputs), "longer than max_seq_length=%d "
                        "word pieces" % self.max_seq_length)
    if not inputs:
      return []
    scores = self.run(np.array(ids, np.int32), np.array(masks, np.int32),
                      np.array(segments, np.int32))["probabilities"]
    if self.task == "regression":
      return [{"score": float(np.ravel(row)[0])} for row in scores]
    if self.metadata.get("multi_label"):
      # Independent per-label probabilities: every label at the threshold
      # of training or above.
      return [{"labels": [l for l, p in zip(self.labels, row)
                          if p >= self.multi_label_threshold],
               "probabilities": {label: float(p)
                                 for label, p in zip(self.labels, row)}}
              for row in scores]
    return [{"label": self.labels[int(np.argmax(row))],
             "probabilities": {label: float(p)
                               for label, p in zip(self.labels, row)}}
            for row in scores]

  def _log_truncated(self, truncated, total, what):
    self.num_truncated += truncated
    if truncated:
      tf.logging.warning("%d of %d inputs were %s and were truncated (as in "
                         "training).", truncated, total, what)

  def _predict_squad(self, inputs):
    m = self.metadata
    examples = []
    for index, item in enumerate(inputs):
      question, context = _squad_texts(item, index)
      doc_tokens, _ = squad_windows.split_paragraph(context)
      examples.append(squad_windows.SquadExample(
          qas_id=index, question_text=question, doc_tokens=doc_tokens))
    features = []
    squad_windows.convert_examples_to_features(
        examples, self.tokenizer, self.max_seq_length, m["doc_stride"],
        m["max_query_length"], is_training=False, output_fn=features.append,
        log_examples=False)
    self._log_truncated(sum(len(self.tokenizer.tokenize(e.question_text)) >
                            m["max_query_length"] for e in examples),
                        len(examples), "questions longer than "
                        "max_query_length=%d word pieces" %
                        m["max_query_length"])
    if not examples:
      return []
    outputs = self.run(
        np.array([f.input_ids for f in features], np.int32).reshape(
            [-1, self.max_seq_length]),
        np.array([f.input_mask for f in features], np.int32).reshape(
            [-1, self.max_seq_length]),
        np.array([f.segment_ids for f in features], np.int32).reshape(
            [-1, self.max_seq_length]))
    results = [squad_postprocess.RawResult(
        unique_id=f.unique_id, start_logits=[float(x) for x in start],
        end_logits=[float(x) for x in end])
               for f, start, end in zip(features, outputs["start_logits"],
                                        outputs["end_logits"])]
    answers, nbest, _ = squad_postprocess.compute_predictions(
        examples, features, results, m["n_best_size"],
        m["max_answer_length"], m["do_lower_case"],
        m.get("version_2_with_negative", False),
        m.get("null_score_diff_threshold", 0.0))
    out = []
    for example in examples:
      answer = answers[example.qas_id]
      entries = [dict(e) for e in nbest[example.qas_id]]
      score = next((e["probability"] for e in entries if e["text"] == answer),
                   0.0)
      out.append({"answer": answer, "score": score, "nbest": entries})
    return out


def without_padding(columns):
  """Int arrays [n, length] (a dict with "input_mask"), cut after the last
  column where any input is unmasked (at least one column)."""
  used = np.flatnonzero(columns["input_mask"].any(axis=0))
  length = used[-1] + 1 if len(used) else 1
  return {name: values[:, :length] for name, values in columns.items()}


def _classifier_texts(item, index):
  """(text_a, text_b or None) of one classifier input."""
  if isinstance(item, str):
    return item, None
  if isinstance(item, dict):
    if not isinstance(item.get("text_a"), str):
      raise ValueError("input %d: expected a string \"text_a\" (and "
                       "optionally \"text_b\"), got keys %s." %
                       (index, sorted(item)))
    text_b = item.get("text_b")
    if text_b is not None and not isinstance(text_b, str):
      raise ValueError("input %d: \"text_b\" must be a string." % index)
    return item["text_a"], text_b
  if (isinstance(item, (tuple, list)) and len(item) in (1, 2) and
      all(isinstance(t, str) for t in item)):
    return item[0], item[1] if len(item) == 2 else None
  raise ValueError("input %d: expected a text, a (text_a, text_b) pair or "
                   "a dict with \"text_a\", got %r." % (index, item))


def _squad_texts(item, index):
  """(question, context) of one SQuAD input."""
  if isinstance(item, dict):
    missing = [k for k in ("question", "context")
               if not isinstance(item.get(k), str)]
    if missing:
      raise ValueError(
          "input %d: a SQuAD model needs string \"question\" and \"context\"; "
          "missing %s." % (index, " and ".join('"%s"' % k for k in missing)))
    return item["question"], item["context"]
  if (isinstance(item, (tuple, list)) and len(item) == 2 and
      all(isinstance(t, str) for t in item)):
    return item[0], item[1]
  raise ValueError("input %d: a SQuAD model needs a (question, context) pair "
                   "or {\"question\": ..., \"context\": ...}, got %r." %
                   (index, item))
