"""input_pipeline: TFRecord files through `tfrecord_input_fn_builder`.

A small file of padded examples (ids 1..length, then zeros) is written in
tmp_path and read back through the input function, in eager mode (graph
mode for `decode_record`); batches are checked against the written rows and,
for --bucket_by_length, against a simulation of the buckets written here.
test_runtime.py checks `batch_examples`' bucketing on in-memory datasets.
"""


import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import input_pipeline

SEQ = 40
NUM_RECORDS = 23
# Lengths at the edges of buckets (16 | 17, 32 | 33), then random ones.
LENGTHS = np.concatenate([[16, 17, 32, 1, 16, 33, 40], np.random.RandomState(
    11).randint(1, SEQ + 1, size=NUM_RECORDS - 7)])

NAME_TO_FEATURES = {
    "input_ids": tf.io.FixedLenFeature([SEQ], tf.int64),
    "input_mask": tf.io.FixedLenFeature([SEQ], tf.int64),
    "segment_ids": tf.io.FixedLenFeature([SEQ], tf.int64),
    "id": tf.io.FixedLenFeature([], tf.int64),
    "weight": tf.io.FixedLenFeature([], tf.float32),
}


def rows():
  """The written examples, as numpy arrays by feature name."""
  mask = (np.arange(SEQ)[None, :] < LENGTHS[:, None]).astype(np.int64)
  ids = mask * (np.arange(SEQ) + 1)
  segments = mask * (np.arange(SEQ) % 2)
  return {"input_ids": ids, "input_mask": mask, "segment_ids": segments,
          "id": np.arange(NUM_RECORDS), "weight": np.arange(NUM_RECORDS) / 4.}


@pytest.fixture(scope="module")
def record_file(tmp_path_factory):
  columns = rows()
  examples = [{"input_ids": columns["input_ids"][i].tolist(),
               "input_mask": columns["input_mask"][i].tolist(),
               "segment_ids": columns["segment_ids"][i].tolist(),
               "id": [i], "weight": [i / 4.]} for i in range(NUM_RECORDS)]
  return bert_testing.write_records(
      tmp_path_factory.mktemp("records") / "data.tfrecord", examples)


def read(record_file, batch_size, is_training=False, drop_remainder=False,
         num_batches=None, input_context=None, **kwargs):
  input_fn = input_pipeline.tfrecord_input_fn_builder(
      record_file, NAME_TO_FEATURES, is_training, drop_remainder, **kwargs)
  d = input_fn({"batch_size": batch_size}, input_context=input_context)
  if num_batches:
    d = d.take(num_batches)
  return [{k: v.numpy() for k, v in batch.items()} for batch in d]


def test_decode_record_makes_int64_int32_in_graph_mode(record_file):
  with tf.Graph().as_default():
    record = tf.data.make_one_shot_iterator(
        tf.data.TFRecordDataset(record_file).skip(5)).get_next()
    example = input_pipeline.decode_record(record, NAME_TO_FEATURES)
    assert {k: v.dtype for k, v in example.items()} == {
        "input_ids": tf.int32, "input_mask": tf.int32,
        "segment_ids": tf.int32, "id": tf.int32, "weight": tf.float32}
    assert example["input_ids"].shape.as_list() == [SEQ]
    with tf.Session() as sess:
      got = sess.run(example)
  written = rows()
  for name in ("input_ids", "input_mask", "segment_ids"):
    np.testing.assert_array_equal(got[name], written[name][5])
  assert (got["id"], got["weight"]) == (5, 1.25)


def test_evaluation_reads_every_record_once_in_order(record_file):
  batches = read(record_file, 5)
  assert [b["id"].tolist() for b in batches] == [
      list(range(i, min(i + 5, NUM_RECORDS))) for i in range(0, 23, 5)]
  written = rows()
  for name in ("input_ids", "input_mask", "segment_ids"):
    np.testing.assert_array_equal(
        np.concatenate([b[name] for b in batches]), written[name])
    assert batches[0][name].dtype == np.int32
  # drop_remainder: only the 4 full batches, of a static size.
  input_fn = input_pipeline.tfrecord_input_fn_builder(
      [record_file], NAME_TO_FEATURES, False, True)
  d = input_fn({"batch_size": 5})
  assert d.element_spec["input_ids"].shape.as_list() == [5, SEQ]
  assert [b["id"].numpy().tolist()[0] for b in d] == [0, 5, 10, 15]


