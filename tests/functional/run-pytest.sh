#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs the functional tests with Debian's pytest (the python3 first on PATH may lack it).
# PYTEST_ARGS narrows the run, quoted as in a shell, e.g. PYTEST_ARGS="-k 'reload or threads'".
here=$(cd "$(dirname "$0")" && pwd)
eval "set -- ${PYTEST_ARGS:-}"
exec /usr/bin/python3 -m pytest -v -p no:cacheprovider "$@" "$here"
