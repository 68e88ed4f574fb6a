/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The parallelize(...) and worker-pool(...) keywords inside log {}: syslog-ng's
 * grammar has no slot for a new log item, so a generator plugin expands each into
 * parser { worker-pool(...); }, checking the option names on the way.
 */
#ifndef PARALLELIZE_GENERATOR_H_INCLUDED
#define PARALLELIZE_GENERATOR_H_INCLUDED

#include "plugin.h"

void parallelize_generator_register(PluginContext *context, const gchar *name);
/* in-order() inside log {}: parser { in-order(); }, no options */
void in_order_generator_register(PluginContext *context);

#endif
