"""What every BERT training script shares: flags, Estimator, inputs, logging.

The original scripts each repeated the same TPU flags, `RunConfig` and
`TPUEstimator` set-up, checkpoint warm start, TFRecord input function and
result writing. They live here once, and `run_classifier.py`, `run_squad.py`
and `run_pretraining.py` call them, so that every script behaves the same.

Nothing here knows about a task: scripts pass their `model_fn`, their feature
spec and their batch sizes. This module may import the library modules
(`modeling`, `optimization`, `tokenization`) and never a script.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import functools
import inspect
import json
import math
import os
import re
import socket
import sys
import time
import urllib.request
import uuid

from absl import flags
import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

import modeling
import optimization

FLAGS = flags.FLAGS

PRECISIONS = ("fp32", "bf16", "fp16")
STRATEGIES = ("none", "mirrored", "multi_worker_mirrored")

# --bucket_by_length: lengths 1-16 share a bucket, 17-32 the next, and so on.
BUCKET_WIDTH = 16
# The feature that carries each example's position in its input file through
# a bucketed evaluation or prediction, whose batches are out of order.
EXAMPLE_INDEX = "example_index"


def define_flags():
  """Defines the flags common to all training scripts (TPU, checkpoints...).

  Safe to call more than once (a script that imports another script's module,
  as `run_classifier_with_tfhub.py` does, gets each flag once).
  """
  if "use_tpu" in FLAGS:
    return
  flags.DEFINE_integer("save_checkpoints_steps", 1000,
                       "How often to save the model checkpoint.")
  flags.DEFINE_integer("iterations_per_loop", 1000,
                       "How many steps to make in each estimator call.")
  flags.DEFINE_bool("use_tpu", False, "Whether to use TPU or GPU/CPU.")
  flags.DEFINE_string(
      "tpu_name", None,
      "The Cloud TPU to use for training. This should be either the name "
      "used when creating the Cloud TPU, or a grpc://ip.address.of.tpu:8470 "
      "url.")
  flags.DEFINE_string(
      "tpu_zone", None,
      "[Optional] GCE zone where the Cloud TPU is located in. If not "
      "specified, we will attempt to automatically detect the GCE project from "
      "metadata.")
  flags.DEFINE_string(
      "gcp_project", None,
      "[Optional] Project name for the Cloud TPU-enabled project. If not "
      "specified, we will attempt to automatically detect the GCE project from "
      "metadata.")
  flags.DEFINE_string("master", None, "[Optional] TensorFlow master URL.")
  flags.DEFINE_integer(
      "num_tpu_cores", 8,
      "Only used if `use_tpu` is True. Total number of TPU cores to use.")
  flags.DEFINE_enum(
      "optimizer", "adamw", ["adamw", "lamb"],
      "adamw: Adam with decoupled weight decay, as the original BERT. lamb: "
      "layer-wise adaptive steps (You et al. 2019), for large batches.")
  flags.DEFINE_integer(
      "seed", None,
      "Graph-level random seed (initialisation, dropout, shuffling). Unset, "
      "runs differ from each other as the original's did.")
  flags.DEFINE_integer(
      "log_every_n_steps", 100,
      "How often to log steps/sec, examples/sec, loss and ETA in training.")
  flags.DEFINE_enum(
      "precision", "fp32", list(PRECISIONS),
      "Arithmetic of the encoder. bf16: bfloat16 matmuls with float32 "
      "variables, layer norm, softmax and loss (CPUs with AVX512_BF16/AMX, "
      "GPUs from Ampere, TPUs); checkpoints stay float32. fp16: float16 on "
      "GPU with dynamic loss scaling.")
  flags.DEFINE_enum(
      "bf16_implementation", "grappler", ["grappler", "cast"],
      "How --precision=bf16 is done. grappler: TensorFlow's "
      "auto_mixed_precision_onednn_bfloat16 rewrite of the float32 graph "
      "(fastest on CPU, see README). cast: explicit casts in the model "
      "(BertModel(compute_type=tf.bfloat16)); use it on GPU/TPU.")
  flags.DEFINE_bool(
      "use_xla", False,
      "Compile the graph with XLA (session-level global JIT). On CPU it also "
      "needs TF_XLA_FLAGS=--tf_xla_cpu_global_jit; see the README for when "
      "it helps.")
  flags.DEFINE_integer(
      "num_accumulation_steps", 1,
      "Average gradients over this many micro-batches of train_batch_size / "
      "num_accumulation_steps examples before each update, so that a large "
      "train_batch_size fits in memory. Must divide train_batch_size.")
  flags.DEFINE_enum(
      "distribution_strategy", "none", list(STRATEGIES),
      "tf.distribute engine for CPU/GPU training. mirrored: all local GPUs "
      "(--num_gpus), or the CPU; multi_worker_mirrored: several machines "
      "described by the TF_CONFIG environment variable. train_batch_size is "
      "the global batch.")
  flags.DEFINE_integer(
      "num_gpus", 0,
      "GPUs to mirror over with --distribution_strategy=mirrored (0: CPU).")
  flags.DEFINE_bool(
      "use_horovod", False,
      "Data-parallel training with Horovod (optional package), launched with "
      "`horovodrun -np N python <script> ... --use_horovod`. train_batch_size "
      "is the global batch; rank 0 writes checkpoints and results.")
  flags.DEFINE_bool(
      "bucket_by_length", False,
      "CPU/GPU: batch examples of similar length together (buckets %d word "
      "pieces wide, from the input_mask of each example) and pad each batch "
      "to its longest example instead of --max_seq_length. Same results, "
      "less work on padding; prediction results keep the input order. Not "
      "with --use_tpu, whose shapes must be static." % BUCKET_WIDTH)
  flags.DEFINE_string(
      "export_dir", None,
      "Directory to write a SavedModel for serving after training and "
      "evaluation, from the last checkpoint in --output_dir. Each export is a "
      "new subdirectory <export_dir>/<unix timestamp>/, written under a "
      "temporary name and renamed when complete. Its serving_default "
      "signature takes int32 input_ids, input_mask and segment_ids "
      "[batch, max_seq_length]; load it with tf.saved_model.load.")


def validate_runtime_flags(train_batch_size):
  """Rejects inconsistent runtime flags before any work starts."""
  strategy = FLAGS.distribution_strategy
  if FLAGS.use_horovod and (FLAGS.use_tpu or strategy != "none"):
    raise ValueError("--use_horovod cannot be combined with --use_tpu or "
                     "--distribution_strategy=%s." % strategy)
  if FLAGS.use_tpu and FLAGS.bucket_by_length:
    raise ValueError(
        "--bucket_by_length cannot be combined with --use_tpu: TPU batches "
        "must all have the static shape [batch, max_seq_length].")
  if FLAGS.use_tpu and strategy != "none":
    raise ValueError(
        "--use_tpu and --distribution_strategy=%s cannot be combined: "
        "TPUEstimator distributes over TPU cores itself." % strategy)
  if FLAGS.precision == "fp16" and not tf.config.list_physical_devices("GPU"):
    raise ValueError(
        "--precision=fp16 needs a GPU and this machine has none; use "
        "--precision=bf16 on CPU, or --precision=fp32.")
  if (FLAGS.precision == "bf16" and not FLAGS.use_tpu and
      not tf.config.list_physical_devices("GPU") and not cpu_has_native_bf16()):
    tf.logging.warning(
        "--precision=bf16: this CPU has no AVX512_BF16 or AMX_BF16 "
        "instructions, so bfloat16 is emulated: the grappler rewrite leaves "
        "the graph in float32, and --bf16_implementation=cast runs slower "
        "than fp32.")
  if strategy == "multi_worker_mirrored" and not os.environ.get("TF_CONFIG"):
    raise ValueError(
        "--distribution_strategy=multi_worker_mirrored needs the TF_CONFIG "
        "environment variable describing the cluster and this task.")
  if FLAGS.num_accumulation_steps < 1:
    raise ValueError("--num_accumulation_steps must be at least 1.")
  if train_batch_size % FLAGS.num_accumulation_steps != 0:
    raise ValueError(
        "--num_accumulation_steps=%d does not divide --train_batch_size=%d." %
        (FLAGS.num_accumulation_steps, train_batch_size))
  if FLAGS.num_accumulation_steps > 1 and strategy != "none":
    raise ValueError(
        "--num_accumulation_steps > 1 is not supported together with "
        "--distribution_strategy=%s; use a larger number of replicas or a "
        "single device." % strategy)
  replicas = num_replicas()
  if train_batch_size % replicas != 0:
    raise ValueError("--train_batch_size=%d is not divisible by the %d "
                     "replicas." % (train_batch_size, replicas))


def cpu_has_native_bf16():
  """Whether the CPU computes bfloat16 natively (Linux /proc/cpuinfo)."""
  try:
    with open("/proc/cpuinfo") as f:
      flags_line = next((l for l in f if l.startswith("flags")), "")
  except OSError:
    return False
  return bool({"avx512_bf16", "amx_bf16"} & set(flags_line.split()))


def num_replicas():
  """Replicas the global batch is split over (1 without a strategy)."""
  if FLAGS.use_horovod:
    return horovod().size()
  if FLAGS.distribution_strategy == "mirrored":
    return max(FLAGS.num_gpus, 1)
  if FLAGS.distribution_strategy == "multi_worker_mirrored":
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return max(len(cluster.get("worker", [])) + len(cluster.get("chief", [])),
               1) * max(FLAGS.num_gpus, 1)
  return 1


def horovod():
  """The initialised `horovod.tensorflow` module (an optional extra)."""
  try:
    import horovod.tensorflow as hvd  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ValueError(
        "--use_horovod needs the optional package horovod: "
        "HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 pip install "
        "horovod==0.28.1")
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


def _horovod_on():
  # Library use (tests, notebooks) may build input functions unparsed.
  return FLAGS.is_parsed() and FLAGS.use_horovod


def is_chief():
  """Whether this process writes checkpoints and results (Horovod rank 0)."""
  return not _horovod_on() or horovod().rank() == 0


def _horovod_average(grads):
  """Averages every gradient over the Horovod processes."""
  hvd = horovod()
  return [None if g is None else hvd.allreduce(
      tf.convert_to_tensor(g), op=hvd.Average) for g in grads]


def _input_shard():
  """(number of shards, this process's shard) for input files."""
  if _horovod_on():
    return horovod().size(), horovod().rank()
  return 1, 0


def compute_type():
  """The dtype scripts pass to `BertModel(compute_type=...)`."""
  if FLAGS.precision == "fp16":
    return tf.float16
  if FLAGS.precision == "bf16" and FLAGS.bf16_implementation == "cast":
    return tf.bfloat16
  return tf.float32


def session_config():
  """ConfigProto with the precision rewrite and XLA the flags ask for."""
  config = tf.ConfigProto(allow_soft_placement=True)
  if FLAGS.precision == "bf16" and FLAGS.bf16_implementation == "grappler":
    config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)
  if FLAGS.use_xla:
    config.graph_options.optimizer_options.global_jit_level = (
        tf.OptimizerOptions.ON_1)
  if FLAGS.use_horovod:
    config.gpu_options.visible_device_list = str(horovod().local_rank())
  return config


