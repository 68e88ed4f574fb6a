/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * parallelize(): a LogPipe that hands the messages passing it to worker
 * threads, so that the rest of the log path runs in parallel.
 */
#ifndef PARALLELIZE_H_INCLUDED
#define PARALLELIZE_H_INCLUDED

#include "parallelize-order.h"

/* documented limits of the options */
#define PARALLELIZE_MAX_WORKERS 256
#define PARALLELIZE_MAX_BATCH_SIZE 100000
#define PARALLELIZE_DEFAULT_BATCH_SIZE 100
/* log-fetch-limit(): the most messages a worker passes on before it ends a batch
 * (destination queues take over what it collected, scratch buffers are freed);
 * 3.38's destination queues count a thread's collected messages in 16 bits */
#define PARALLELIZE_DEFAULT_FETCH_LIMIT 8192
#define PARALLELIZE_MAX_FETCH_LIMIT 8192 /* larger values are accepted (AxoSyslog configs) and capped */
/* a source thread that got this many batches (at least the minimum) ahead of a
 * worker it fed waits at the end of its fetch until some worker is down to
 * half of it (see the dispatcher's max_queued; and _begin_wait() in parallelize.c
 * for when it may not wait) */
#define PARALLELIZE_QUEUED_BATCHES 20
#define PARALLELIZE_MIN_QUEUED 1000

LogPipe *parallelize_new(GlobalConfig *cfg);

/* setters return FALSE when the value is out of range */
gboolean parallelize_set_workers(LogPipe *s, gint64 workers);
/* workers(auto): one per CPU this process may use, but one for the source */
void parallelize_set_workers_auto(LogPipe *s);
gboolean parallelize_set_batch_size(LogPipe *s, gint64 batch_size);
gboolean parallelize_set_fetch_limit(LogPipe *s, gint64 fetch_limit);
gboolean parallelize_set_partition_key(LogPipe *s, const gchar *template_text, GError **error);
void parallelize_set_location(LogPipe *s, const gchar *location);
/* a name for counters and log lines, unique in the configuration (see parallelize-names.h) */
gboolean parallelize_set_name(LogPipe *s, const gchar *name, const gchar *parse_location, GError **error);
void parallelize_options_parsed(LogPipe *s);
/* how in-order() finds a parallelize() and asks it for tickets: registered at module init */
extern const ParallelizeTicketSource parallelize_ticket_source;

#endif
