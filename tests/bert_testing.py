"""Helpers for tests: tiny vocabularies, configs and checkpoints of their own.

Tests never download anything; they build a vocabulary from the text they use
and a model of 2 layers and hidden size 32-64.
"""

import collections
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def basic_words(text):
  """Lower-cased words and punctuation, roughly as BasicTokenizer splits."""
  return re.findall(r"\w+|[^\w\s]", text.lower())


def write_vocab(path, texts, max_words=3000):
  """Writes a vocab of special tokens, characters, ##characters and words.

  Every character of `texts` is in it (alone and as a ## piece), so any word
  of the text tokenizes without [UNK]; the most frequent words are whole.
  Returns the list of tokens.
  """
  counts = collections.Counter()
  chars = set()
  for text in texts:
    for word in basic_words(text):
      counts[word] += 1
      chars.update(word)
  vocab = list(SPECIAL_TOKENS)
  vocab += sorted(chars) + ["##" + c for c in sorted(chars)]
  seen = set(vocab)
  for word, _ in counts.most_common(max_words):
    if word not in seen:
      vocab.append(word)
      seen.add(word)
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(vocab) + "\n")
  return vocab


def write_tokens(path, tokens):
  """A vocab file of exactly `tokens`, one a line; returns its path."""
  with open(str(path), "w", encoding="utf-8") as f:
    f.write("".join(token + "\n" for token in tokens))
  return str(path)


def tokenizer_for(directory, texts):
  """A lower-casing FullTokenizer over `write_vocab(directory/vocab.txt)`."""
  import tokenization  # pylint: disable=g-import-not-at-top
  path = os.path.join(str(directory), "vocab.txt")
  write_vocab(path, texts)
  return tokenization.FullTokenizer(path, do_lower_case=True)


def tiny_config_dict(vocab_size, hidden_size=32, max_position_embeddings=128,
                     **overrides):
  config = dict(
      vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=2,
      num_attention_heads=4, intermediate_size=2 * hidden_size,
      hidden_act="gelu", hidden_dropout_prob=0.1,
      attention_probs_dropout_prob=0.1,
      max_position_embeddings=max_position_embeddings, type_vocab_size=2,
      initializer_range=0.02)
  config.update(overrides)
  return config


def write_config(path, vocab_size, **kwargs):
  with open(path, "w") as f:
    json.dump(tiny_config_dict(vocab_size, **kwargs), f, indent=2)
  return path


def _script_env(env):
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  full_env.update(env or {})
  return full_env


_SERVER = []  # The worker's script_server.ScriptServer, once started.


class _ServerRun(object):
  """A script run by the worker's script server, with the part of
  subprocess.Popen's interface that tests use."""

  def __init__(self, server, pid, args, output):
    self.pid, self.args, self.returncode = pid, args, None
    self.stdout = self.stderr = None
    self._server, self._output = server, output

  def poll(self):
    if self.returncode is None:
      self.returncode = self._server.wait(self.pid, 0)
    return self.returncode

  def wait(self, timeout=None):
    if self.returncode is None:
      self.returncode = self._server.wait(self.pid, timeout)
      if self.returncode is None:
        raise subprocess.TimeoutExpired(self.args, timeout)
    return self.returncode

  def send_signal(self, sig):
    if self.returncode is None:
      os.kill(self.pid, sig)

  def kill(self):
    self.send_signal(signal.SIGKILL)

  def communicate(self, timeout=None):
    """(stdout, stderr) as text, once the run has exited; raises
    subprocess.TimeoutExpired after `timeout` seconds, as Popen does."""
    self.wait(timeout)
    texts = []
    for path in self._output:
      with open(path) as f:  # Decoded as subprocess's text mode does.
        texts.append(f.read())
      os.remove(path)
    return tuple(texts)


