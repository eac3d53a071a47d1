"""Benchmark: the int8 matmuls TensorFlow 2.15 offers, for one BERT dense layer.

  python benchmarks/bench_int8_kernels.py [--rows 26,1024] [--threads 2]

The int8 export (`int8_graph.py`) runs its dense layers on oneDNN's
`QuantizedMatMulWithBiasAndDequantize`. This times it against the other
ways a graph of standard TensorFlow ops can multiply by int8 weights (the
"in-graph int8 matmul of our own" the speed issue asked to measure), on
BERT-base's feed-forward layer ([rows, 768] x [768, 3072]; 26 rows is a
single request of 26 tokens, 1,024 a batch of 8 x 128):

  onednn-int8    QuantizedMatMulWithBiasAndDequantize, u8 x s8 (the export's)
  int8-matmul    tf.linalg.matmul of int8 by int8 into int32 (BatchMatMulV3)
  uq-dot         UniformQuantizedDot, qint8 x qint8 into qint32
  uq-hybrid      UniformQuantizedDotHybrid, float32 x qint8 into float32
  cast-fp32      the int8 weights cast to float32 in the graph, then a float32
                 matmul (what storing int8 and computing in float costs)
  fp32           a float32 matmul by float32 weights: the baseline

Every candidate multiplies the same integers (activations 0..127, weights
-127..127), whose product is exact in each output type, and the table gives
each one's largest difference from numpy's exact product next to its time
(the best of --repeats calls after a warm-up), so a fast wrong kernel shows.
uq-hybrid alone is not exact by design: it quantises the float32
activations itself, per tensor, at run time.
Figures are per layer with its weights warm in the cache; inside a model of
85 MB of int8 weights each layer also waits for memory (README, Benchmarks,
thirteenth round).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench_common  # pylint: disable=g-import-not-at-top
import quiet_tensorflow  # pylint: disable=g-import-not-at-top,unused-import
import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top

HIDDEN, INTERMEDIATE = 768, 3072


def candidates(x_u8, x_s8, x_f32, weights):
  """{name: a float32 [rows, INTERMEDIATE] tensor}, each `x @ weights`."""
  w_s8 = tf.constant(weights)
  w_q8 = tf.constant(weights, dtype=tf.qint8)
  ones = tf.constant(np.ones(INTERMEDIATE, np.float32))
  zeros = tf.constant(np.zeros(INTERMEDIATE, np.int32))
  int32_range = dict(output_quantization_min_val=-2**31,
                     output_quantization_max_val=2**31 - 1)
  eight_bits = dict(rhs_quantization_min_val=-127,
                    rhs_quantization_max_val=127, rhs_quantization_axis=1)
  return {
      # SCALED, ranges [0, 255] and [-127, 127]: one step is 1 on both sides,
      # so the dequantised output is the integer product itself.
      "onednn-int8": tf.raw_ops.QuantizedMatMulWithBiasAndDequantize(
          a=x_u8, b=w_q8, bias=tf.zeros([INTERMEDIATE]), min_a=0.0,
          max_a=255.0, min_b=-127.0, max_b=127.0, min_freezed_output=0.0,
          max_freezed_output=1.0, Toutput=tf.float32,
          input_quant_mode="SCALED"),
      "int8-matmul": tf.cast(tf.raw_ops.BatchMatMulV3(
          x=x_s8, y=w_s8, Tout=tf.int32), tf.float32),
      "uq-dot": tf.cast(tf.bitcast(tf.raw_ops.UniformQuantizedDot(
          lhs=tf.bitcast(x_s8, tf.qint8), rhs=w_q8, lhs_scales=1.0,
          lhs_zero_points=0, rhs_scales=ones, rhs_zero_points=zeros,
          output_scales=ones, output_zero_points=zeros, Tout=tf.qint32,
          lhs_quantization_min_val=-127, lhs_quantization_max_val=127,
          output_quantization_axis=1, **dict(int32_range, **eight_bits)),
          tf.int32), tf.float32),
      "uq-hybrid": tf.raw_ops.UniformQuantizedDotHybrid(
          lhs=x_f32, rhs=w_q8, rhs_scales=ones, rhs_zero_points=zeros,
          Tout=tf.float32, **eight_bits),
      # A variable, so that grappler cannot fold the cast into a constant.
      "cast-fp32": tf.matmul(x_f32, tf.cast(tf.Variable(weights), tf.float32)),
      "fp32": tf.matmul(x_f32, tf.constant(weights.astype(np.float32))),
  }


def best_seconds(session, tensor, feed, repeats):
  session.run(tensor, feed)  # Warm-up: oneDNN builds and caches its kernels.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    value = session.run(tensor, feed)
    times.append(time.perf_counter() - start)
  return min(times), value


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rows", default="26,1024",
                      help="comma-separated row counts (tokens in a batch)")
  parser.add_argument("--threads", type=int, default=2,
                      help="TensorFlow's intra-op threads")
  parser.add_argument("--repeats", type=int, default=5,
                      help="timed calls per candidate and row count")
  args = parser.parse_args()
  rows_list = [int(r) for r in args.rows.split(",")]

  rng = np.random.RandomState(0)
  weights = rng.randint(-127, 128, size=(HIDDEN, INTERMEDIATE)).astype(np.int8)
  graph = tf.Graph()
  with graph.as_default():
    x_u8 = tf.placeholder(tf.quint8, [None, HIDDEN])
    x_s8 = tf.placeholder(tf.int8, [None, HIDDEN])
    x_f32 = tf.placeholder(tf.float32, [None, HIDDEN])
    outputs = candidates(x_u8, x_s8, x_f32, weights)
    init = tf.global_variables_initializer()
  config = tf.ConfigProto(intra_op_parallelism_threads=args.threads,
                          inter_op_parallelism_threads=1)

  print(bench_common.machine_line())
  print("One [rows, %d] x [%d, %d] layer, %d intra-op threads; best of %d "
        "calls" % (HIDDEN, HIDDEN, INTERMEDIATE, args.threads, args.repeats))
  print("| candidate | rows | ms a layer | GOPS | speed vs onednn-int8 | "
        "max abs error |")
  print("| --- | --- | --- | --- | --- | --- |")
  with tf.Session(graph=graph, config=config) as session:
    session.run(init)
    for rows in rows_list:
      x = rng.randint(0, 128, size=(rows, HIDDEN))
      feed = {x_u8: x.astype(np.uint8), x_s8: x.astype(np.int8),
              x_f32: x.astype(np.float32)}
      exact = x.astype(np.int64) @ weights.astype(np.int64)
      seconds = {}
      for name, tensor in outputs.items():
        seconds[name], value = best_seconds(session, tensor, feed,
                                            args.repeats)
        print("| %s | %d | %.3f | %.0f | %.2fx | %.3g |" % (
            name, rows, 1e3 * seconds[name],
            2.0 * rows * HIDDEN * INTERMEDIATE / seconds[name] / 1e9,
            seconds["onednn-int8"] / seconds[name],
            np.abs(value.astype(np.float64) - exact).max()))


if __name__ == "__main__":
  main()
