"""TFRecords converted from raw text once, reused by a rerun that would
write the same records.

Tokenising a large training set takes minutes; a second run on the same data
(another learning rate, more epochs, an evaluation) need not do it again. A
script converts its examples through `convert_once(record_path, key,
convert)`: beside each record it keeps `<record>.key`, a JSON file saying what
the record was made from (`conversion_key`):

  - the examples' content (sha256 of every example's fields, in order): the
    data files as the processor read them, whatever reads them (a built-in
    task, `--task_name=file`, a processor module of the user's), including
    any limit on how many are read and TPU padding examples;
  - the tokenizer: the vocabulary's content (token and id, in order), the
    casing, the tokens kept whole;
  - every setting that changes the features (`--max_seq_length`, labels,
    `--doc_stride`, ...) and the script's feature format version, bumped
    when its conversion changes;

and the counts the script takes from a conversion (records, windows), so
that a reuse is exactly equivalent to converting again.

A record is reused only when its key file is complete, says the same, and
the record has the size it had when the key was written. The key is removed
before a conversion starts and written (atomically, `output_files`) only
after the record has been renamed into place: a run killed in between leaves
a record without a key, which the next run converts again, never a record
that a stale key vouches for.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import hashlib
import json
import os
import uuid

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import output_files

KEY_SUFFIX = ".key"
# The layout of the key file itself.
_KEY_FILE_FORMAT = 1

# How the log names a field of the key that changed, when not by its name.
_DESCRIPTIONS = {
    "examples_sha256": "the examples (the data files' content)",
    "vocab_sha256": "the vocabulary",
    "feature_format": "this version's feature format",
}


def key_path(record_path):
  """Where the key of `record_path` is kept: `<record_path>.key`."""
  return record_path + KEY_SUFFIX


def examples_digest(examples):
  """sha256 (hex) of the examples' fields, in order: equal for examples that
  convert to the same features, whatever files they were read from.

  A field JSON cannot hold is hashed by its `repr`; one that names an
  object's address makes a key that never matches: converted again, never
  wrongly reused.
  """
  digest = hashlib.sha256()
  for example in examples:
    # The class tells a padding example from a real one with no fields.
    fields = [type(example).__name__,
              vars(example) if hasattr(example, "__dict__") else repr(example)]
    digest.update(json.dumps(fields, sort_keys=True, default=repr,
                             ensure_ascii=False).encode("utf-8"))
    digest.update(b"\n")
  return digest.hexdigest()


def tokenizer_fields(tokenizer):
  """What of a `tokenization.FullTokenizer` decides the ids: its vocabulary's
  content (sha256 of the tokens in id order), casing and tokens kept whole
  (--never_split, and [unusedN] with --preserve_unused_tokens)."""
  basic = getattr(tokenizer, "basic_tokenizer", None)
  if not isinstance(getattr(tokenizer, "vocab", None), dict) or basic is None:
    # Not a FullTokenizer: nothing to compare, so its records are never
    # reused (a fresh nonce never matches).
    return {"tokenizer": "%s, not reusable: %s" % (type(tokenizer).__name__,
                                                    uuid.uuid4().hex)}
  digest = hashlib.sha256()
  for token, index in sorted(tokenizer.vocab.items(), key=lambda kv: kv[1]):
    digest.update(("%d\t%s\n" % (index, token)).encode("utf-8"))
  never_split = list(getattr(basic, "never_split", ()))
  # What BasicTokenizer keeps whole: --never_split's tokens and, with
  # --preserve_unused_tokens, the vocabulary's [unusedN] (which the digest
  # already covers: a flag is enough).
  kept_whole = set(getattr(basic, "_kept_whole", ()))  # pylint: disable=protected-access
  return {
      "vocab_sha256": digest.hexdigest(),
      "vocab_size": len(tokenizer.vocab),
      "do_lower_case": bool(basic.do_lower_case),
      "never_split": never_split,
      "preserve_unused_tokens": bool(kept_whole - set(never_split)),
  }


def conversion_key(feature_format, examples, tokenizer, **settings):
  """The key of converting `examples` with `tokenizer` and `settings` (every
  setting that changes the features; JSON values) in the script's
  `feature_format` (a string such as "run_classifier/1")."""
  key = {"feature_format": feature_format,
         "num_examples": len(examples),
         "examples_sha256": examples_digest(examples)}
  key.update(tokenizer_fields(tokenizer))
  for name, value in settings.items():
    # Through JSON, so that a tuple and the list read back compare equal.
    key[name] = json.loads(json.dumps(value))
  return key


def _read_key_file(path):
  """The saved key file's content, or (None, why it cannot be used)."""
  if not tf.io.gfile.exists(path):
    return None, "no key file beside it"
  try:
    with tf.io.gfile.GFile(path, "r") as f:
      saved = json.loads(f.read())
  except (ValueError, tf.errors.OpError, OSError):
    return None, "its key file %s is unreadable" % os.path.basename(path)
  if (not isinstance(saved, dict) or
      saved.get("key_file_format") != _KEY_FILE_FORMAT or
      not isinstance(saved.get("key"), dict) or
      not isinstance(saved.get("counts"), dict) or
      not isinstance(saved.get("record_bytes"), int)):
    return None, "its key file %s is incomplete" % os.path.basename(path)
  return saved, None


