#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Generate ./configure from configure.ac (needs autoconf, automake, libtool).
set -e
cd "$(dirname "$0")"
autoreconf --install --force