def create_train_op(loss, learning_rate, num_train_steps, num_warmup_steps):
  """`optimization.create_optimizer` with the optimiser, accumulation and
  loss scaling that the runtime flags ask for."""
  return optimization.create_optimizer(
      loss, learning_rate, num_train_steps, num_warmup_steps, FLAGS.use_tpu,
      optimizer_name=FLAGS.optimizer,
      num_accumulation_steps=FLAGS.num_accumulation_steps,
      loss_scale="dynamic" if FLAGS.precision == "fp16" else None,
      gradient_reducer=_horovod_average if FLAGS.use_horovod else None)


def _strategy():
  if FLAGS.distribution_strategy == "mirrored":
    if FLAGS.num_gpus > 0:
      return tf.distribute.MirroredStrategy(
          devices=["/gpu:%d" % i for i in range(FLAGS.num_gpus)])
    # NCCL is GPU-only, and the default all-reduce hangs on CPU devices.
    return tf.distribute.MirroredStrategy(
        devices=["/cpu:0"],
        cross_device_ops=tf.distribute.ReductionToOneDevice())
  if FLAGS.distribution_strategy == "multi_worker_mirrored":
    return tf.distribute.experimental.MultiWorkerMirroredStrategy()
  return None


def setup_logging():
  """INFO logging, each line once.

  TensorFlow's logger has a handler of its own; passing its records on to the
  handler absl installs as well would print every line twice.
  """
  tf.logging.set_verbosity(tf.logging.INFO)
  tf.get_logger().propagate = False


