"""Optimisers and learning-rate schedule for training BERT in graph mode.

`create_optimizer` builds the train op of the original code: linear warm-up
then linear decay to zero, gradients clipped to a global norm of 1.0, and Adam
with decoupled weight decay (0.01, none on LayerNorm and bias variables, no
bias correction), incrementing `global_step` once per step.

`AdamWeightDecayOptimizer` is a proper slot-based `tf.compat.v1.train.Optimizer`
rather than the original's hand-rolled `apply_gradients`: its moments are slot
variables, so it works under `tf.distribute` strategies (where the original
fails with "Variable .../replica_1/adam_m does not exist"), while the
checkpoint names stay `<variable>/adam_m` and `<variable>/adam_v`.

`LAMBOptimizer` (You et al., 2019) scales each variable's Adam update by the
trust ratio ||w|| / ||update||, with the same exclusions and slot names.

Two fixes of the original, each off by default so that published recipes
reproduce: `learning_rate_decay="after_warmup"` starts the linear decay at
the end of warm-up (the original counts it from step 0, so the rate drops
from `init_lr` to `init_lr * (1 - warmup / total)` right after warm-up), and
`adam_bias_correction=True` divides the moments by 1 - beta^t as Adam does
(the original's omission of it was an oversight, by its authors' account).

One deliberate difference, not optional: the original increments
`global_step` in a `tf.group` with the update and no order between them, so
whether a step reads its learning rate before or after the increment is
random. Here the increment waits for the update, so step 0 always runs at the
rate of step 0 (0 under warm-up).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import re

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

# Variables whose names match one of these get no weight decay (original list).
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")

OPTIMIZERS = ("adamw", "lamb")

# Where the linear decay of the learning rate starts (see learning_rate_schedule).
LEARNING_RATE_DECAYS = ("from_step_0", "after_warmup")

# The message of the error a non-finite loss raises in the train op.
NON_FINITE_LOSS_MESSAGE = "Training loss is not finite"


def create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu,
                     optimizer_name="adamw", num_accumulation_steps=1,
                     loss_scale=None, gradient_reducer=None,
                     learning_rate_decay="from_step_0",
                     adam_bias_correction=False):
  """Creates the train op that minimises `loss`, as the original did.

  Args:
    loss: scalar float32 loss of one (micro-)batch.
    init_lr: peak learning rate, reached at the end of warm-up.
    num_train_steps: step at which the learning rate has decayed to 0.
    num_warmup_steps: steps of linear warm-up from 0 (0 or None: none).
    use_tpu: wrap the optimiser in a `CrossShardOptimizer`.
    optimizer_name: "adamw" (the original's) or "lamb".
    num_accumulation_steps: gradients of this many micro-batches are averaged
      into one update; `global_step` counts updates, not micro-batches.
    loss_scale: None for none, "dynamic" for fp16 training: the loss is
      multiplied by a scale (2^15 at first, halved after a step whose
      gradients are not finite, doubled after 2000 finite ones) and a step
      with non-finite gradients is skipped without advancing `global_step`.
    gradient_reducer: optional function from the list of gradients to their
      averages over all processes (e.g. Horovod's allreduce), applied before
      clipping so that the global norm is that of the global batch.

  Returns:
    the train op; each run consumes one micro-batch.
  """
  global_step = tf.train.get_or_create_global_step()
  learning_rate = learning_rate_schedule(global_step, init_lr, num_train_steps,
                                         num_warmup_steps, learning_rate_decay)
  if not use_tpu:  # TPU graphs take summaries only through a host_call.
    scalar_summary("learning_rate", learning_rate)
  optimizer = make_optimizer(optimizer_name, learning_rate,
                             adam_bias_correction)
  if use_tpu:
    optimizer = tf.tpu.CrossShardOptimizer(optimizer)

  tvars = tf.trainable_variables()
  if loss_scale is None and not use_tpu:
    # Fail the step before any variable is updated, so that a diverged run
    # never writes a checkpoint of NaN weights (fp16 skips such steps instead).
    loss = tf.debugging.check_numerics(loss, NON_FINITE_LOSS_MESSAGE)
  scale = _loss_scale_variable() if loss_scale == "dynamic" else None
  grads = _gradients(loss, tvars, num_accumulation_steps, scale)
  if num_accumulation_steps > 1:
    grads, window_done, finish_window = _accumulate(grads, tvars,
                                                    num_accumulation_steps)
  else:
    window_done, finish_window = tf.constant(True), tf.no_op
  should_apply = window_done
  if scale is not None:
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g))
                            for g in grads if g is not None])
    should_apply = tf.logical_and(window_done, finite)

  num_replicas = _num_replicas_in_sync()
  if num_replicas > 1:
    grads = _cross_replica_mean(grads)
  if gradient_reducer is not None:
    grads = gradient_reducer(grads)
  if not use_tpu:
    # Norm before clipping, of the gradient about to be applied (mid-window
    # under accumulation: of the sum so far). Computed only when summaries
    # are written.
    scalar_summary("global_norm", tf.linalg.global_norm(grads))
    if scale is not None:
      scalar_summary("loss_scale", scale)

  def apply_update():
    # Clipping keeps early fine-tuning steps from blowing up the pre-trained
    # weights; the original clips at 1.0 and so do we. Under a distribution
    # strategy the norm is that of the whole global batch's gradient.
    (clipped, global_norm) = tf.clip_by_global_norm(grads, clip_norm=1.0)
    if scale is None and not use_tpu:
      clipped = _finite_or_fail(clipped, global_norm)
    if num_replicas > 1:
      # apply_gradients sums the replicas' (now identical) gradients.
      clipped = [None if g is None else g / float(num_replicas)
                 for g in clipped]
    train_op = optimizer.apply_gradients(zip(clipped, tvars))
    # The optimisers leave `global_step` alone (as the original's did), so
    # the step is incremented here, once per update.
    with tf.control_dependencies([train_op]):
      return tf.group(global_step.assign_add(1))

  if num_accumulation_steps == 1 and scale is None:
    return apply_update()

  # Slots are created outside the conditional branch, where variables may be.
  _create_slots(optimizer, tvars)
  update = tf.cond(should_apply, apply_update, tf.no_op)
  with tf.control_dependencies([update]):
    after = [finish_window()]
    if scale is not None:
      after.append(_update_loss_scale(scale, window_done, should_apply))
    return tf.group(*after)


def scalar_summary(tag, value):
  """A TensorBoard scalar under exactly `tag`, written at the Estimator's
  save_summary_steps (tf.summary.scalar would rename it `tag_1` if the
  graph has an op or scope of that name already). Only the first replica
  of a distribution strategy writes it."""
  context = tf.distribute.get_replica_context()
  replica = context.replica_id_in_sync_group if context else 0
  if tf.get_static_value(replica):
    return None
  summary = tf.raw_ops.ScalarSummary(tags=tag,
                                     values=tf.cast(value, tf.float32))
  tf.add_to_collection(tf.GraphKeys.SUMMARIES, summary)
  return summary


def _finite_or_fail(grads, global_norm):
  """Makes the gradients depend on a check that their norm is finite."""
  checked = tf.debugging.check_numerics(global_norm, NON_FINITE_LOSS_MESSAGE +
                                        " (its gradients are)")
  with tf.control_dependencies([checked]):
    return [_identity(g) for g in grads]


def _identity(grad):
  """A copy of a gradient (None, tensor or IndexedSlices) made where called,
  so that it picks up the enclosing control dependencies."""
  if grad is None:
    return None
  if isinstance(grad, tf.IndexedSlices):
    return tf.IndexedSlices(tf.identity(grad.values), grad.indices,
                            grad.dense_shape)
  return tf.identity(grad)


def _num_replicas_in_sync():
  """Replicas of the current `tf.distribute` strategy (1 outside one)."""
  if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
    return 1
  return tf.distribute.get_replica_context().num_replicas_in_sync


def _cross_replica_mean(grads):
  """Averages each gradient over the replicas (each from a mean loss)."""
  context = tf.distribute.get_replica_context()
  present = [tf.convert_to_tensor(g) for g in grads if g is not None]

  # ReplicaContext.all_reduce wraps the reduction in a custom gradient that,
  # in graph mode, looks variables up by names that replica copies lack; a
  # plain merge_call does the same reduction without that.
  def mean_over_replicas(strategy, *values):
    return strategy.extended.batch_reduce_to(
        tf.distribute.ReduceOp.MEAN, [(v, v) for v in values])

  reduced = iter(context.merge_call(mean_over_replicas, args=present))
  return [None if g is None else next(reduced) for g in grads]


def _gradients(loss, tvars, num_accumulation_steps, scale):
  """Gradients of the mean loss over the accumulation window, unscaled."""
  if num_accumulation_steps > 1:
    loss = loss / float(num_accumulation_steps)
  if scale is None:
    return tf.gradients(loss, tvars)
  scaled = tf.gradients(loss * scale, tvars)
  return [None if g is None else _unscale(g, scale) for g in scaled]


def _unscale(grad, scale):
  if isinstance(grad, tf.IndexedSlices):
    return tf.IndexedSlices(grad.values / scale, grad.indices,
                            grad.dense_shape)
  return grad / scale


def _accumulate(grads, tvars, num_accumulation_steps):
  """Sums gradients over micro-batches in local (non-checkpointed) variables.

  The first micro-batch of a window overwrites the sums instead of adding to
  them, so no separate reset runs (and no zero tensor of the model's size is
  made), and sums left non-finite by a skipped fp16 window do not carry over.

  Returns:
    (the accumulated gradients including this micro-batch, whether this
    micro-batch closes the window, a function that makes the op advancing
    the micro-batch counter; the caller makes it under a control dependency
    on the update, so that the update sees this micro-batch's count).
  """
  counter = accumulation_counter()
  window_start = tf.equal(tf.math.floormod(counter, num_accumulation_steps), 0)
  window_done = tf.equal(tf.math.floormod(counter + 1, num_accumulation_steps),
                         0)
  added = []
  for grad, var in zip(grads, tvars):
    if grad is None:
      added.append(None)
      continue
    total = tf.get_variable(
        "gradient_accumulation/" + _variable_name(var.name),
        shape=var.shape, dtype=tf.float32, trainable=False,
        initializer=tf.zeros_initializer(),
        collections=[tf.GraphKeys.LOCAL_VARIABLES])
    # One new buffer per variable, which the assignment then takes over.
    base = tf.where_v2(window_start, 0.0, total)
    if isinstance(grad, tf.IndexedSlices):
      new_total = tf.tensor_scatter_nd_add(
          base, tf.expand_dims(grad.indices, 1), grad.values)
    else:
      new_total = base + grad
    added.append(total.assign(new_total))

  def finish():
    with tf.control_dependencies([a for a in added if a is not None]):
      return counter.assign_add(1).op

  return added, window_done, finish


def accumulation_counter():
  """The graph's count of micro-batches run (a local variable, so not in a
  checkpoint: a resumed run counts from 0, at a window's start, since
  checkpoints are written between updates); its value modulo the
  accumulation steps is the micro-batch's place in its window. Made on first
  use: the model's seeded dropout reads it before the optimiser is built."""
  with tf.variable_scope(tf.VariableScope(tf.AUTO_REUSE, name="")):
    return tf.get_variable(
        "gradient_accumulation/counter", shape=[], dtype=tf.int32,
        initializer=tf.zeros_initializer(), trainable=False,
        collections=[tf.GraphKeys.LOCAL_VARIABLES])


def _loss_scale_variable():
  return tf.get_variable(
      "loss_scale", shape=[], dtype=tf.float32, trainable=False,
      initializer=tf.constant_initializer(2.0 ** 15))


def _update_loss_scale(scale, window_done, applied, growth_interval=2000):
  """Halves the scale after overflow, doubles it after `growth_interval` good
  updates; untouched in the middle of an accumulation window."""
  good_steps = tf.get_variable(
      "loss_scale_good_steps", shape=[], dtype=tf.int32, trainable=False,
      initializer=tf.zeros_initializer())

  def on_window_end():
    grow = tf.logical_and(applied, tf.equal(good_steps + 1, growth_interval))
    new_scale = tf.where(
        applied, tf.where(grow, scale * 2.0, scale),
        tf.maximum(scale / 2.0, 1.0))
    new_good = tf.where(tf.logical_and(applied, tf.logical_not(grow)),
                        good_steps + 1, 0)
    return tf.group(scale.assign(new_scale), good_steps.assign(new_good))

  return tf.cond(window_done, on_window_end, tf.no_op)


def _create_slots(optimizer, tvars):
  inner = getattr(optimizer, "_opt", optimizer)  # CrossShardOptimizer wraps.
  with tf.init_scope():
    inner._create_slots(tvars)  # pylint: disable=protected-access


def learning_rate_schedule(global_step, init_lr, num_train_steps,
                           num_warmup_steps, learning_rate_decay="from_step_0"):
  """Linear warm-up to `init_lr`, then linear decay to 0 at `num_train_steps`.

  During warm-up the rate is init_lr * step / num_warmup_steps. Afterwards,
  with `learning_rate_decay="from_step_0"` (the original's polynomial decay
  of power 1 taken from step 0) it is init_lr * (1 - step / num_train_steps),
  so the first step after warm-up runs below init_lr; with "after_warmup" it
  is init_lr * (1 - (step - warmup) / (num_train_steps - warmup)), which
  starts at init_lr.
  """
  if learning_rate_decay not in LEARNING_RATE_DECAYS:
    raise ValueError("Unknown learning_rate_decay %r: expected one of %s." %
                     (learning_rate_decay, ", ".join(LEARNING_RATE_DECAYS)))
  step = tf.cast(global_step, tf.float32)
  decay_start = 0
  if learning_rate_decay == "after_warmup" and num_warmup_steps:
    decay_start = min(num_warmup_steps, num_train_steps)
  decay_fraction = (tf.clip_by_value(step, float(decay_start),
                                     float(num_train_steps)) - decay_start) / (
                                         float(max(num_train_steps -
                                                   decay_start, 1)))
  learning_rate = init_lr * (1.0 - decay_fraction)
  if num_warmup_steps:
    warmup_rate = init_lr * step / float(num_warmup_steps)
    in_warmup = tf.cast(tf.cast(global_step, tf.int32) < num_warmup_steps,
                        tf.float32)
    learning_rate = (1.0 - in_warmup) * learning_rate + in_warmup * warmup_rate
  return learning_rate


def make_optimizer(optimizer_name, learning_rate, adam_bias_correction=False):
  """The optimiser a `--optimizer` flag names, with BERT's hyper-parameters."""
  kwargs = dict(
      learning_rate=learning_rate,
      weight_decay_rate=0.01,
      beta_1=0.9,
      beta_2=0.999,
      epsilon=1e-6,
      exclude_from_weight_decay=list(DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY),
      bias_correction=adam_bias_correction)
  if optimizer_name == "adamw":
    return AdamWeightDecayOptimizer(**kwargs)
  if optimizer_name == "lamb":
    return LAMBOptimizer(**kwargs)
  raise ValueError("Unknown optimizer %r: expected one of %s." %
                   (optimizer_name, ", ".join(OPTIMIZERS)))


class AdamWeightDecayOptimizer(tf.train.Optimizer):
  """Adam with decoupled weight decay and no bias correction (BERT's Adam).

  For a gradient g of variable w:
    m <- beta_1 m + (1 - beta_1) g
    v <- beta_2 v + (1 - beta_2) g^2
    w <- w - lr * (m / (sqrt(v) + epsilon) + weight_decay_rate * w)
  with the decay term left out for variables matched by
  `exclude_from_weight_decay`. With `bias_correction=True`, m and v in the
  update are divided by 1 - beta_1^t and 1 - beta_2^t, t = `global_step` + 1
  (the update number, as `create_optimizer` increments it after the update). Sparse (embedding) gradients are applied as
  dense ones, so every row's moments decay every step, as in the original.

  `apply_gradients` does not increment `global_step`, like the original's;
  `create_optimizer` does that.
  """

  def __init__(self,
               learning_rate,
               weight_decay_rate=0.0,
               beta_1=0.9,
               beta_2=0.999,
               epsilon=1e-6,
               exclude_from_weight_decay=None,
               name="AdamWeightDecayOptimizer",
               bias_correction=False):
    super(AdamWeightDecayOptimizer, self).__init__(False, name)
    self.learning_rate = learning_rate
    self.weight_decay_rate = weight_decay_rate
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.exclude_from_weight_decay = exclude_from_weight_decay
    self.bias_correction = bias_correction

  def apply_gradients(self, grads_and_vars, global_step=None, name=None):
    """Applies one update; `global_step` is accepted and left unchanged."""
    del global_step  # Incremented by the caller, as with the original.
    return super(AdamWeightDecayOptimizer, self).apply_gradients(
        grads_and_vars, global_step=None, name=name)

  def _create_slots(self, var_list):
    # The op names become the checkpoint names: "<variable>/adam_m".
    for var in var_list:
      self._zeros_slot(var, "m", "adam_m")
      self._zeros_slot(var, "v", "adam_v")

  def _prepare(self):
    self._lr_t = tf.convert_to_tensor(self.learning_rate, name="learning_rate")
    # beta^t, or 0 (a correction of 1) without bias correction.
    self._beta_1_power = self._beta_2_power = tf.constant(0.0)
    if self.bias_correction:
      t = tf.cast(tf.train.get_or_create_global_step() + 1, tf.float32)
      self._beta_1_power = tf.pow(tf.constant(self.beta_1, tf.float32), t)
      self._beta_2_power = tf.pow(tf.constant(self.beta_2, tf.float32), t)

  def _apply_dense(self, grad, var):
    return self._apply_update(grad, var)

  def _resource_apply_dense(self, grad, handle):
    return self._apply_update(grad, handle)

  def _apply_sparse_duplicate_indices(self, grad, var):
    return self._apply_update(
        _densify(grad.values, grad.indices, var), var)

  def _resource_apply_sparse_duplicate_indices(self, grad, handle, indices):
    return self._apply_update(_densify(grad, indices, handle), handle)

  # TF's fused Adam kernel updates a variable and its moments in one pass
  # (written op by op, the update makes about a dozen). It is BERT's Adam:
  # with beta powers of 0 its bias correction is 1, and its epsilon is added
  # outside the square root. With bias correction the kernel computes
  # lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps'), which with
  # eps' = eps * sqrt(1 - b2^t) is exactly Adam's m_hat / (sqrt(v_hat) + eps). It forms 1 - beta_2 in float32 (0.00099998713
  # for 0.001, a 1.3e-5 relative change of the second moment's rate). The
  # decoupled decay does not depend on the moments, so it is applied first,
  # from the same pre-update weights.
  def _apply_update(self, grad, var):
    """The decay, then the fused Adam step."""
    m = self.get_slot(var, "m")
    v = self.get_slot(var, "v")
    grad = tf.cast(grad, var.dtype.base_dtype)
    lr = tf.cast(self._lr_t, var.dtype.base_dtype)
    decay = tf.no_op()
    if self._do_use_weight_decay(_variable_name(var.name)):
      # Not before the gradient exists: the decay needs only the learning
      # rate, and could otherwise shrink the weights before the forward pass
      # has read them. (The clipped gradient waits for every gradient, so
      # for the whole forward and backward pass.)
      with tf.control_dependencies([grad]):
        decay = var.assign_sub(lr * self.weight_decay_rate * var)
    epsilon = self.epsilon
    if self.bias_correction:
      epsilon = self.epsilon * tf.sqrt(1.0 - self._beta_2_power)
    with tf.control_dependencies([decay]):
      kwargs = dict(beta1_power=self._beta_1_power,
                    beta2_power=self._beta_2_power, lr=lr,
                    beta1=self.beta_1, beta2=self.beta_2,
                    epsilon=epsilon, grad=grad, use_locking=False)
      if hasattr(var, "handle"):
        return tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle,
                                            v=v.handle, **kwargs)
      return tf.raw_ops.ApplyAdam(var=var, m=m, v=v, **kwargs).op

  def _do_use_weight_decay(self, param_name):
    """Whether to use L2 weight decay for `param_name`."""
    if not self.weight_decay_rate:
      return False
    return not _matches_any(param_name, self.exclude_from_weight_decay)

  def _get_variable_name(self, param_name):
    """Get the variable name from the tensor name."""
    return _variable_name(param_name)


class LAMBOptimizer(AdamWeightDecayOptimizer):
  """LAMB: the AdamW update rescaled per variable by ||w|| / ||update||.

  The ratio is 1 where either norm is zero, and for the variables matched by
  `exclude_from_layer_adaptation` (by default the weight-decay exclusions,
  LayerNorm and bias), which keeps small vectors from taking huge steps.
  """

  def __init__(self,
               learning_rate,
               weight_decay_rate=0.0,
               beta_1=0.9,
               beta_2=0.999,
               epsilon=1e-6,
               exclude_from_weight_decay=None,
               exclude_from_layer_adaptation=None,
               name="LAMBOptimizer",
               bias_correction=False):
    super(LAMBOptimizer, self).__init__(
        learning_rate, weight_decay_rate, beta_1, beta_2, epsilon,
        exclude_from_weight_decay, name, bias_correction)
    if exclude_from_layer_adaptation is None:
      exclude_from_layer_adaptation = exclude_from_weight_decay
    self.exclude_from_layer_adaptation = exclude_from_layer_adaptation

  def _apply_update(self, grad, var):
    """Moments, the decayed update, its trust ratio, then the assignments.

    Op by op: the trust ratio needs the whole update's norm before the step,
    which the fused Adam kernel does not give.
    """
    m = self.get_slot(var, "m")
    v = self.get_slot(var, "v")
    grad = tf.cast(grad, var.dtype.base_dtype)
    next_m = self.beta_1 * m + (1.0 - self.beta_1) * grad
    next_v = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(grad)
    if self.bias_correction:
      update = (next_m / (1.0 - self._beta_1_power)) / (
          tf.sqrt(next_v / (1.0 - self._beta_2_power)) + self.epsilon)
    else:
      update = next_m / (tf.sqrt(next_v) + self.epsilon)
    param_name = _variable_name(var.name)
    if self._do_use_weight_decay(param_name):
      update += self.weight_decay_rate * var
    step_size = tf.cast(self._lr_t, tf.float32)
    if not _matches_any(param_name, self.exclude_from_layer_adaptation):
      w_norm = tf.norm(var, ord=2)
      u_norm = tf.norm(update, ord=2)
      step_size *= tf.where(
          tf.greater(w_norm, 0.0),
          tf.where(tf.greater(u_norm, 0.0), w_norm / u_norm, 1.0), 1.0)
    return tf.group(var.assign(var - step_size * update), m.assign(next_m),
                    v.assign(next_v))


def _densify(values, indices, var):
  """Sums an IndexedSlices gradient into a dense one of the variable's shape."""
  return tf.math.unsorted_segment_sum(values, indices,
                                      num_segments=tf.shape(var)[0])


def _matches_any(param_name, patterns):
  return any(re.search(p, param_name) is not None for p in (patterns or ()))


def _variable_name(tensor_name):
  """"bert/x/kernel:0" -> "bert/x/kernel"."""
  match = re.match(r"^(.*):\d+$", tensor_name)
  return match.group(1) if match else tensor_name
