"""Runs a top-level script and records the training examples it reads.

    python tests/trace_input.py TRACE_PREFIX SCRIPT [FLAGS...]

For tests of sharding: every batch that a training input function of
`input_pipeline.tfrecord_input_fn_builder` yields in this process is
appended to `TRACE_PREFIX.<pid>`, one line of `input_ids` per example. Each process of a
distributed run (a worker, a Horovod rank) so leaves its own file, and a test
can tell which examples each read. The script itself runs unchanged.
"""

import os
import runpy
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _traced(builder, trace_path):
  """`builder` whose training input functions append what they yield."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top

  def append(input_ids):
    with open(trace_path, "a") as f:
      for row in input_ids.numpy():
        f.write(" ".join(str(i) for i in row) + "\n")
    return input_ids

  def trace(features):
    ids = tf.py_function(append, [features["input_ids"]], tf.int32)
    ids.set_shape(features["input_ids"].shape)
    return dict(features, input_ids=ids)

  def build(input_files, name_to_features, is_training, *args, **kwargs):
    input_fn = builder(input_files, name_to_features, is_training, *args,
                       **kwargs)
    if not is_training:
      return input_fn

    # The same signature: the runtime passes input_context to functions
    # that take it.
    def traced_input_fn(params, input_context=None):
      return input_fn(params, input_context=input_context).map(trace)

    return traced_input_fn

  return build


def main(argv):
  trace_prefix, script = argv[1], os.path.join(ROOT, argv[2])
  sys.path[0] = ROOT  # The script's modules, not this folder's.
  import input_pipeline  # pylint: disable=g-import-not-at-top
  input_pipeline.tfrecord_input_fn_builder = _traced(
      input_pipeline.tfrecord_input_fn_builder,
      "%s.%d" % (trace_prefix, os.getpid()))
  sys.argv = [script] + argv[3:]
  runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
  main(sys.argv)