def _server_start(script, args, env):
  """Starts the script in a fork of the worker's script server; returns a
  _ServerRun, or None where a new process must run it."""
  if os.environ.get("BERT_TESTS_FRESH_PROCESSES") == "1":
    return None
  import script_server  # pylint: disable=g-import-not-at-top
  if not _SERVER:
    _SERVER.append(script_server.ScriptServer(_script_env(None)))
  server = _SERVER[0]
  path = os.path.join(ROOT, script)
  started = server.start(path, args, _script_env(env), ROOT)
  if started is None:
    return None
  pid, output = started
  return _ServerRun(server, pid, [sys.executable, path] + list(args), output)


def run_script(script, args, timeout=600, env=None, fresh=False):
  """Runs a top-level script as `python script args` would; returns the
  CompletedProcess (text).

  Unless `fresh`, in a fork of this worker's script server, which imported
  TensorFlow once (tests/script_server.py; the variables read at startup,
  PYTHON*, TF_* and the like, must be the run's, else a new process runs
  it). `fresh=True` starts a new process: for tests of what happens while
  TensorFlow is imported, and for runs compared with each other that must
  each get their own Python hash seed. BERT_TESTS_FRESH_PROCESSES=1 makes
  every run fresh. After `timeout` seconds the run is killed and
  subprocess.TimeoutExpired raised, as subprocess.run does.
  """
  run = start_script(script, args, env=env, fresh=fresh)
  try:
    out, err = run.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    run.kill()
    out, err = run.communicate()
    raise subprocess.TimeoutExpired(run.args, timeout, out, err)
  return subprocess.CompletedProcess(run.args, run.returncode, out, err)


def start_script(script, args, env=None, fresh=False):
  """Starts a top-level script as `run_script` runs it, for runs that
  overlap or are killed; returns the subprocess.Popen, or an object with
  its poll, wait, communicate, send_signal and kill."""
  run = None if fresh else _server_start(script, args, env)
  if run is not None:
    return run
  return subprocess.Popen(
      [sys.executable, os.path.join(ROOT, script)] + list(args),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=_script_env(env), cwd=ROOT)


def read_eval_results(path):
  """The `key = value` lines of an eval_results.txt, values as floats."""
  with open(str(path)) as f:
    return {key: float(value) for key, value in
            (line.strip().split(" = ") for line in f if line.strip())}


def missing_optional(message):
  """Skips the calling test (or module) for want of an optional extra.

  Under CI=true it fails instead: CI (.ci/run) installs every extra, so a
  missing one there is a broken install, which must not pass as a skip.
  """
  if os.environ.get("CI") == "true":
    pytest.fail("%s (CI=true, where every optional extra is installed)" %
                message, pytrace=False)
  pytest.skip(message, allow_module_level=True)


def require_optional(module_name, install_hint):
  """Imports and returns the optional extra `module_name`; without it, skips
  (or fails under CI=true) with `install_hint`, e.g. the pip command."""
  try:
    return importlib.import_module(module_name)
  except ImportError as e:
    missing_optional("optional extra %s is not importable (%s): %s" %
                     (module_name, e, install_hint))


MODEL_GARDEN_INSTALL = ('pip install --no-deps "tf-models-official==2.15.0" '
                        '"gin-config==0.5.0" "sentencepiece==0.2.3"')


def model_garden(module_name):
  """A module of TensorFlow Model Garden (tf-models-official 2.15.0), e.g.
  "official.nlp.modeling.networks", to test against what its own code makes.

  The package is installed without its dependencies (.ci/run); of those, only
  gin-config and sentencepiece are needed by the modules these tests use.
  `tensorflow_datasets` is imported by classifier_data_lib for its TFDS processors alone, which the
  tests never run: an empty module stands in for it when it is absent.
  """
  if "tensorflow_datasets" not in sys.modules:
    try:
      importlib.import_module("tensorflow_datasets")
    except ImportError:
      sys.modules["tensorflow_datasets"] = types.ModuleType(
          "tensorflow_datasets")
  return require_optional(module_name, MODEL_GARDEN_INSTALL)