def check_output_dir(output_dir):
  """Creates `output_dir`, failing early and clearly if it cannot be used.

  A `gs://` directory needs Google Cloud credentials (`check_gcs_credentials`)
  before it is touched, so that a machine without any fails at once instead
  of waiting on the network. A local directory must take a new file: as root,
  permission bits say little, and /proc or a read-only mount refuse writes
  anyway. Temporary files of runs of this machine that were killed while
  writing are removed (`remove_stale_temp_files`).
  """
  if not output_dir:
    raise ValueError("--output_dir is required.")
  if output_dir.startswith("gs://"):
    check_gcs_credentials("--output_dir=%s" % output_dir)
  try:
    if tf.io.gfile.exists(output_dir) and not tf.io.gfile.isdir(output_dir):
      raise ValueError("--output_dir=%s is a file, not a directory." %
                       output_dir)
    tf.io.gfile.makedirs(output_dir)
  except (tf.errors.OpError, OSError) as e:
    raise ValueError("--output_dir=%s cannot be created: %s" %
                     (output_dir, error_text(e)))
  if "://" not in output_dir:
    probe = temp_path(os.path.join(output_dir, ".write_test"))
    try:
      with open(probe, "w"):
        pass
      os.remove(probe)
    except OSError as e:
      raise ValueError("--output_dir=%s is not writable: %s" %
                       (output_dir, e.strerror or e))
    remove_stale_temp_files(output_dir)


