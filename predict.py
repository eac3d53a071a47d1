r"""Predicts on new text with an exported SavedModel (`--export_dir`).

  python predict.py --saved_model_dir=/tmp/bert_quickstart/serving/1712345678 \
      --input_file=sentences.txt --output_file=predictions.jsonl

`-` reads standard input or writes standard output. One example per line:
`text_a`, `text_a<TAB>text_b`, or a JSON object (`{"text_a": ...,
"text_b": ...}`; for SQuAD `{"question": ..., "context": ...}`; an "id" is
copied to the output). Output: one JSON object per input line, in input
order: `{"label": ..., "probabilities": {label: p}}`, `{"score": ...}` for
regression, `{"answer": ..., "score": ..., "nbest": [...]}` for SQuAD.

Empty lines are skipped with a warning naming them. Bad input (too many
tab-separated fields, text that is not UTF-8, bad JSON, a SQuAD line without
a context, a directory that is not one of our exports) stops the command
with one line, `predict.py: error: ...`, exit status 1, before anything is
written: the output file is written under a temporary name and renamed.

The work is done by `predictor.Predictor`, which loads the model once.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import json
import sys
import time

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import export_format
import output_files
import predictor
import script_flags

flags.DEFINE_string(
    "saved_model_dir", None,
    "An exported SavedModel: the <export_dir>/<timestamp>/ directory that "
    "run_classifier.py or run_squad.py --export_dir wrote.")
flags.DEFINE_string(
    "input_file", "-",
    "Text to predict on, one example per line (text_a, text_a<TAB>text_b, "
    "or JSON); - for standard input.")
flags.DEFINE_string(
    "output_file", "-",
    "Where to write one JSON line per example, in input order; - for "
    "standard output.")
flags.DEFINE_integer("batch_size", 32,
                     "Examples per forward pass of the model.")
flags.DEFINE_integer(
    "progress_every", 1000,
    "Log examples/sec after every this many examples (long inputs).")

# A chunk of inputs handed to the predictor at once: long enough to fill
# batches, short enough to report progress.
CHUNK_BATCHES = 8


def read_examples(path, squad):
  """(line number, input, id or None) of each non-empty line of `path`.

  Raises:
    ValueError: a line is not UTF-8, not JSON, or has too many fields; the
      message names the file and line.
  """
  name = "<stdin>" if path == "-" else path
  if path == "-":
    data = sys.stdin.buffer.read()
  else:
    if not tf.io.gfile.exists(path):
      raise UserError("--input_file=%s does not exist." % path)
    with tf.io.gfile.GFile(path, "rb") as f:
      data = f.read()
  examples = []
  empty = []
  for number, raw in enumerate(data.splitlines(), 1):
    try:
      line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as e:
      raise UserError("%s:%d: not valid UTF-8 (%s)." % (name, number, e))
    if not line.strip():
      empty.append(number)
      continue
    item, example_id = _parse_line(line, squad, name, number)
    examples.append((number, item, example_id))
  if empty:
    tf.logging.warning(
        "%s: skipped %d empty line(s): %s%s", name, len(empty),
        ", ".join(str(n) for n in empty[:10]),
        " ..." if len(empty) > 10 else "")
  return examples


def _parse_line(line, squad, name, number):
  """(the predictor's input, the "id" or None) of one line."""
  where = "%s:%d" % (name, number)
  if line.lstrip().startswith("{"):
    try:
      item = json.loads(line)
    except ValueError as e:
      raise UserError("%s: not a JSON object (%s)." % (where, e))
    if not isinstance(item, dict):
      raise UserError("%s: expected a JSON object." % where)
    keys = ("question", "context") if squad else ("text_a",)
    missing = [k for k in keys if not isinstance(item.get(k), str)]
    if missing:
      raise UserError(
          "%s: expected %s; missing %s." %
          (where, " and ".join('"%s"' % k for k in keys) if squad else
           '"text_a" (and optionally "text_b")',
           ", ".join('"%s"' % k for k in missing)))
    fields = {k: item[k] for k in ("text_a", "text_b", "question", "context")
              if item.get(k) is not None}
    return fields, item.get("id")
  fields = line.split("\t")
  if len(fields) > 2:
    raise UserError(
        "%s: expected text_a or text_a<TAB>text_b, found %d tab-separated "
        "fields." % (where, len(fields)))
  if squad:
    if len(fields) != 2:
      raise UserError(
          "%s: a SQuAD model needs a context: question<TAB>context or "
          "{\"question\": ..., \"context\": ...}." % where)
    return {"question": fields[0], "context": fields[1]}, None
  return tuple(fields), None


def predict_all(settings, model, examples):
  """Output dicts of `examples`, in order, logging progress every
  --progress_every examples."""
  outputs = []
  start = time.time()
  last_report = 0
  chunk = model.batch_size * CHUNK_BATCHES
  for begin in range(0, len(examples), chunk):
    part = examples[begin:begin + chunk]
    try:
      results = model.predict([item for _, item, _ in part])
    except ValueError as e:  # The predictor's: "input N: ..." of this part.
      raise UserError(_with_line(settings, str(e), part))
    for (_, _, example_id), result in zip(part, results):
      if example_id is not None:
        result = dict(id=example_id, **result)
      outputs.append(result)
    if len(outputs) - last_report >= settings.progress_every or (
        last_report and len(outputs) == len(examples)):
      last_report = len(outputs)
      report("predicted %d/%d examples (%.1f examples/sec)",
             len(outputs), len(examples),
             len(outputs) / max(time.time() - start, 1e-9))
  return outputs


def report(fmt, *args):
  """A line of progress or success on stderr: TensorFlow's log is kept at
  WARNING (its graph loading's INFO lines are noise here), and progress is
  not a warning."""
  sys.stderr.write("predict.py: " + fmt % args + "\n")
  sys.stderr.flush()


def _with_line(settings, message, part):
  """The predictor's "input N: ..." message, with the line of --input_file
  it came from."""
  if message.startswith("input "):
    index = int(message.split()[1].rstrip(":"))
    name = "<stdin>" if settings.input_file == "-" else settings.input_file
    return "%s:%d: %s" % (name, part[index][0],
                          message.split(": ", 1)[1])
  return message


def main(_):
  settings = script_flags.from_flags()
  # Progress and problems only: the graph loading's INFO lines are noise here.
  tf.logging.set_verbosity(tf.logging.WARN)
  if not settings.saved_model_dir:
    raise UserError("--saved_model_dir is required: the <export_dir>/"
                    "<timestamp>/ directory of an --export_dir run.")
  if settings.batch_size < 1:
    raise UserError("--batch_size must be positive, not %d." %
                    settings.batch_size)
  # The input is checked before the model loads: bad lines fail at once.
  with command_line.reading("--saved_model_dir=%s" %
                            settings.saved_model_dir):
    metadata = export_format.read_metadata(settings.saved_model_dir)
  examples = read_examples(settings.input_file, metadata["task"] == "squad")
  with command_line.reading("--saved_model_dir=%s" %
                            settings.saved_model_dir):
    model = predictor.Predictor(settings.saved_model_dir, settings.batch_size)
  outputs = predict_all(settings, model, examples)
  text = "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in outputs)
  if settings.output_file == "-":
    sys.stdout.write(text)
    sys.stdout.flush()
  else:
    output_files.write_text_atomically(settings.output_file, text)
  report("wrote %d predictions to %s", len(outputs), settings.output_file)


if __name__ == "__main__":
  command_line.run(main, script_flags.grouped_help)
