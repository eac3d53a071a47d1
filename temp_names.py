"""The names of files being written: `<name>.tmp-<host>-<pid>-<8 hex digits>`.

A file (or directory) is written under `temp_path(final_name)` beside its
final name and renamed when complete. The host and process id in the name let
a later run tell the leftovers of a killed writer from the file of a live
process (`parse_temp_name`; `output_files.remove_stale_temp_files` removes the
former).

The one place the scheme is written and read: `squad_evaluate` (which must
stay free of TensorFlow) and `output_files` (what the TensorFlow scripts use)
both use it. This module imports nothing of TensorFlow or of the project.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os
import re
import socket
import uuid

_TEMP_NAME_RE = re.compile(r"\.tmp-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}$")


def temp_path(path):
  """Where to write `path` until complete: `<path>.tmp-<host>-<pid>-<hex>`."""
  return "%s.tmp-%s-%d-%s" % (path, socket.gethostname(), os.getpid(),
                              uuid.uuid4().hex[:8])


def parse_temp_name(name):
  """The writer's (host, pid) of a `temp_path` name; None for other names."""
  match = _TEMP_NAME_RE.search(name)
  if not match:
    return None
  return match.group("host"), int(match.group("pid"))


def is_temp_name(name):
  """Whether `name` is a `temp_path` name: a file or directory being written."""
  return parse_temp_name(name) is not None