def readme_blocks(heading, language):
  """The ```language blocks of the README section under `heading`."""
  with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    text = f.read()
  start = text.index(heading)
  end = text.find("\n## ", start + len(heading))
  section = text[start:end if end > 0 else len(text)]
  return re.findall(r"```%s\n(.*?)```" % language, section, re.S)


def run_readme_block(block, tmp, env=None):
  """Runs a README shell block as pasted, its /tmp/ paths moved under `tmp`
  (so that a user's /tmp/bert_quickstart is never touched), with `env`'s
  variables (e.g. the placeholders $BERT_BASE_DIR, $MODEL_DIR); returns the
  CompletedProcess (text)."""
  script = block.replace("/tmp/", str(tmp).rstrip("/") + "/")
  return subprocess.run(["bash", "-euo", "pipefail", "-c", script],
                        capture_output=True, text=True, cwd=ROOT,
                        timeout=600, env=_script_env(env))


def write_stand_in_checkpoint(path, config_file, seed=1):
  """A randomly initialised encoder of `config_file` saved as an
  original-format checkpoint at `path` (a stand-in for a pretrained one)."""
  import modeling  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    tf.set_random_seed(seed)
    modeling.BertModel(modeling.BertConfig.from_json_file(config_file), False,
                       tf.placeholder(tf.int32, [None, None]))
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver().save(sess, path)


def optimized_op_types(fetches, feed_dict=None, config=None, name_part=""):
  """How many nodes of each op type the session ran after grappler (of
  those whose name contains `name_part`)."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  metadata = tf.RunMetadata()
  with tf.Session(config=config) as sess:
    sess.run(tf.global_variables_initializer())
    sess.run(fetches, feed_dict,
             options=tf.RunOptions(output_partition_graphs=True),
             run_metadata=metadata)
  counts = {}
  for graph in metadata.partition_graphs:
    for node in graph.node:
      if name_part in node.name:
        counts[node.op] = counts.get(node.op, 0) + 1
  return counts


def write_mrpc_slice(data_dir, num_train, num_test):
  """The first rows of the shared MSR paraphrase files, in their layout.

  Returns the sentences, for `write_vocab`.
  """
  source = os.path.join(os.path.dirname(ROOT), "shared", "data", "mrpc")
  os.makedirs(data_dir)
  texts = []
  for name, n in (("msr_paraphrase_train.txt", num_train),
                  ("msr_paraphrase_test.txt", num_test)):
    with open(os.path.join(source, name), encoding="utf-8-sig") as f:
      lines = f.read().splitlines()[:n + 1]  # With the header.
    with open(os.path.join(data_dir, name), "w", encoding="utf-8") as f:
      f.write("\n".join(lines) + "\n")
    texts += [" ".join(line.split("\t")[3:5]) for line in lines[1:]]
  return texts


def train_mrpc_and_export(tmp, num_train, num_test, seq_length, *extra):
  """run_classifier.py trained (1 epoch, batch 16, seed 2) and predicting on
  the first rows of the shared MRPC files, exporting to `<tmp>/export`,
  with `extra` flags: (output_dir, export_dir, the finished process)."""
  texts = write_mrpc_slice(os.path.join(tmp, "data"), num_train=num_train,
                           num_test=num_test)
  vocab = write_vocab(os.path.join(tmp, "vocab.txt"), texts)
  # Wide initial weights, so that outputs differ clearly between examples.
  write_config(os.path.join(tmp, "bert_config.json"), len(vocab),
               initializer_range=0.2)
  out, export_dir = os.path.join(tmp, "out"), os.path.join(tmp, "export")
  proc = run_script("run_classifier.py", [
      "--task_name=MRPC", "--do_train", "--do_predict",
      "--data_dir=%s" % os.path.join(tmp, "data"),
      "--vocab_file=%s" % os.path.join(tmp, "vocab.txt"),
      "--bert_config_file=%s" % os.path.join(tmp, "bert_config.json"),
      "--output_dir=%s" % out, "--export_dir=%s" % export_dir,
      "--max_seq_length=%d" % seq_length, "--train_batch_size=16",
      "--learning_rate=1e-4", "--num_train_epochs=1", "--seed=2",
  ] + list(extra), timeout=300)
  return out, export_dir, proc


MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
# Four MRPC-layout rows of our own, two paraphrases and two not.
TOY_MRPC_ROWS = [
    "1\t1\t2\tthe cat sat on the mat .\ta cat sat on a mat .",
    "0\t3\t4\tthe dog ran far away .\tit rained all day .",
    "1\t5\t6\twe walked to the old town .\twe went to the old town .",
    "0\t7\t8\tthe ball went far away .\tthen we went home by train .",
]


def write_toy_mrpc_task(task_dir, **config):
  """An MRPC-layout task in `task_dir` (a pathlib.Path): TOY_MRPC_ROWS x16
  as the 64 training pairs, x2 as the 8 test pairs, their vocab.txt and a
  tiny bert_config.json (`config` overrides, e.g. dropout off)."""
  (task_dir / "msr_paraphrase_train.txt").write_text(
      MRPC_HEADER + "\n" + "\n".join(TOY_MRPC_ROWS * 16) + "\n")
  (task_dir / "msr_paraphrase_test.txt").write_text(
      MRPC_HEADER + "\n" + "\n".join(TOY_MRPC_ROWS * 2) + "\n")
  vocab = write_vocab(str(task_dir / "vocab.txt"),
                      [r.split("\t", 3)[3] for r in TOY_MRPC_ROWS])
  write_config(str(task_dir / "bert_config.json"), len(vocab), **config)
  return task_dir


def write_records(path, examples):
  """Writes each dict of feature name -> list of numbers as a tf.train.Example
  (a float list where any value is a float, else an int64 list); returns the
  path. `read_features` reads them back."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def feature(values):
    values = list(values)
    if any(isinstance(v, float) for v in values):
      return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

  with tf.io.TFRecordWriter(str(path)) as writer:
    for example in examples:
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          name: feature(values) for name, values in example.items()
      })).SerializeToString())
  return str(path)