def test_each_input_pipeline_reads_its_own_records(record_file):
  shares = [read(record_file, 4, input_context=tf.distribute.InputContext(
      num_input_pipelines=3, input_pipeline_id=i)) for i in range(3)]
  for i, batches in enumerate(shares):
    assert np.concatenate([b["id"] for b in batches]).tolist() == list(
        range(i, NUM_RECORDS, 3))


def simulated_buckets(lengths, batch_size, width, seq_length):
  """The record indexes of each bucketed batch, by hand: a bucket gives a
  batch when it holds `batch_size`; at the end the leftovers, by bucket
  order, are packed into batches of `batch_size`."""
  num_buckets = -(-seq_length // width)
  buckets = {}
  full = []
  for index, length in enumerate(lengths):
    key = min((length - 1) // width, num_buckets - 1)
    buckets.setdefault(key, []).append(index)
    if len(buckets[key]) == batch_size:
      full.append(buckets.pop(key))
  leftovers = [i for key in sorted(buckets) for i in buckets[key]]
  return full + [leftovers[i:i + batch_size]
                 for i in range(0, len(leftovers), batch_size)]


def test_bucketed_evaluation_batches_and_input_order(record_file):
  batch_size = 3
  batches = read(record_file, batch_size, bucket_by_length=True)
  want = simulated_buckets(LENGTHS, batch_size, input_pipeline.BUCKET_WIDTH,
                           SEQ)
  assert [b["id"].tolist() for b in batches] == want
  written = rows()
  for batch, indexes in zip(batches, want):
    # Each batch is cut to its longest example.
    width = LENGTHS[indexes].max()
    for name in ("input_ids", "input_mask", "segment_ids"):
      np.testing.assert_array_equal(batch[name],
                                    written[name][indexes, :width])
    np.testing.assert_array_equal(batch["weight"], written["weight"][indexes])
    # The record's position in the file travels with it.
    np.testing.assert_array_equal(batch[input_pipeline.EXAMPLE_INDEX],
                                  indexes)
  # What Estimator.predict yields: one dict per example, numpy scalars.
  predictions = [{input_pipeline.EXAMPLE_INDEX: b[input_pipeline.EXAMPLE_INDEX]
                  [row], "length": b["input_mask"][row].sum()}
                 for b in batches for row in range(len(b["id"]))]
  ordered = list(input_pipeline.in_input_order(predictions))
  assert [int(p[input_pipeline.EXAMPLE_INDEX]) for p in ordered] == list(
      range(NUM_RECORDS))
  assert [p["length"] for p in ordered] == LENGTHS.tolist()


def test_in_input_order_yields_each_prediction_as_soon_as_it_can():
  consumed = []

  def predictions():
    for index in (1, 0, 3, 2, 4):
      consumed.append(index)
      yield {input_pipeline.EXAMPLE_INDEX: np.int64(index)}

  ordered = input_pipeline.in_input_order(predictions())
  assert int(next(ordered)[input_pipeline.EXAMPLE_INDEX]) == 0
  assert consumed == [1, 0]
  assert int(next(ordered)[input_pipeline.EXAMPLE_INDEX]) == 1
  assert consumed == [1, 0]  # 1 was held: no need to read on.
  assert int(next(ordered)[input_pipeline.EXAMPLE_INDEX]) == 2
  assert consumed == [1, 0, 3, 2]
  assert [int(p[input_pipeline.EXAMPLE_INDEX]) for p in ordered] == [3, 4]


def test_in_input_order_reports_a_lost_position():
  with pytest.raises(RuntimeError, match="got no prediction for input "
                     "position 0, but for 2 later ones"):
    list(input_pipeline.in_input_order(
        [{input_pipeline.EXAMPLE_INDEX: i} for i in (2, 1)]))


def test_with_example_index_passes_the_position_on():
  positions = tf.constant([4, 2])
  got = input_pipeline.with_example_index(
      {"probabilities": 1}, {input_pipeline.EXAMPLE_INDEX: positions, "x": 0})
  assert got == {"probabilities": 1, input_pipeline.EXAMPLE_INDEX: positions}
  assert input_pipeline.with_example_index({"p": 1}, {"x": 0}) == {"p": 1}


def test_records_per_step_without_accumulation_or_replicas_is_the_batch():
  assert input_pipeline._records_per_step(8, 1, 1, 1) == 8


@pytest.mark.parametrize("replicas,num_shards,want", [
    (1, 1, 16), (4, 1, 64), (4, 2, 32), (4, 4, 16), (2, 4, 16)])
def test_records_per_step(replicas, num_shards, want):
  # batch 8 x 2 micro-steps x the replicas each pipeline feeds (at least 1).
  assert input_pipeline._records_per_step(8, num_shards, 2, replicas) == want


def test_resumed_training_skips_the_records_of_the_steps_made(record_file):
  # shuffle_buffer=1 keeps the file order, so the skip shows in the ids: a
  # step is 2 batches of 3 records, and the file repeats every 23 records.
  def ids(step, num_batches):
    input_fn = input_pipeline.tfrecord_input_fn_builder(
        record_file, NAME_TO_FEATURES, True, True, shuffle_buffer=1)
    if step:
      input_fn = input_fn.resumed_at(step, accumulation_steps=2)
    d = input_fn({"batch_size": 3}).take(num_batches)
    return [b["id"].numpy().tolist() for b in d]

  assert ids(0, 2) == [[0, 1, 2], [3, 4, 5]]
  assert ids(5, 2) == [[7, 8, 9], [10, 11, 12]]  # After 5 x 6 = 30 records.
  assert ids(4, 3) == ids(0, 11)[8:]


def test_resumed_shuffled_training_reads_what_the_run_would_have(
    record_file):
  def batches(step, num_batches):
    tf.random.set_random_seed(7)
    input_fn = input_pipeline.tfrecord_input_fn_builder(
        record_file, NAME_TO_FEATURES, True, True, shuffle_buffer=10)
    if step:
      input_fn = input_fn.resumed_at(step, accumulation_steps=2)
    d = input_fn({"batch_size": 3}).take(num_batches)
    return [b["id"].numpy().tolist() for b in d]

  uninterrupted = batches(0, 10)
  assert uninterrupted[:4] != [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
  assert batches(3, 4) == uninterrupted[6:10]


def test_resumed_bucketed_training_reads_what_the_run_would_have(
    record_file):
  """--bucket_by_length with a seed: each epoch's batches are a function of
  (seed, epoch), so a resume skips whole epochs, then batches, and reads
  what the uninterrupted run read; every epoch still holds every record."""
  per_epoch = -(-NUM_RECORDS // 3)  # 8 batches of 3 (the last of 2).

  def batches(step, num_batches, seed=7):
    tf.random.set_random_seed(seed)
    input_fn = input_pipeline.tfrecord_input_fn_builder(
        record_file, NAME_TO_FEATURES, True, False, shuffle_buffer=10,
        bucket_by_length=True)
    if step:
      input_fn = input_fn.resumed_at(step, accumulation_steps=2)
    d = input_fn({"batch_size": 3}).take(num_batches)
    return [b["id"].numpy().tolist() for b in d]

  uninterrupted = batches(0, 3 * per_epoch)
  epochs = [sum(uninterrupted[e * per_epoch:(e + 1) * per_epoch], [])
            for e in range(3)]
  for ids in epochs:
    assert sorted(ids) == list(range(NUM_RECORDS))
  assert epochs[0] != epochs[1] != epochs[2]
  assert batches(0, 3 * per_epoch) == uninterrupted
  # Step 5 of 2 batches each: epoch 1, after its first 2 batches; step 9:
  # epoch 2, after 2.
  assert batches(5, 4) == uninterrupted[10:14]
  assert batches(9, 6) == uninterrupted[18:24]
  assert batches(0, per_epoch, seed=8) != uninterrupted[:per_epoch]
