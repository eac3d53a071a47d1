"""Input pipelines over TFRecord files: shuffling, sharding, bucketing, resume.

Every training script reads its features through `tfrecord_input_fn_builder`
(or, for features held in memory, `batch_examples`), so that all of them get
the same behaviour:

  * training repeats and shuffles; evaluation and prediction read in order;
  * each worker of a multi-worker strategy, and each Horovod process in
    training, reads its own share of the records (`runtime.input_shard`);
  * pre-training reads many files at once, interleaved;
  * `--bucket_by_length` (CPU/GPU) batches examples of similar length, each
    batch cut to its longest, and `in_input_order` puts predictions back in
    input order;
  * a run resumed with --seed skips the records of the steps already made
    (`input_fn.resumed_at(step)`), so it reads what an uninterrupted run
    would have read.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import runtime
import script_flags

# --bucket_by_length: lengths 1-16 share a bucket, 17-32 the next, and so on.
BUCKET_WIDTH = script_flags.BUCKET_WIDTH
# The feature that carries each record's position in its input file through
# a bucketed evaluation or prediction, whose batches are out of order. (Not
# "example_index": long-document windows have that, the document of each.)
EXAMPLE_INDEX = "input_position"


def decode_record(record, name_to_features):
  """Parses one serialized example; int64 becomes int32, which TPUs need and
  which costs nothing elsewhere."""
  example = tf.parse_single_example(record, name_to_features)
  for name in list(example.keys()):
    if example[name].dtype == tf.int64:
      example[name] = tf.cast(example[name], tf.int32)
  return example


def tfrecord_input_fn_builder(input_files, name_to_features, is_training,
                              drop_remainder, shuffle_buffer=100,
                              interleave_files=False, repeat=None,
                              deterministic=True, bucket_by_length=False,
                              start_step=0, accumulation_steps=1,
                              num_replicas=1, transform=None):
  """An `input_fn` over TFRecord files of fixed-length features.

  Training repeats and shuffles; evaluation reads once, in order (or, with
  `repeat`, over and over, for a fixed number of steps). Each worker of a
  multi-worker strategy or Horovod reads its own share of the records.

  With `interleave_files` (pre-training on many files), training reads the
  files in shuffled order, several at once, interleaved; unless
  `deterministic`, a file that is slow to read does not hold up the others.

  With `bucket_by_length` (CPU/GPU), batches hold examples of similar length,
  each cut to its longest (see `batch_examples`).

  Training from `start_step` skips the records of the steps before it, after
  the (seeded) shuffle and before parsing: the batches are those an
  uninterrupted run reads from that step on (with `bucket_by_length`, given
  a graph seed, whole epochs and then batches are skipped). `transform`, if
  given, maps each decoded feature dict (e.g. records of another layout to
  the features a model reads). The returned function's `resumed_at(step)`
  is the same input_fn starting at `step`, for a run that accumulates
  gradients over `accumulation_steps` micro-batches per step and whose
  global batch is split over `num_replicas` replicas.
  """
  if isinstance(input_files, str):
    input_files = [input_files]
  arguments = dict(input_files=input_files, name_to_features=name_to_features,
                   is_training=is_training, drop_remainder=drop_remainder,
                   shuffle_buffer=shuffle_buffer,
                   interleave_files=interleave_files, repeat=repeat,
                   deterministic=deterministic,
                   bucket_by_length=bucket_by_length, transform=transform)

  def decode(record):
    example = decode_record(record, name_to_features)
    return transform(example) if transform is not None else example

  def input_fn(params, input_context=None):
    num_shards, shard = runtime.input_shard(input_context, is_training)
    if is_training and interleave_files:
      d = _interleaved_records(input_files, deterministic, num_shards, shard)
    else:
      d = tf.data.TFRecordDataset(input_files)
      if num_shards > 1:
        # Each worker reads its own share of the records.
        d = d.shard(num_shards, shard)
    skip = 0
    if is_training and start_step:
      skip = start_step * _records_per_step(
          params["batch_size"], num_shards, accumulation_steps, num_replicas)
    d = batch_examples(
        d, params["batch_size"], is_training, drop_remainder, shuffle_buffer,
        decode, bucket_by_length, repeat=repeat, skip=skip)
    return d.prefetch(tf.data.AUTOTUNE)

  input_fn.resumed_at = (
      lambda step, accumulation_steps=1, num_replicas=1:
      tfrecord_input_fn_builder(start_step=step,
                                accumulation_steps=accumulation_steps,
                                num_replicas=num_replicas, **arguments))
  return input_fn


def batch_examples(dataset, batch_size, is_training, drop_remainder,
                   shuffle_buffer=100, decode=None, bucket_by_length=False,
                   mask_feature="input_mask", repeat=None, skip=0):
  """Batches a dataset of feature dicts padded to one length.

  Training shuffles (`shuffle_buffer` records, before `decode`); evaluation
  and prediction read in order. Training repeats, and so does anything with
  `repeat`; the rest reads once. `decode`, if given, maps each record to its
  feature dict. Training drops the first `skip` shuffled records (those a
  resumed run already trained on), before `decode`.

  With `bucket_by_length` (CPU/GPU only: shapes vary), see `_by_length`:
  batches hold examples of similar length and are trimmed to the longest;
  each training epoch still sees every example once. There `skip` (a
  multiple of `batch_size`) drops the first skip / batch_size batches.
  """
  if repeat is None:
    repeat = is_training
  if bucket_by_length:
    return _by_length(dataset, batch_size, is_training, shuffle_buffer,
                      decode, mask_feature, repeat, skip)
  if repeat:
    dataset = dataset.repeat()
  if is_training:
    dataset = dataset.shuffle(buffer_size=shuffle_buffer)
    if skip:
      dataset = dataset.skip(skip)
  if decode is not None:
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.batch(batch_size, drop_remainder=drop_remainder)


def _by_length(dataset, batch_size, is_training, shuffle_buffer, decode,
               mask_feature, repeat, skip=0):
  """Length-bucketed batches, one epoch at a time.

  Each example's length is the number of ones in its `mask_feature`; lengths
  fall into buckets `BUCKET_WIDTH` wide up to the padded length. A bucket
  gives a batch as soon as it holds `batch_size` examples. At the end of the
  epoch the examples left over in the buckets are batched together (sorted
  by bucket), so every example is seen once per epoch, an epoch of N
  examples is ceil(N / batch_size) batches and only its last may be
  smaller. Every batch is then cut to its longest example: columns past it
  are padding, which the attention mask already ignores, so a model sees
  the same values as in the padded run.

  Training reshuffles each epoch. With a graph seed (--seed) epoch e's
  shuffle is seeded by (seed, e), so its batches are a function of the seed
  and the epoch, and the first `skip` records (skip / batch_size batches) of
  a resumed run are dropped by starting at the epoch they end in (after
  counting the records, without parsing them) and skipping the batches
  before them there: the batches are those of the uninterrupted run.

  Batches are out of input order: off training, each example carries its
  position as `EXAMPLE_INDEX`, for `with_example_index`/`in_input_order`.
  """

  def one_epoch(records):
    examples = records
    if decode is not None:
      examples = examples.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if not is_training:
      examples = examples.enumerate().map(
          lambda index, example: dict(example, **{EXAMPLE_INDEX: index}))
    return _bucketed_batches(examples, batch_size, mask_feature)

  skip_batches = skip // batch_size if is_training else 0
  seed = tf.random.get_seed(None)[0] if is_training else None
  if seed is None:
    if is_training:
      # Shuffle within the epoch (reshuffled each epoch), then repeat: the
      # buckets are emptied at each epoch's end, so no example waits there.
      dataset = dataset.shuffle(buffer_size=shuffle_buffer)
    batches = one_epoch(dataset)
    batches = batches.repeat() if repeat else batches
    return batches.skip(skip_batches) if skip_batches else batches

  first_epoch = 0
  if skip_batches:
    num_records = dataset.reduce(tf.constant(0, tf.int64),
                                 lambda count, _: count + 1)
    per_epoch = tf.maximum((num_records + batch_size - 1) // batch_size, 1)
    first_epoch = skip_batches // per_epoch
    skip_batches %= per_epoch
  last_epoch = tf.int64.max if repeat else first_epoch + 1

  def seeded_epoch(epoch):
    # A hash of (seed, epoch) as the shuffle's seed, so that no epoch's
    # order depends on the epochs before it.
    epoch_seed = tf.random.stateless_uniform(
        [], tf.stack([tf.constant(seed, tf.int64), epoch]), minval=0,
        maxval=2**31 - 1, dtype=tf.int64)
    return one_epoch(dataset.shuffle(shuffle_buffer, seed=epoch_seed,
                                     reshuffle_each_iteration=False))

  batches = tf.data.Dataset.range(first_epoch, last_epoch).flat_map(
      seeded_epoch)
  return batches.skip(skip_batches) if skip else batches


def _bucketed_batches(examples, batch_size, mask_feature):
  """The batches of one pass over `examples`, by bucket (see `_by_length`),
  each cut to its longest example."""
  seq_length = examples.element_spec[mask_feature].shape[0]
  num_buckets = max(1, -(-seq_length // BUCKET_WIDTH))

  def bucket(example):
    length = tf.reduce_sum(tf.cast(example[mask_feature], tf.int64))
    return tf.clip_by_value((length - 1) // BUCKET_WIDTH, 0, num_buckets - 1)

  batches = examples.group_by_window(
      key_func=bucket, reduce_func=lambda _, window: window.batch(batch_size),
      window_size=batch_size)
  # group_by_window gives every full bucket batch before the leftovers it
  # flushes at the end of its input; re-batching keeps the full ones intact
  # and packs the leftovers into as few batches as possible.
  batches = batches.unbatch().batch(batch_size)
  return batches.map(
      lambda batch: _cut_to_longest(batch, seq_length, mask_feature),
      num_parallel_calls=tf.data.AUTOTUNE)


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
    RuntimeError: the predictions skipped an input position (a bug).
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
    raise RuntimeError(
        "Bucketed prediction lost examples: got no prediction for input "
        "position %d, but for %d later ones." % (position, len(pending)))


def _records_per_step(batch_size, num_shards, accumulation_steps,
                      num_replicas):
  """Records one input pipeline of `num_shards` gives per update: a batch
  per accumulation micro-step and per replica it feeds."""
  replicas_per_pipeline = max(num_replicas // max(num_shards, 1), 1)
  return batch_size * accumulation_steps * replicas_per_pipeline


# How many files pre-training reads at once.
_MAX_FILES_READ_AT_ONCE = 4


def _interleaved_records(input_files, deterministic, num_shards, shard):
  """The records of `input_files`, shuffled file order, several files read
  at once; endless (each file restarts when it ends).

  A worker `shard` of `num_shards` reads its own files, or, with fewer
  files than workers, its own records of each file: shards taken after the
  shuffle would differ in order between unseeded workers, and overlap.
  """
  d = tf.data.Dataset.from_tensor_slices(tf.constant(input_files))
  read = tf.data.TFRecordDataset
  if num_shards > 1 and len(input_files) >= num_shards:
    d = d.shard(num_shards, shard)
    num_files = len(range(shard, len(input_files), num_shards))
  else:
    num_files = len(input_files)
    if num_shards > 1:
      read = lambda path: tf.data.TFRecordDataset(path).shard(num_shards,
                                                              shard)
  d = d.repeat()
  d = d.shuffle(buffer_size=num_files)
  cycle_length = min(_MAX_FILES_READ_AT_ONCE, num_files)
  return d.interleave(read, cycle_length=cycle_length,
                      num_parallel_calls=cycle_length,
                      deterministic=deterministic)
