"""How every script starts and ends on the command line.

- A quiet start: TensorFlow is imported through `quiet_tensorflow` (its
  start-up noise dropped, its C++ log level 2 for a script), and TensorFlow's
  Python log shows INFO without the compat API's deprecation warnings and
  the Estimator API's known-harmless warnings. A healthy run then prints no
  WARNING or error line. `--verbosity=1` gives the Python side back, with
  the per-variable and per-example details; TF_CPP_MIN_LOG_LEVEL=0 the C++
  side.
- One error path: bad input raises `UserError` (its message names the flag,
  file or line, and what was expected); `run` ends such a run with one line,
  `<script>: error: <message>`, and exit status 1. Any other exception keeps
  its traceback: it is a bug, and the traceback is what finds it.
- What TensorFlow reads once per process before `main()` runs: TF_XLA_FLAGS,
  set for `--use_xla` on CPU (`cpu_features.set_xla_cpu_flags`).
- `--help`: the text the script passes to `run` (its flags by group,
  `script_flags.grouped_help`), so that this module need not import
  script_flags, which imports it for `UserError`.
- Optional packages (Horovod, TensorFlow Hub), imported only when a flag asks
  for them, with an error that says what to install.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import contextlib
import functools
import os
import sys
import warnings

import cpu_features

# TensorFlow is imported where it is used, through quiet_tensorflow: modules
# that only need UserError (task_description) must not pay for it.


class UserError(ValueError):
  """Bad input: a flag, a path or an input file. The message says what to fix.

  A ValueError, so that library callers that catch ValueError keep working.
  """






def setup_logging():
  """INFO logging, each line once; deprecation warnings only if asked for.

  TensorFlow's logger has a handler of its own; passing its records on to the
  handler absl installs as well would print every line twice. The compat
  API's deprecation warnings (a score of them per run, about TensorFlow's
  own internals) are shown with `--verbosity=1` or more.
  """
  from absl import logging  # pylint: disable=g-import-not-at-top
  import quiet_tensorflow  # pylint: disable=g-import-not-at-top,unused-import
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.python.util import deprecation  # pylint: disable=g-import-not-at-top
  # absl sets its logging verbosity from --verbosity when flags are parsed.
  verbosity = logging.get_verbosity()
  tf.logging.set_verbosity(tf.logging.DEBUG if verbosity >= 1 else
                           tf.logging.INFO)
  tf.get_logger().propagate = False
  deprecation._PRINT_DEPRECATION_WARNINGS = verbosity >= 1  # pylint: disable=protected-access
  if verbosity < 1 and not any(isinstance(f, _KnownHarmless)
                               for f in tf.get_logger().filters):
    tf.get_logger().addFilter(_KnownHarmless())
    # Estimator's input path under a distribution strategy reads a
    # dataset's options in graph mode, TensorFlow's own code; the warning
    # says the value may be stale, which that path does not use.
    warnings.filterwarnings(
        "ignore", message="To make it possible to preserve tf.data options",
        category=UserWarning)


class _KnownHarmless(object):
  """Drops the warnings (and two walls of text) TensorFlow logs on every
  healthy run of the Estimator API, whose cause is the API itself, not the
  run.

  Only these exact messages; `--verbosity=1` shows them again.
  """

  MESSAGES = (
      # The v1 name of TPUConfig, which TPUEstimator's users must spell so
      # (the module wrapper warns about the name however it is reached).
      "The name tf.estimator.tpu.TPUConfig is deprecated",
      # A --seed run's dropout key lives in a graph collection (so that
      # function graphs of loops inherit it); the .meta file of a
      # checkpoint cannot hold it and needs not: the graph rebuilds it.
      "Issue encountered when serializing bert_dropout_seed",
      # The confusion matrix of an evaluation is a tensor summary that
      # TensorBoard shows under its text/tensor plugins; the advice to write
      # a plugin is not for a user of this toolkit.
      "Summary for np.ndarray is not visible in Tensorboard",
      # RunConfig's every field on five lines of one dict: what a run uses
      # that matters (steps, batch, directories) is said in plain lines.
      "Using config: {",
      # Under a distribution strategy autograph converts the model_fn,
      # which returns the original's TPUEstimatorSpec (the v1 name again).
      "The name tf.estimator.tpu.TPUEstimatorSpec is deprecated",
  )

  def filter(self, record):
    message = record.getMessage()
    return not any(m in message for m in self.MESSAGES)


def error_text(error):
  """The message of `error`; for a TensorFlow error, the line that says what
  went wrong, without the graph node and stack TensorFlow adds."""
  tf_errors = sys.modules.get("tensorflow.python.framework.errors_impl")
  if tf_errors is None or not isinstance(error, tf_errors.OpError):
    return str(error)
  lines = [l.strip() for l in (error.message or "").splitlines() if l.strip()]
  for i, line in enumerate(lines[:-1]):
    if line.startswith("Node: "):
      return lines[i + 1]
  return lines[0] if lines else type(error).__name__


def script_name():
  return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "bert"


def exit_on_user_error(main):
  """Wraps a script's `main`: a `UserError` ends the run with one line,
  `<script>: error: <message>`, and exit status 1. Other exceptions pass."""

  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except UserError as e:
      sys.exit("%s: error: %s" % (script_name(), error_text(e)))

  return wrapped


_HELP_ARGS = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")


def print_help_if_asked(argv, help_text):
  """For `--help`: `help_text(script, usage)` instead of absl's one
  alphabetical block; exits. `--helpfull` is absl's."""
  if not any(arg in _HELP_ARGS for arg in argv[1:]):
    return
  main_module = sys.modules.get("__main__")
  sys.stdout.write(help_text(argv[0],
                             getattr(main_module, "__doc__", None) or ""))
  sys.exit(0)


