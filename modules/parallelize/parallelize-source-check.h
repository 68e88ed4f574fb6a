/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PARALLELIZE_SOURCE_CHECK_H_INCLUDED
#define PARALLELIZE_SOURCE_CHECK_H_INCLUDED

#include "syslog-ng.h"

/* Warn (never refuse) about sources of the parallelize() at location whose
 * window per connection is below workers x batch-size, or whose
 * log-fetch-limit() is above 65535. */
void parallelize_check_sources(const gchar *config_text, const gchar *location, gint workers, gint batch_size);

#endif
