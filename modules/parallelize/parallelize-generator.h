/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The parallelize(...) keyword inside log {}: syslog-ng 3.38's grammar has
 * no slot for a new log item, so a generator plugin expands it into
 * parser { parallelize(...); }, checking the option names on the way.
 */
#ifndef PARALLELIZE_GENERATOR_H_INCLUDED
#define PARALLELIZE_GENERATOR_H_INCLUDED

#include "plugin.h"

void parallelize_generator_register(PluginContext *context);

#endif