def check_gcs_credentials(what):
  """Raises ValueError, saying how to provide them, if TensorFlow would find
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
      raise ValueError("%s: GOOGLE_APPLICATION_CREDENTIALS=%s is not a file." %
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
  raise ValueError(
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


def error_text(error):
  """The message of `error`; for a TensorFlow error, the line that says what
  went wrong, without the graph node and stack TensorFlow adds."""
  if not isinstance(error, tf.errors.OpError):
    return str(error)
  lines = [l.strip() for l in (error.message or "").splitlines() if l.strip()]
  for i, line in enumerate(lines[:-1]):
    if line.startswith("Node: "):
      return lines[i + 1]
  return lines[0] if lines else type(error).__name__


# Errors that say what to fix: a flag, a path, an input file (and, below,
# NonFiniteLossError: the loss).
USER_ERRORS = (ValueError, OSError, tf.errors.NotFoundError,
               tf.errors.PermissionDeniedError, tf.errors.DataLossError)


def exit_on_user_error(main):
  """Wraps a script's `main` for `app.run`: a `USER_ERRORS` error ends the
  run with one line, `<script>: error: <message>`, and exit status 1.

  The messages of these errors name the flag, file or step at fault; a
  traceback, from deep inside TensorFlow for some, would only bury them.
  Other exceptions keep their traceback.
  """

  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except USER_ERRORS + (NonFiniteLossError,) as e:
      sys.exit("%s: error: %s" % (os.path.basename(sys.argv[0]),
                                  error_text(e)))

  return wrapped


# The inputs of an exported model's serving_default signature.
SERVING_INPUTS = ("input_ids", "input_mask", "segment_ids")


def check_export_dir(export_dir, output_dir, will_train):
  """Fails before any work if `--export_dir` could not be written at the end.

  The export is of the last checkpoint in `output_dir`, so without training
  one must already be there.
  """
  if not export_dir:
    return
  if tf.io.gfile.exists(export_dir) and not tf.io.gfile.isdir(export_dir):
    raise ValueError(
        "--export_dir=%s is a file, not a directory: SavedModels are written "
        "to new subdirectories of it." % export_dir)
  try:
    tf.io.gfile.makedirs(export_dir)
  except (tf.errors.OpError, OSError) as e:
    raise ValueError("--export_dir=%s cannot be created: %s" % (export_dir, e))
  if not will_train and not tf.train.latest_checkpoint(output_dir):
    raise ValueError(
        "--export_dir exports the model trained in --output_dir=%s, which has "
        "no checkpoint: add --do_train, or point --output_dir at a "
        "fine-tuned model." % output_dir)


def serving_input_receiver_fn(seq_length):
  """Receiver of int32 `SERVING_INPUTS`, [batch, seq_length] each."""

  def receiver_fn():
    inputs = {
        name: tf.placeholder(tf.int32, [None, seq_length], name=name)
        for name in SERVING_INPUTS
    }
    return tf.estimator.export.ServingInputReceiver(inputs, inputs)

  return receiver_fn


def export_saved_model(estimator, export_dir, seq_length):
  """Writes the estimator's last checkpoint as a SavedModel for serving.

  The model_fn is called in PREDICT mode on the `SERVING_INPUTS` alone (no
  labels), and its predictions become the outputs of the `serving_default`
  signature. The Estimator writes into `<export_dir>/temp-<timestamp>/` and
  renames it to `<export_dir>/<timestamp>/` when complete.

  Returns:
    the path of the SavedModel.
  """
  if not tf.train.latest_checkpoint(estimator.model_dir):
    raise ValueError("No checkpoint in %s to export." % estimator.model_dir)
  path = estimator.export_saved_model(export_dir,
                                      serving_input_receiver_fn(seq_length))
  if isinstance(path, bytes):
    path = path.decode("utf-8")
  tf.logging.info("Exported a SavedModel to %s", path)
  return path


def build_estimator(model_fn, output_dir, train_batch_size,
                    eval_batch_size=None, predict_batch_size=None):
  """A `TPUEstimator` configured from the shared flags.

  With `--use_tpu=False` (the default) it runs on the CPU or GPU, as the
  original did. With a `--distribution_strategy` it is a plain `Estimator`
  over that strategy, running the same `model_fn` (its `TPUEstimatorSpec`s are
  converted). `train_batch_size` is the global batch: each replica and each
  accumulation micro-step reads its share.
  """
  validate_runtime_flags(train_batch_size)
  micro_batch = train_batch_size // FLAGS.num_accumulation_steps
  if FLAGS.use_horovod:
    micro_batch //= horovod().size()
    if not is_chief():
      # Only rank 0 keeps checkpoints; the others train in a scratch dir.
      output_dir = os.path.join(output_dir, "horovod_rank_%d" %
                                horovod().rank())
  strategy = _strategy()
  if strategy is not None:
    return _distributed_estimator(model_fn, output_dir, strategy,
                                  micro_batch // num_replicas(),
                                  eval_batch_size, predict_batch_size)
  cluster = None
  if FLAGS.use_tpu and FLAGS.tpu_name:
    cluster = tf.distribute.cluster_resolver.TPUClusterResolver(
        FLAGS.tpu_name, zone=FLAGS.tpu_zone, project=FLAGS.gcp_project)
  run_config = tf.estimator.tpu.RunConfig(
      cluster=cluster,
      master=FLAGS.master,
      model_dir=output_dir,
      save_checkpoints_steps=FLAGS.save_checkpoints_steps,
      tf_random_seed=FLAGS.seed,
      # TPUEstimator logs every ceil(n / iterations_per_loop) session runs,
      # i.e. every step off TPU; ThroughputHook logs there instead.
      log_step_count_steps=FLAGS.log_every_n_steps if FLAGS.use_tpu else None,
      session_config=session_config(),
      tpu_config=tf.estimator.tpu.TPUConfig(
          iterations_per_loop=FLAGS.iterations_per_loop,
          num_shards=FLAGS.num_tpu_cores,
          per_host_input_for_training=(
              tf.estimator.tpu.InputPipelineConfig.PER_HOST_V2)))
  return tf.estimator.tpu.TPUEstimator(
      use_tpu=FLAGS.use_tpu,
      model_fn=model_fn,
      config=run_config,
      train_batch_size=micro_batch,
      eval_batch_size=eval_batch_size,
      predict_batch_size=predict_batch_size,
      # Off TPU, export one CPU graph: tf.saved_model.load needs no tags.
      export_to_tpu=FLAGS.use_tpu)


def _distributed_estimator(model_fn, output_dir, strategy, replica_batch,
                           eval_batch_size, predict_batch_size):
  """A plain Estimator over `strategy` that runs a TPUEstimator model_fn."""

  def estimator_model_fn(features, labels, mode, params):
    batch_size = {
        tf.estimator.ModeKeys.TRAIN: replica_batch,
        tf.estimator.ModeKeys.EVAL: eval_batch_size,
        tf.estimator.ModeKeys.PREDICT: predict_batch_size,
    }[mode]
    spec = model_fn(features, labels, mode, dict(params, batch_size=batch_size))
    if isinstance(spec, tf.estimator.tpu.TPUEstimatorSpec):
      spec = spec.as_estimator_spec()
    if mode == tf.estimator.ModeKeys.TRAIN and spec.loss is not None:
      # Estimator sums the replicas' losses; report their mean instead, the
      # loss of the global batch, comparable with a single-device run.
      replicas = tf.distribute.get_replica_context().num_replicas_in_sync
      spec = spec._replace(loss=spec.loss / float(replicas))
    return spec

  run_config = tf.estimator.RunConfig(
      model_dir=output_dir,
      save_checkpoints_steps=FLAGS.save_checkpoints_steps,
      tf_random_seed=FLAGS.seed,
      log_step_count_steps=None,  # ThroughputHook logs progress.
      session_config=session_config(),
      train_distribute=strategy)
  estimator = tf.estimator.Estimator(model_fn=estimator_model_fn,
                                     config=run_config)
  return _PerModeBatchSize(
      estimator, {"train": replica_batch, "evaluate": eval_batch_size,
                  "predict": predict_batch_size})


class _PerModeBatchSize(object):
  """Wraps an Estimator so that each input_fn gets `params["batch_size"]` of
  its mode, as TPUEstimator's do; scripts' input functions work unchanged.

  Everything else is delegated to the Estimator.
  """

  def __init__(self, estimator, batch_sizes):
    self.estimator = estimator
    self.batch_sizes = batch_sizes

  def __getattr__(self, name):
    method = getattr(self.estimator, name)
    if name not in self.batch_sizes:
      return method
    batch_size = self.batch_sizes[name]

    def call(input_fn, *args, **kwargs):
      return method(_with_batch_size(input_fn, batch_size), *args, **kwargs)

    return call


def _with_batch_size(input_fn, batch_size):
  takes_context = "input_context" in inspect.signature(input_fn).parameters

  def wrapped(params, input_context=None):
    params = dict(params or {}, batch_size=batch_size)
    if takes_context:
      return input_fn(params, input_context=input_context)
    return input_fn(params)

  return wrapped


class NonFiniteLossError(RuntimeError):
  """Training stopped because the loss became NaN or infinite."""


class InputDataError(ValueError):
  """An input file is corrupt or truncated, found while reading it."""


def train(estimator, input_fn, max_steps, hooks=None, input_files=None):
  """Trains to `max_steps`; multi-worker runs go through train_and_evaluate,
  which is how Estimator starts a MultiWorkerMirroredStrategy cluster.

  `input_files`, the files `input_fn` reads, are named if one is corrupt.

  Raises:
    NonFiniteLossError: the loss became NaN or infinite; the step that
      produced it was not applied and no checkpoint of it was written.
    InputDataError: an input file is truncated or corrupt (TensorFlow finds
      it only when reading reaches the damage).
  """
  last = [h for h in hooks or () if isinstance(h, ThroughputHook)]
  try:
    _train(estimator, input_fn, max_steps, hooks)
  except tf.errors.DataLossError as e:
    step = last[0].last_step if last else None
    files = list(input_files or [])
    raise InputDataError(
        "Training stopped%s: an input file is corrupt or truncated (%s). "
        "Input files: %s. A file cut short, e.g. by an interrupted copy or "
        "write, cannot be read past the damage: copy or create it again. "
        "The checkpoints in %s are intact; a rerun resumes from the last." %
        (" after step %d" % step if step is not None else "", error_text(e),
         ", ".join(files[:5]) + (" and %d more" % (len(files) - 5)
                                 if len(files) > 5 else "") or "?",
         estimator.model_dir))
  except tf.errors.InvalidArgumentError as e:
    if optimization.NON_FINITE_LOSS_MESSAGE not in str(e.message):
      raise
    last = [h.last_step for h in last]
    step = "%d" % (last[0] + 1) if last and last[0] is not None else "?"
    raise NonFiniteLossError(
        "The training loss became NaN or infinite at step %s; training "
        "stopped before applying that step, and the last checkpoint in %s "
        "is from before it. Lower --learning_rate, check the input data, or "
        "use --precision=fp32." % (step, estimator.model_dir))


def _train(estimator, input_fn, max_steps, hooks):
  if FLAGS.use_horovod:
    # Every process starts from rank 0's initial weights.
    hooks = list(hooks or []) + [
        horovod().BroadcastGlobalVariablesHook(0)]
  if FLAGS.distribution_strategy == "multi_worker_mirrored":
    # train_and_evaluate wants the Estimator itself, not the wrapper.
    input_fn = _with_batch_size(input_fn, estimator.batch_sizes["train"])
    tf.estimator.train_and_evaluate(
        estimator.estimator,
        tf.estimator.TrainSpec(input_fn=input_fn, max_steps=max_steps,
                               hooks=hooks),
        tf.estimator.EvalSpec(input_fn=input_fn, steps=1))
    return
  estimator.train(input_fn=input_fn, max_steps=max_steps, hooks=hooks)


def init_from_checkpoint(init_checkpoint, use_tpu):
  """Warm-starts the graph's variables from `init_checkpoint`.

  Logs every trainable variable, marking those found in the checkpoint.

  Returns:
    the `scaffold_fn` a `TPUEstimatorSpec` needs on TPU (None otherwise).
  """
  tvars = tf.trainable_variables()
  initialized = {}
  scaffold_fn = None
  if init_checkpoint:
    (assignment_map, initialized
    ) = modeling.get_assignment_map_from_checkpoint(tvars, init_checkpoint)
    if use_tpu:

      def tpu_scaffold():
        tf.train.init_from_checkpoint(init_checkpoint, assignment_map)
        return tf.train.Scaffold()

      scaffold_fn = tpu_scaffold
    else:
      tf.train.init_from_checkpoint(init_checkpoint, assignment_map)

  tf.logging.info("**** Trainable Variables ****")
  for var in tvars:
    init_string = ", *INIT_FROM_CKPT*" if var.name in initialized else ""
    tf.logging.info("  name = %s, shape = %s%s", var.name, var.shape,
                    init_string)
  return scaffold_fn


def tfrecord_input_fn_builder(input_files, name_to_features, is_training,
                              drop_remainder, shuffle_buffer=100,
                              bucket_by_length=False):
  """An `input_fn` over TFRecord files of fixed-length features.

  int64 features are cast to int32, which TPUs need and which costs nothing
  elsewhere. Training repeats and shuffles; evaluation reads once, in order
  (with `bucket_by_length`, see `batch_examples`).
  """
  if isinstance(input_files, str):
    input_files = [input_files]

  def decode_record(record):
    example = tf.parse_single_example(record, name_to_features)
    for name in list(example.keys()):
      if example[name].dtype == tf.int64:
        example[name] = tf.cast(example[name], tf.int32)
    return example

  def input_fn(params, input_context=None):
    d = tf.data.TFRecordDataset(input_files)
    if input_context is not None and input_context.num_input_pipelines > 1:
      # Each worker reads its own share of the records.
      d = d.shard(input_context.num_input_pipelines,
                  input_context.input_pipeline_id)
    num_shards, shard = _input_shard()
    if num_shards > 1 and is_training:
      d = d.shard(num_shards, shard)
    d = batch_examples(d, params["batch_size"], is_training, drop_remainder,
                       shuffle_buffer, decode_record, bucket_by_length)
    return d.prefetch(tf.data.AUTOTUNE)

  return input_fn


def batch_examples(dataset, batch_size, is_training, drop_remainder,
                   shuffle_buffer=100, decode=None, bucket_by_length=False,
                   mask_feature="input_mask"):
  """Batches a dataset of feature dicts padded to one length.

  Training repeats and shuffles (`shuffle_buffer` records, before `decode`);
  evaluation and prediction read once, in order. `decode`, if given, maps
  each record to its feature dict.

  With `bucket_by_length` (CPU/GPU only: shapes vary), see `_by_length`:
  batches hold examples of similar length and are trimmed to the longest;
  each training epoch still sees every example once.
  """
  if bucket_by_length:
    return _by_length(dataset, batch_size, is_training, shuffle_buffer,
                      decode, mask_feature)
  if is_training:
    dataset = dataset.repeat().shuffle(buffer_size=shuffle_buffer)
  if decode is not None:
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.batch(batch_size, drop_remainder=drop_remainder)


def _by_length(dataset, batch_size, is_training, shuffle_buffer, decode,
               mask_feature):
  """Length-bucketed batches, one epoch at a time.

  Each example's length is the number of ones in its `mask_feature`; lengths
  fall into buckets `BUCKET_WIDTH` wide up to the padded length. A bucket
  gives a batch as soon as it holds `batch_size` examples. At the end of the
  epoch the examples left over in the buckets are batched together (sorted
  by bucket), so every example is seen once per epoch and only the last
  batch of an epoch may be smaller. Every batch is then cut to its longest
  example: columns past it are padding, which the attention mask already
  ignores, so a model sees the same values as in the padded run.

  Batches are out of input order: off training, each example carries its
  position as `EXAMPLE_INDEX`, for `with_example_index`/`in_input_order`.
  """
  if is_training:
    # Shuffle within the epoch (reshuffled each epoch), then repeat: the
    # buckets are emptied at each epoch's end, so no example waits there.
    dataset = dataset.shuffle(buffer_size=shuffle_buffer)
  if decode is not None:
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
  if not is_training:
    dataset = dataset.enumerate().map(
        lambda index, example: dict(example, **{EXAMPLE_INDEX: index}))
  seq_length = dataset.element_spec[mask_feature].shape[0]
  num_buckets = max(1, -(-seq_length // BUCKET_WIDTH))

  def bucket(example):
    length = tf.reduce_sum(tf.cast(example[mask_feature], tf.int64))
    return tf.clip_by_value((length - 1) // BUCKET_WIDTH, 0, num_buckets - 1)

  dataset = dataset.group_by_window(
      key_func=bucket, reduce_func=lambda _, window: window.batch(batch_size),
      window_size=batch_size)
  # group_by_window gives every full bucket batch before the leftovers it
  # flushes at the end of its input; re-batching keeps the full ones intact
  # and packs the leftovers into as few batches as possible.
  dataset = dataset.unbatch().batch(batch_size)
  dataset = dataset.map(
      lambda batch: _cut_to_longest(batch, seq_length, mask_feature),
      num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.repeat() if is_training else dataset


def _cut_to_longest(batch, seq_length, mask_feature):
  """Drops the columns that are padding in every example of `batch`: those of
  each [batch, seq_length] feature past the longest `mask_feature`."""
  longest = tf.maximum(
      tf.reduce_max(tf.reduce_sum(batch[mask_feature], axis=1)), 1)
  return {name: (t[:, :longest] if t.shape.rank == 2 and
                 t.shape[1] == seq_length else t)
          for name, t in batch.items()}


def with_example_index(predictions, features):
  """`predictions` plus the input position `EXAMPLE_INDEX` of each example,
  when a bucketed input gave it (see `in_input_order`)."""
  if EXAMPLE_INDEX in features:
    predictions = dict(predictions,
                       **{EXAMPLE_INDEX: features[EXAMPLE_INDEX]})
  return predictions


def in_input_order(predictions):
  """Yields the prediction dicts of `Estimator.predict` in input order.

  Bucketed prediction (`--bucket_by_length`) runs examples out of order;
  their `EXAMPLE_INDEX` says where each belongs. Each prediction is yielded
  as soon as all before it are, and held until then. Predictions without an
  index come from an input read in order and pass through as they are.

  Raises:
    ValueError: the predictions skipped an input position.
  """
  pending = {}
  position = 0
  for prediction in predictions:
    if EXAMPLE_INDEX not in prediction:
      yield prediction
      continue
    pending[int(prediction[EXAMPLE_INDEX])] = prediction
    while position in pending:
      yield pending.pop(position)
      position += 1
  if pending:
    raise ValueError(
        "Bucketed prediction lost examples: got no prediction for input "
        "position %d, but for %d later ones." % (position, len(pending)))


def temp_path(path):
  """Where to write `path` before renaming it: `<path>.tmp-<host>-<pid>-<hex>`.

  The host and process id let `remove_stale_temp_files` tell the leftovers
  of a killed run from a file that a live process is still writing.
  """
  return "%s.tmp-%s-%d-%s" % (path, socket.gethostname(), os.getpid(),
                              uuid.uuid4().hex[:8])


_TEMP_NAME_RE = re.compile(r"\.tmp-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}$")


def remove_stale_temp_files(directory):
  """Removes the `temp_path` files in `directory` whose writer, a process of
  this host, no longer runs (it was killed while writing).

  Files of live processes, or of other hosts sharing the directory, stay.

  Returns:
    the names of the files removed.
  """
  host = socket.gethostname()
  removed = []
  for name in sorted(tf.io.gfile.listdir(directory)):
    match = _TEMP_NAME_RE.search(name)
    if (not match or match.group("host") != host or
        _process_exists(int(match.group("pid")))):
      continue
    try:
      tf.io.gfile.remove(os.path.join(directory, name))
    except (tf.errors.OpError, OSError):
      continue  # Removed by another process, or a directory: not ours.
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


def _remove_quietly(path):
  try:
    if tf.io.gfile.exists(path):
      tf.io.gfile.remove(path)
  except (tf.errors.OpError, OSError):
    pass


class TFRecordWriter(object):
  """Writes a TFRecord file under a temporary name and renames it when done.

  A run killed while writing leaves no file under the final name, so a later
  run never reads a half-written file as if it were complete; the next run
  in the same output directory removes the temporary file (`check_output_dir`).
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
      _remove_quietly(self._tmp_path)
      raise

  def abort(self):
    self._writer.close()
    _remove_quietly(self._tmp_path)

  def __enter__(self):
    return self

  def __exit__(self, exc_type, exc_value, traceback):
    if exc_type is None:
      self.close()
    else:
      self.abort()


