/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * parallelize(): a LogPipe that hands the messages passing it to worker
 * threads, so that the rest of the log path runs in parallel.
 */
#ifndef PARALLELIZE_H_INCLUDED
#define PARALLELIZE_H_INCLUDED

#include "logpipe.h"

/* documented limits of the options */
#define PARALLELIZE_MAX_WORKERS 256
#define PARALLELIZE_MAX_BATCH_SIZE 100000
#define PARALLELIZE_DEFAULT_BATCH_SIZE 100
/* a source thread that got this many batches (at least the minimum) ahead of a
 * worker waits at the end of its fetch until the worker is down to half */
#define PARALLELIZE_QUEUED_BATCHES 20
#define PARALLELIZE_MIN_QUEUED 1000

LogPipe *parallelize_new(GlobalConfig *cfg);

/* setters return FALSE when the value is out of range */
gboolean parallelize_set_workers(LogPipe *s, gint64 workers);
gboolean parallelize_set_batch_size(LogPipe *s, gint64 batch_size);
gboolean parallelize_set_partition_key(LogPipe *s, const gchar *template_text, GError **error);
void parallelize_set_location(LogPipe *s, const gchar *location);

#endif