def read_features(path, seq_length,
                  names=("input_ids", "input_mask", "segment_ids")):
  """Every record of a TFRecord file as int32 arrays [num_records, seq]."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  spec = {n: tf.io.FixedLenFeature([seq_length], tf.int64) for n in names}
  columns = {n: [] for n in names}
  for record in tf.data.TFRecordDataset(path):
    example = tf.io.parse_single_example(record, spec)
    for n in names:
      columns[n].append(example[n].numpy())
  return {n: np.array(v, np.int32) for n, v in columns.items()}


def only_export(export_dir):
  """The one SavedModel under --export_dir (its <timestamp>/ directory)."""
  entries = os.listdir(export_dir)
  assert len(entries) == 1 and entries[0].isdigit(), entries
  return os.path.join(export_dir, entries[0])


def serve(saved_model_dir, features):
  """Loads a SavedModel in TF2 eager mode; its serving_default outputs.

  Checks that the signature takes exactly `features`' names, each int32
  [batch, seq_length] ([batch, any length] for classification and regression).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import export_format  # pylint: disable=g-import-not-at-top
  import serving as serving_module  # pylint: disable=g-import-not-at-top
  assert tf.executing_eagerly()
  # An export with serving_text holds TF Text ops: they must be registered.
  serving_module.tensorflow_text()
  serving = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
  _, inputs = serving.structured_input_signature
  assert sorted(inputs) == sorted(features)
  any_length = (export_format.read_metadata(saved_model_dir)["task"] in
                export_format.ANY_LENGTH_TASKS)
  for name, spec in inputs.items():
    assert spec.dtype == tf.int32
    assert spec.shape.as_list() == [
        None, None if any_length else features[name].shape[1]]
  outputs = serving(**{n: tf.constant(v) for n, v in features.items()})
  return {n: v.numpy() for n, v in outputs.items()}


