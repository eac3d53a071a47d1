"""Runs the project's scripts for tests without importing TensorFlow each time.

A test that runs `python run_classifier.py ...` pays TensorFlow's import
(4-12 s on 2 cores, more than the run itself for a tiny model or a refused
flag) before the script's first line; the suite runs scripts some hundreds
of times. Here one server process per test worker imports TensorFlow (and the
Estimator and TPU modules it loads lazily) once, then forks a child for each
run: the child sets the script's argv, sys.path, environment and working
directory, sends descriptors 1 and 2 to files and runs the script as
`__main__`, so its own modules, flags and main() run from scratch as in a
new process, and it exits with the code a new process would (`run_as_main`).

The child runs with the run's own environment, but what Python and
TensorFlow read while starting (PYTHONHASHSEED, PYTHONPATH,
TF_CPP_MIN_LOG_LEVEL, TF_ENABLE_ONEDNN_OPTS, ONEDNN_MAX_CPU_ISA, the thread
libraries' settings) was read under the server's: `start` refuses (returns
None) a run whose environment differs from the server's in a variable of
that kind (STARTUP_PREFIXES), and the caller then starts a new process.
Other variables (pytest's PYTEST_CURRENT_TEST, which changes with every
test, CI) may differ. Tests that check the import itself (its messages, the
oneDNN switch) or compare separate runs whose Python hash seed must differ
start new processes too (bert_testing's `fresh=True`).

Started as `python script_server.py REQUEST_FD REPLY_FD`, it serves: one JSON
request a line (script, args, cwd, environment, stdout and stderr paths),
answered at once with the child's pid; children run side by side, and each
one's exit code (negative for a signal, as subprocess reports it) is sent
when it exits.
"""

import atexit
import gc
import json
import os
import runpy
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Environment variables read while Python, TensorFlow, oneDNN and the thread
# libraries start (TF_CONFIG too, though scripts read it later: the prefix
# errs on the side of a new process).
STARTUP_PREFIXES = ("PYTHON", "TF_", "ONEDNN_", "DNNL_", "OMP_", "KMP_",
                    "MKL_", "CUDA_", "LD_", "MALLOC")


def _startup_part(env):
  return {k: v for k, v in env.items() if k.startswith(STARTUP_PREFIXES)}