def _difference(saved_key, key):
  """One phrase naming what differs between two keys, e.g.
  "max_seq_length changed (64 -> 128)"."""
  changed = [name for name in key if saved_key.get(name) != key[name]]
  changed += [name for name in saved_key if name not in key]
  phrases = []
  for name in changed:
    old, new = saved_key.get(name), key.get(name)
    if name in _DESCRIPTIONS:
      phrases.append("%s changed" % _DESCRIPTIONS[name])
    else:
      phrases.append("%s changed (%s -> %s)" % (
          name, json.dumps(old), json.dumps(new)))
  return ", ".join(phrases[:3]) + (
      " and %d more" % (len(phrases) - 3) if len(phrases) > 3 else "")


def reusable_counts(record_path, key):
  """The counts saved with `record_path` if it was converted with `key` and
  is intact; otherwise None and why not, as (counts, reason)."""
  if not tf.io.gfile.exists(record_path):
    return None, "no earlier conversion"
  saved, reason = _read_key_file(key_path(record_path))
  if saved is None:
    return None, reason
  if saved["key"] != key:
    return None, _difference(saved["key"], key)
  if tf.io.gfile.stat(record_path).length != saved["record_bytes"]:
    return None, "the record's size is not the one its key file gives"
  return saved["counts"], None


def convert_once(record_path, key, convert):
  """The counts of `record_path` converted with `key`: reused when a run
  wrote it before with the same key, else from `convert()`.

  Args:
    record_path: the TFRecord file.
    key: a `conversion_key`.
    convert: writes `record_path` (atomically) and returns its counts, a
      dict of JSON values (e.g. {"num_records": 4076}).

  Returns:
    the counts, as `convert()` returned them (from the key file on reuse).
  """
  name = os.path.basename(record_path)
  counts, reason = reusable_counts(record_path, key)
  if counts is not None:
    tf.logging.info("Reusing %s converted before (same data and settings): "
                    "%s.", name, ", ".join("%s=%s" % kv
                                           for kv in sorted(counts.items())))
    return counts
  tf.logging.info("Converting %s: %s.", name, reason)
  # Gone before the record changes: a run killed after the new record is in
  # place but before its key is written must not leave the old key with it.
  output_files.remove_quietly(key_path(record_path))
  counts = dict(convert())
  output_files.write_text_atomically(key_path(record_path), json.dumps({
      "key_file_format": _KEY_FILE_FORMAT,
      "record": name,
      "record_bytes": tf.io.gfile.stat(record_path).length,
      "counts": counts,
      "key": key,
  }, indent=1, sort_keys=True) + "\n")
  return counts