def mrpc_train_args(task_dir, output_dir, max_seq_length, *extra):
  """run_classifier.py flags that train on the MRPC files in `task_dir`
  (with its vocab.txt and bert_config.json) for one epoch of batch 8."""
  return [
      "--task_name=MRPC", "--do_train", "--data_dir=%s" % task_dir,
      "--vocab_file=%s" % os.path.join(str(task_dir), "vocab.txt"),
      "--bert_config_file=%s" % os.path.join(str(task_dir),
                                             "bert_config.json"),
      "--output_dir=%s" % output_dir, "--max_seq_length=%d" % max_seq_length,
      "--train_batch_size=8", "--num_train_epochs=1", "--learning_rate=1e-4",
  ] + list(extra)


def quickstart_shaped_model(out, max_seq_length=64, epochs=1):
  """A tiny model trained as quickstart.sh trains its own, in its layout:
  `<out>/minilm/{vocab.txt,bert_config.json}` and the fine-tuned
  checkpoints in `<out>/sentiment` (SST-2 data/quickstart, seq 64).
  Returns the CompletedProcess of the training run."""
  data = os.path.join(ROOT, "data", "quickstart")
  texts = []
  for name in ("train.tsv", "dev.tsv"):
    with open(os.path.join(data, name), encoding="utf-8") as f:
      texts += [line.split("\t")[0] for line in f.read().splitlines()[1:]]
  minilm = os.path.join(out, "minilm")
  os.makedirs(minilm)
  vocab = write_vocab(os.path.join(minilm, "vocab.txt"), texts)
  write_config(os.path.join(minilm, "bert_config.json"), len(vocab),
               initializer_range=0.2)
  return run_script("run_classifier.py", [
      "--task_name=SST-2", "--data_dir=%s" % data, "--do_train",
      "--vocab_file=%s" % os.path.join(minilm, "vocab.txt"),
      "--bert_config_file=%s" % os.path.join(minilm, "bert_config.json"),
      "--max_seq_length=%d" % max_seq_length, "--train_batch_size=16",
      "--learning_rate=1e-3", "--num_train_epochs=%d" % epochs, "--seed=1",
      "--bucket_by_length",
      "--output_dir=%s" % os.path.join(out, "sentiment")], timeout=600)


TINY_TRAIN_CONFIG = dict(vocab_size=30, hidden_size=16, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=32)


def check_trains_through_train_spec(monkeypatch, model_fn_builder, settings,
                                    features):
  """Builds the TRAIN graph of `model_fn_builder(config, settings)` (a tiny
  `TINY_TRAIN_CONFIG` model, learning rate 1e-3, 10 steps, 1 of warm-up) on
  `features` and checks that it is runtime.train_spec's, given the run's
  `settings` and the loss it trains on."""
  import modeling  # pylint: disable=g-import-not-at-top
  import runtime  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  calls = []
  train_spec = runtime.train_spec
  monkeypatch.setattr(runtime, "train_spec", lambda *args: (
      calls.append(args), train_spec(*args))[1])
  model_fn = model_fn_builder(modeling.BertConfig(**TINY_TRAIN_CONFIG),
                              settings)
  with tf.Graph().as_default():
    tf.train.get_or_create_global_step()
    spec = model_fn({k: tf.constant(v) for k, v in features.items()}, None,
                    tf.estimator.ModeKeys.TRAIN, {})
    assert spec.train_op is not None
    assert tf.get_collection(runtime.TRAIN_LOSS_COLLECTION) == [spec.loss]
  ((given, loss, lr, steps, warmup, _),) = calls
  assert given is settings and loss is spec.loss
  assert (lr, steps, warmup) == (1e-3, 10, 1)