class ScriptServer(object):
  """The test side: starts the server and runs scripts through it."""

  def __init__(self, env):
    self.env = dict(env)
    request_read, self._request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    self._proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), str(request_read),
         str(reply_write)], pass_fds=(request_read, reply_write),
        env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, cwd=HERE)
    os.close(request_read)
    os.close(reply_write)
    self._replies = _Lines(reply_read)
    self._exited = {}  # pid: exit code, of children nobody waited for yet.
    self.output_dir = tempfile.mkdtemp(prefix="bert_test_runs_")
    self._runs = 0  # Names the runs' output files in output_dir.
    atexit.register(self.close)

  def close(self):
    if self._proc.poll() is None:
      os.close(self._request_write)  # The server exits at end of input.
      self._proc.wait()
    shutil.rmtree(self.output_dir, ignore_errors=True)

  def _reply(self, timeout=None):
    """The server's next reply, or None after `timeout` seconds."""
    line = self._replies.next(timeout)
    if line is None:
      return None
    if not line:
      raise RuntimeError("the test script server (tests/script_server.py) "
                         "died, exit code %s" % self._proc.wait())
    return json.loads(line)

  def start(self, script, args, env, cwd):
    """Starts `script args` in `cwd`; returns its pid and the paths of the
    files its stdout and stderr go to, or None if `env` is not the
    server's in a variable read at startup (a new process must run it)."""
    if _startup_part(env) != _startup_part(self.env):
      return None
    output = [os.path.join(self.output_dir, "%d.%s" % (self._runs, name))
              for name in ("stdout", "stderr")]
    self._runs += 1
    for path in output:  # There even if the run is killed before it starts.
      open(path, "w").close()
    request = dict(script=script, args=list(args), cwd=cwd, env=dict(env),
                   stdout=output[0], stderr=output[1])
    os.write(self._request_write, (json.dumps(request) + "\n").encode())
    return self._reply()["pid"], output

  def wait(self, pid, timeout=None):
    """The exit code of child `pid`, or None if it runs on after `timeout`
    seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while pid not in self._exited:
      left = None if deadline is None else max(0, deadline - time.monotonic())
      reply = self._reply(left)
      if reply is None:
        return None
      self._exited[reply["exited"]] = reply["returncode"]
    return self._exited.pop(pid)


def _run_child(request):
  """In the forked child: becomes `python script args` run in `cwd`."""
  os.setpgid(0, 0)  # A timeout kills the script and what it started.
  sys.stdout.flush()
  sys.stderr.flush()
  null = os.open(os.devnull, os.O_RDONLY)
  os.dup2(null, 0)
  os.close(null)
  for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(target, fd)
    os.close(target)
  os.environ.clear()  # Sets the C library's environment too.
  os.environ.update(request["env"])
  os.chdir(request["cwd"])
  script = request["script"]
  sys.argv = [script] + request["args"]
  sys.path[0] = os.path.dirname(os.path.abspath(script))


def serve(request_fd, reply_fd):
  """Imports TensorFlow, then forks a child per request and reports each
  child's exit until end of input and the last child's exit. Returns the
  request in a child (which then runs it), None in the server."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.compat.v1.estimator import tpu  # pylint: disable=g-import-not-at-top,unused-import
  del tf
  requests = _Lines(request_fd)
  running = set()
  reading = True
  while reading or running:
    # No thread and no signal handler in a process that forks: poll.
    line = requests.next(0.02) if reading else time.sleep(0.02)
    if line == "":
      reading = False
    elif line:
      pid = os.fork()
      if pid == 0:
        os.close(request_fd)
        os.close(reply_fd)
        request = json.loads(line)
        _run_child(request)
        return request
      running.add(pid)
      _send(reply_fd, {"pid": pid})
    for pid in list(running):
      done, status = os.waitpid(pid, os.WNOHANG)
      if done:
        running.discard(pid)
        _send(reply_fd, {"exited": pid,
                         "returncode": os.waitstatus_to_exitcode(status)})
  return None


class _Lines(object):
  """Lines from a pipe, read without Python's buffering (which would keep
  lines that select() then never reports)."""

  def __init__(self, fd):
    self.fd = fd
    self.buffer = b""

  def next(self, timeout=None):
    """The next line; "" at end of input, None after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while b"\n" not in self.buffer:
      left = None if deadline is None else max(0, deadline - time.monotonic())
      if not select.select([self.fd], [], [], left)[0]:
        return None
      data = os.read(self.fd, 65536)
      if not data:
        return ""
      self.buffer += data
    line, self.buffer = self.buffer.split(b"\n", 1)
    return line.decode() + "\n"


def _send(fd, reply):
  os.write(fd, (json.dumps(reply) + "\n").encode())


def _exit_code(code):
  """The exit code of SystemExit(code), printing a message as Python does."""
  if code is None:
    return 0
  if isinstance(code, int):
    return code
  print(code, file=sys.stderr)
  return 1


def run_as_main(script):
  """Runs `script` as `python script` would and exits the process as it
  would, except for the interpreter's final teardown: with TensorFlow
  loaded that takes about a second and does nothing a test can see, once
  the threads are joined, the atexit handlers run and the output is
  flushed."""
  try:
    runpy.run_path(script, run_name="__main__")
    code = 0
  except SystemExit as e:
    code = _exit_code(e.code)
  except BaseException:  # pylint: disable=broad-except
    sys.excepthook(*sys.exc_info())  # The traceback, as Python prints it.
    code = 1
  threading._shutdown()  # pylint: disable=protected-access
  atexit._run_exitfuncs()  # pylint: disable=protected-access
  gc.collect()  # Closes, and so flushes, files the script left open.
  for stream in (sys.stdout, sys.stderr):
    stream.flush()
  os._exit(code)  # pylint: disable=protected-access


if __name__ == "__main__":
  CHILD_REQUEST = serve(int(sys.argv[1]), int(sys.argv[2]))
  if CHILD_REQUEST is not None:
    run_as_main(CHILD_REQUEST["script"])
