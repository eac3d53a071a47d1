"""Output files and directories that are complete or absent, never half-written.

Every script writes its results the same way: under a temporary name beside
the final one (`temp_path`), renamed when complete. A run killed while writing
leaves only a temporary file, which the next run in the same directory removes
(`remove_stale_temp_files`, called by `prepare_output_dir`), and a reader never
mistakes a truncated file for a finished one.

One naming scheme serves files and directories alike,
`<name>.tmp-<host>-<pid>-<8 hex digits>`: the host and process id tell the
leftovers of a dead writer from the file of a live one. `temp_names.py`, free
of TensorFlow, owns the scheme (`squad_evaluate.py` uses it too); this module
is what every TensorFlow script uses.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import contextlib
import os
import re
import socket
import urllib.request

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
from command_line import error_text
import temp_names

temp_path = temp_names.temp_path
is_temp_name = temp_names.is_temp_name


def remove_stale_temp_files(directory):
  """Removes the `temp_path` files and directories in `directory` whose
  writer, a process of this host, no longer runs (it was killed while
  writing).

  Those of live processes, or of other hosts sharing the directory, stay.

  Returns:
    the names removed.
  """
  host = socket.gethostname()
  removed = []
  for name in sorted(tf.io.gfile.listdir(directory)):
    name = name.rstrip("/")
    writer = temp_names.parse_temp_name(name)
    if not writer or writer[0] != host or _process_exists(writer[1]):
      continue
    path = os.path.join(directory, name)
    try:
      if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
      else:
        tf.io.gfile.remove(path)
    except (tf.errors.OpError, OSError):
      continue  # Removed by another process meanwhile.
    removed.append(name)
  if removed:
    tf.logging.warning("Removed %d temporary file(s) that an interrupted run "
                       "left in %s: %s", len(removed), directory,
                       ", ".join(removed))
  return removed


def _process_exists(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except OSError:
    return True  # It exists but belongs to another user.
  return True


def remove_quietly(path):
  """Removes the file `path` if it exists; a failure to do so is ignored."""
  try:
    if tf.io.gfile.exists(path):
      tf.io.gfile.remove(path)
  except (tf.errors.OpError, OSError):
    pass


class TFRecordWriter(object):
  """Writes a TFRecord file under a temporary name, renamed by `close()`.

  As a context manager, an exception in the block removes the temporary
  file instead, and no file appears under the final name.
  """

  def __init__(self, path):
    self.path = path
    self._tmp_path = temp_path(path)
    self._writer = tf.io.TFRecordWriter(self._tmp_path)
    self.count = 0

  def write(self, serialized):
    self._writer.write(serialized)
    self.count += 1

  def close(self):
    try:
      self._writer.close()
      tf.io.gfile.rename(self._tmp_path, self.path, overwrite=True)
    except BaseException:
      remove_quietly(self._tmp_path)
      raise

  def abort(self):
    self._writer.close()
    remove_quietly(self._tmp_path)

  def __enter__(self):
    return self

  def __exit__(self, exc_type, exc_value, traceback):
    if exc_type is None:
      self.close()
    else:
      self.abort()


def int64_feature(values):
  """A `tf.train.Feature` of the integers `values`, for a TFRecord example."""
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


@contextlib.contextmanager
def atomic_text_file(path):
  """A text file to write line by line, renamed to `path` when the block
  ends without an exception (removed otherwise).

  For outputs larger than memory; `write_text_atomically` for the rest.
  """
  tmp_path = temp_path(path)
  try:
    with tf.io.gfile.GFile(tmp_path, "w") as writer:
      yield writer
    tf.io.gfile.rename(tmp_path, path, overwrite=True)
  except BaseException:
    remove_quietly(tmp_path)
    raise


def write_text_atomically(path, text):
  """Writes `text` to `path` so that readers see the old file or the new one.

  If writing fails (a full disk, an error), the old file stays as it was and
  the temporary file is removed.
  """
  with atomic_text_file(path) as writer:
    writer.write(text)


@contextlib.contextmanager
def atomic_directory(path):
  """A new directory to fill, which replaces `path` when the block ends
  without an exception; otherwise it is removed and `path` is untouched.

  The old `path`, if any, is moved aside only once the new one is complete,
  then deleted.
  """
  path = path.rstrip("/")
  parent = os.path.dirname(path)
  if parent:
    tf.io.gfile.makedirs(parent)
  tmp = temp_path(path)
  tf.io.gfile.makedirs(tmp)
  try:
    yield tmp
    old = None
    if tf.io.gfile.exists(path):
      old = temp_path(path)
      tf.io.gfile.rename(path, old)
    tf.io.gfile.rename(tmp, path)
    if old is not None:
      tf.io.gfile.rmtree(old)
  except BaseException:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.rmtree(tmp)
    raise


def write_eval_results(output_dir, result, file_name="eval_results.txt"):
  """Logs and writes `key = value` lines, sorted by key, as the original."""
  lines = []
  tf.logging.info("***** Eval results *****")
  for key in sorted(result.keys()):
    tf.logging.info("  %s = %s", key, str(result[key]))
    lines.append("%s = %s\n" % (key, str(result[key])))
  path = os.path.join(output_dir, file_name)
  write_text_atomically(path, "".join(lines))
  return path


# What the training scripts write in --output_dir: checkpoints, TensorBoard
# events, features, results (regular expressions on top-level names).
_RUN_OUTPUT_NAMES = re.compile(
    r"^(checkpoint|graph\.pbtxt|model\.ckpt-\d+\..+|events\.out\.tfevents\..+"
    r"|.+\.tf_record(\.key)?|eval_results\.(txt|json)|test_results\.tsv"
    r"|training_summary\.json|eval_history\.jsonl|(nbest_)?predictions\.json"
    r"|null_odds\.json|test_predictions\.(txt|tsv)|label_list\.txt"
    r"|task\.json|eval|eval_best|best"
    r"|horovod_rank_\d+)$")


def is_run_output(name):
  """Whether `name`, in an output directory, is written by a training run."""
  return bool(_RUN_OUTPUT_NAMES.match(name)) or is_temp_name(name)


def clear_previous_run(output_dir, flag="--output_dir"):
  """Removes what a previous run left in `output_dir` (--overwrite_output_dir).

  Everything must be a run's output (`is_run_output`), or nothing is
  touched. The files are first moved into one temporary directory, the
  `checkpoint` index first, so that a run killed meanwhile leaves no
  checkpoint to resume from beside the moved ones; the directory is then
  deleted (or, killed before, removed by the next `prepare_output_dir`).

  Returns:
    the names removed.

  Raises:
    UserError: naming a file that is not a run's output.
  """
  if not tf.io.gfile.isdir(output_dir):
    return []
  names = sorted(n.rstrip("/") for n in tf.io.gfile.listdir(output_dir))
  foreign = [n for n in names if not is_run_output(n)]
  if foreign:
    raise UserError(
        "%s=%s holds %s, which is not an output of a training run: "
        "--overwrite_output_dir removes only checkpoints and results. Move "
        "it away, or use another --output_dir." %
        (flag, output_dir, ", ".join(foreign[:3]) +
         (" and %d more" % (len(foreign) - 3) if len(foreign) > 3 else "")))
  if not names:
    return []
  trash = temp_path(os.path.join(output_dir, "previous_run"))
  tf.io.gfile.makedirs(trash)
  names.sort(key=lambda n: n != "checkpoint")
  for name in names:
    tf.io.gfile.rename(os.path.join(output_dir, name),
                       os.path.join(trash, name))
  tf.io.gfile.rmtree(trash)
  tf.logging.info("--overwrite_output_dir: removed %d files of a previous run "
                  "from %s.", len(names), output_dir)
  return names


def prepare_output_dir(output_dir, flag="--output_dir", overwrite=False):
  """Makes sure `output_dir` exists and takes files; cleans what dead runs
  left.

  A `gs://` directory needs Google Cloud credentials (`check_gcs_credentials`)
  before it is touched, so that a machine without any fails at once instead
  of waiting on the network. A local directory must take a new file: as root,
  permission bits say little, and /proc or a read-only mount refuse writes
  anyway. Temporary files of runs of this machine that were killed while
  writing are removed (`remove_stale_temp_files`). With `overwrite`, so is
  every output of a previous run (`clear_previous_run`).

  Raises:
    UserError: the directory cannot be created or written, naming `flag`.
  """
  if not output_dir:
    raise UserError("%s is required." % flag)
  if output_dir.startswith("gs://"):
    check_gcs_credentials("%s=%s" % (flag, output_dir))
  try:
    if tf.io.gfile.exists(output_dir) and not tf.io.gfile.isdir(output_dir):
      raise UserError("%s=%s is a file, not a directory." % (flag, output_dir))
    tf.io.gfile.makedirs(output_dir)
  except (tf.errors.OpError, OSError) as e:
    raise UserError("%s=%s cannot be created: %s" %
                    (flag, output_dir, error_text(e)))
  if "://" not in output_dir:
    probe = temp_path(os.path.join(output_dir, ".write_test"))
    try:
      with open(probe, "w"):
        pass
      os.remove(probe)
    except OSError as e:
      raise UserError("%s=%s is not writable: %s" %
                      (flag, output_dir, e.strerror or e))
    remove_stale_temp_files(output_dir)
  if overwrite:
    clear_previous_run(output_dir, flag)


def check_new_directory(path, flag, overwrite_flag=None, overwrite=False):
  """Fails before any work if writing the directory `path` would clobber
  something: it must not exist, or be an empty directory (or, with
  `overwrite`, any directory).

  Raises:
    UserError: naming `flag`, and `overwrite_flag` if there is one.
  """
  if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):
    raise UserError("%s=%s is a file, not a directory." % (flag, path))
  if (tf.io.gfile.isdir(path) and tf.io.gfile.listdir(path) and
      not overwrite):
    raise UserError(
        "%s=%s already exists and is not empty; choose a new directory%s." %
        (flag, path, " or pass %s" % overwrite_flag if overwrite_flag else
         " or remove it"))


def check_gcs_credentials(what):
  """Raises UserError, saying how to provide them, if TensorFlow would find
  no Google Cloud credentials for `what` (a `gs://` flag, named in the
  message).

  Looks where TensorFlow's GCS client looks: $GOOGLE_APPLICATION_CREDENTIALS,
  gcloud's application default credentials ($CLOUDSDK_CONFIG or
  ~/.config/gcloud), and the metadata server of a Google Cloud VM, given one
  second to answer (skipped with NO_GCE_CHECK=true, as TensorFlow does).
  """
  if os.environ.get("GOOGLE_AUTH_TOKEN_FOR_TESTING"):
    return
  key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
  if key_file:
    if not os.path.isfile(key_file):
      raise UserError("%s: GOOGLE_APPLICATION_CREDENTIALS=%s is not a file." %
                      (what, key_file))
    return
  config_dir = os.environ.get("CLOUDSDK_CONFIG") or os.path.join(
      os.path.expanduser("~"), ".config", "gcloud")
  if os.path.isfile(os.path.join(config_dir,
                                 "application_default_credentials.json")):
    return
  if (os.environ.get("NO_GCE_CHECK", "").lower() != "true" and
      _metadata_server_reachable()):
    return
  raise UserError(
      "%s is on Google Cloud Storage, but no Google Cloud credentials were "
      "found. Set GOOGLE_APPLICATION_CREDENTIALS to a service account key "
      "file, or run `gcloud auth application-default login`, or run on a "
      "Google Cloud VM or TPU; or use a local directory." % what)


def _metadata_server_reachable(timeout=1.0):
  """Whether a Google Cloud metadata server answers within `timeout` seconds.

  As google-auth checks: the reply must carry `Metadata-Flavor: Google` (a
  proxy or firewall may answer anything), and no proxy is used.
  """
  # An IP address: looking up metadata.google.internal could hang.
  host = os.environ.get("GCE_METADATA_IP", "169.254.169.254")
  request = urllib.request.Request("http://%s/" % host,
                                   headers={"Metadata-Flavor": "Google"})
  opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
  try:
    with opener.open(request, timeout=timeout) as response:
      return response.headers.get("Metadata-Flavor") == "Google"
  except Exception:  # pylint: disable=broad-except
    return False  # Refused, timed out, not HTTP: not a metadata server.