def write_text_atomically(path, text):
  """Writes `text` to `path` so that readers see the old file or the new one.

  If writing fails (a full disk, an error), the old file stays as it was and
  the temporary file is removed.
  """
  tmp_path = temp_path(path)
  try:
    with tf.io.gfile.GFile(tmp_path, "w") as writer:
      writer.write(text)
    tf.io.gfile.rename(tmp_path, path, overwrite=True)
  except BaseException:
    _remove_quietly(tmp_path)
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


class ThroughputHook(tf.train.SessionRunHook):
  """Logs steps/sec, examples/sec, loss and ETA while training.

  At the end it logs a one-line JSON summary (prefixed `TRAINING_SUMMARY`)
  with examples/sec, steps, wall time and final loss, for benchmarks and
  users to parse, and writes it to `<output_dir>/training_summary.json`.
  """

  def __init__(self, batch_size, num_train_steps, every_n_steps=100,
               output_dir=None):
    self._batch_size = batch_size
    self._num_train_steps = num_train_steps
    self._every_n_steps = max(1, every_n_steps)
    self._output_dir = output_dir

  def begin(self):
    self._global_step = tf.train.get_global_step()
    self._loss = _find_loss()
    self._start_time = None
    self._last = None
    self._steps_run = 0
    self._final_loss = None
    self._first_step = None
    self.last_step = None

  def after_create_session(self, session, coord):
    # Known before the first step runs, so a failure in it can be placed.
    self.last_step = int(session.run(self._global_step))

  def before_run(self, run_context):
    fetches = {"step": self._global_step}
    if self._loss is not None:
      fetches["loss"] = self._loss
    return tf.train.SessionRunArgs(fetches)

  def after_run(self, run_context, run_values):
    now = time.time()
    step = int(run_values.results["step"])
    # `step` is read as the step starts, before its update; a failure in the
    # next step comes after the global step as it is now, so read that.
    self.last_step = int(run_context.session.run(self._global_step))
    loss = run_values.results.get("loss")
    if loss is not None:
      self._final_loss = float(loss)
    if self._start_time is None:
      # The first step includes graph optimisation; time from its end.
      self._start_time = now
      self._first_step = step
      self._last = (now, step)
      return
    self._steps_run = step - self._first_step
    last_time, last_step = self._last
    if step - last_step >= self._every_n_steps:
      steps_per_sec = (step - last_step) / max(now - last_time, 1e-9)
      remaining = max(self._num_train_steps - step, 0)
      eta = remaining / steps_per_sec if steps_per_sec > 0 else float("inf")
      tf.logging.info(
          "step %d/%d: %.2f steps/sec, %.1f examples/sec, loss = %s, "
          "ETA %s", step, self._num_train_steps, steps_per_sec,
          steps_per_sec * self._batch_size,
          "%.4f" % self._final_loss if self._final_loss is not None else "?",
          _format_duration(eta))
      self._last = (now, step)

  def end(self, session):
    if self._start_time is None:
      return
    wall = time.time() - self._start_time
    summary = {
        "steps": self._steps_run,
        "wall_time_sec": round(wall, 3),
        "examples_per_sec": round(
            self._steps_run * self._batch_size / max(wall, 1e-9), 3),
        "batch_size": self._batch_size,
        "final_loss": self._final_loss,
    }
    line = json.dumps(summary, sort_keys=True)
    tf.logging.info("TRAINING_SUMMARY %s", line)
    if self._output_dir:
      write_text_atomically(
          os.path.join(self._output_dir, "training_summary.json"), line + "\n")


# Graph collection through which a model_fn shows its loss to ThroughputHook.
TRAIN_LOSS_COLLECTION = "runtime_train_loss"


def register_train_loss(loss):
  """Makes `loss` visible to `ThroughputHook` (call it in the model_fn)."""
  tf.add_to_collection(TRAIN_LOSS_COLLECTION, loss)


def _find_loss():
  losses = tf.get_collection(TRAIN_LOSS_COLLECTION)
  return losses[0] if losses else None


def _format_duration(seconds):
  if math.isinf(seconds):
    return "?"
  seconds = int(seconds)
  return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)