def run(main, help_text):
  """`absl.app.run(main)` with the logging and the error path above.

  Args:
    main: the script's main(argv).
    help_text: what `--help` prints, a function of the script's path and its
      usage (module docstring); the scripts pass `script_flags.grouped_help`,
      their flags by group.
  """
  from absl import app  # pylint: disable=g-import-not-at-top
  print_help_if_asked(sys.argv, help_text)
  # Before app.run: TensorFlow reads TF_XLA_FLAGS between parsing the flags
  # and main() (its after-init callback lists the devices). Inert unless
  # --use_xla turns the session's JIT on.
  cpu_features.set_xla_cpu_flags()

  @functools.wraps(main)
  def main_with_logging(argv):
    setup_logging()
    return main(argv)

  app.run(exit_on_user_error(main_with_logging))


@contextlib.contextmanager
def reading(what):
  """Turns the ValueError or OSError that a library function raises while
  reading the input `what` (e.g. "--bert_config_file=x.json") into a
  UserError naming it.

  Library modules raise plain ValueErrors for bad input, as the original's
  did; the scripts wrap the places where they hand them user input.
  """
  import quiet_tensorflow  # pylint: disable=g-import-not-at-top,unused-import
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  try:
    yield
  except UserError:
    raise
  except (ValueError, OSError, tf.errors.NotFoundError,
          tf.errors.PermissionDeniedError, tf.errors.DataLossError,
          tf.errors.InvalidArgumentError) as e:
    text = error_text(e)
    raise UserError(text if what in text else "%s: %s" % (what, text))


def read_utf8(path):
  """The text of the file `path`, a leading byte order mark dropped.

  Raises:
    UserError: the file is not UTF-8. The message names the line and the
      byte column of the first bad byte, e.g. `data/train.tsv:12: not valid
      UTF-8 (byte 0xff at column 7)`.
  """
  import quiet_tensorflow  # pylint: disable=g-import-not-at-top,unused-import
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  with tf.io.gfile.GFile(path, "rb") as f:
    data = f.read()
  try:
    return data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    data = e.object  # Without the byte order mark, if any.
    line_start = data.rfind(b"\n", 0, e.start) + 1
    raise UserError("%s:%d: not valid UTF-8 (byte 0x%02x at column %d)." %
                    (path, data.count(b"\n", 0, e.start) + 1, data[e.start],
                     e.start - line_start + 1))


HOROVOD_INSTALL = ("HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 pip install "
                   "horovod==0.28.1")


def horovod_running():
  """Whether this process has started Horovod (`horovod()`, which the
  runtime calls for --use_horovod): then each process reads its share of
  the training data and rank 0 alone writes checkpoints and results."""
  hvd = sys.modules.get("horovod.tensorflow")
  return hvd is not None and hvd.is_initialized()


def horovod():
  """The initialised `horovod.tensorflow` module (an optional extra)."""
  try:
    import horovod.tensorflow as hvd  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise UserError("--use_horovod needs the optional package horovod: %s" %
                    HOROVOD_INSTALL)
  if not hvd.is_initialized():
    hvd.init()
  return hvd


TENSORFLOW_HUB_INSTALL = 'pip install "tensorflow-hub==0.15.0" "setuptools<81"'


def tensorflow_hub():
  """The `tensorflow_hub` module (an optional extra) with `hub.Module`."""
  try:
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        "TF Hub modules need the optional package tensorflow-hub (%s): %s" %
        (e, TENSORFLOW_HUB_INSTALL))
  if not hasattr(hub, "Module"):
    raise ImportError(
        "tensorflow-hub %s has no hub.Module (removed in 0.16), which TF1 "
        "BERT modules need: %s" % (hub.__version__, TENSORFLOW_HUB_INSTALL))
  return hub
