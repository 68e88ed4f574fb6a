/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * name(): what an instance is called in its counters and log lines instead of where it
 * stands, so that dashboards and alerts survive edits of the configuration.  One name per
 * instance in a configuration: the names are kept with the configuration being parsed.
 */
#ifndef PARALLELIZE_NAMES_H_INCLUDED
#define PARALLELIZE_NAMES_H_INCLUDED

#include "cfg.h"

/* letters, digits, '_', '-' and '.': no ':' (never a location), nothing to escape anywhere */
gboolean parallelize_name_is_valid(const gchar *name);

/* parse time: name the instance at location; FALSE if an instance of the same
 * configuration has that name already, then *taken_by is where that one stands */
gboolean parallelize_names_claim(GlobalConfig *cfg, const gchar *name, const gchar *location, const gchar **taken_by);

#endif
