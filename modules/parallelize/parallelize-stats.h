/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Counters of one parallelize() instance, in syslog-ng-ctl stats/query:
 *   parser;parallelize@LOCATION;total;parallelized_assigned_events_total
 *   parser;parallelize@LOCATION;workerN;parallelized_assigned_events_total
 * and the same for processed_events_total and queued_events; inline_events_total and
 * parallelized_workers (the worker threads running) per instance.
 * With an in-order() after it, per instance (gauges, refreshed as workers report tickets done):
 *   in_order_waiting_events      messages in-order() holds now
 *   in_order_max_waiting_events  the most it held at once
 *   in_order_head_wait_max_us    the longest time held messages waited for one release
 *
 * LOCATION is where parallelize() stands (file:line:col).  Instances that
 * share one (an @include'd snippet used in two log paths, a named parser
 * referenced twice) are told apart as LOCATION#1, #2... in the order they
 * initialise, which a reload repeats, so counters keep their values across
 * a reload that keeps the line.  Counters of locations the new configuration
 * no longer has are removed once it is up, so moved lines leave none behind.
 *
 * The queued gauges are syslog-ng external counters, which
 * `syslog-ng-ctl stats --reset` leaves alone (as it does the host's own
 * queued gauges): reset to 0 while messages are queued, they would go negative.
 */
#ifndef PARALLELIZE_STATS_H_INCLUDED
#define PARALLELIZE_STATS_H_INCLUDED

#include "stats/stats-registry.h"

typedef struct _ParallelizeWorkerCounters
{
  StatsCounterItem *assigned;
  StatsCounterItem *processed;
  atomic_gssize queued;
} ParallelizeWorkerCounters;

typedef struct _ParallelizeStats
{
  gchar *id;
  gint workers;
  ParallelizeWorkerCounters total;
  StatsCounterItem *inline_delivered;
  atomic_gssize running_workers;
  ParallelizeWorkerCounters *worker;
  gboolean ordered;
  atomic_gssize in_order_waiting;
  atomic_gssize in_order_max_waiting;
  atomic_gssize in_order_head_wait_max_us;
} ParallelizeStats;

void parallelize_stats_register(ParallelizeStats *self, const gchar *location, gint workers);
void parallelize_stats_unregister(ParallelizeStats *self);
/* once registered: the in-order() gauges too */
void parallelize_stats_register_order(ParallelizeStats *self);
/* main thread: drop the counters no instance has registered any more */
void parallelize_stats_remove_orphans(void);

/* count messages queued for a worker (handing thread) */
static inline void
parallelize_stats_assigned(ParallelizeStats *self, unsigned worker, gsize count)
{
  stats_counter_add(self->total.assigned, count);
  atomic_gssize_add(&self->total.queued, count);
  stats_counter_add(self->worker[worker].assigned, count);
  atomic_gssize_add(&self->worker[worker].queued, count);
}

/* count messages a worker passed on (worker thread) */
static inline void
parallelize_stats_processed(ParallelizeStats *self, unsigned worker, gsize count)
{
  stats_counter_add(self->total.processed, count);
  atomic_gssize_sub(&self->total.queued, count);
  stats_counter_add(self->worker[worker].processed, count);
  atomic_gssize_sub(&self->worker[worker].queued, count);
}

static inline void
parallelize_stats_inline(ParallelizeStats *self, gsize count)
{
  stats_counter_add(self->inline_delivered, count);
}

#endif
