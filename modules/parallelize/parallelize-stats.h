/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Counters of one parallelize() instance, in syslog-ng-ctl stats/query:
 *   parser;parallelize@LOCATION;total;parallelized_assigned_events_total
 *   parser;parallelize@LOCATION;workerN;parallelized_assigned_events_total
 * and the same for processed_events_total and queued_events; inline_events_total per instance.
 */
#ifndef PARALLELIZE_STATS_H_INCLUDED
#define PARALLELIZE_STATS_H_INCLUDED

#include "stats/stats-registry.h"

typedef struct _ParallelizeWorkerCounters
{
  StatsCounterItem *assigned;
  StatsCounterItem *processed;
  StatsCounterItem *queued;
} ParallelizeWorkerCounters;

typedef struct _ParallelizeStats
{
  gchar *id;
  gint workers;
  ParallelizeWorkerCounters total;
  StatsCounterItem *inline_delivered;
  ParallelizeWorkerCounters *worker;
} ParallelizeStats;

void parallelize_stats_register(ParallelizeStats *self, const gchar *location, gint workers);
void parallelize_stats_unregister(ParallelizeStats *self);

/* count messages queued for a worker (handing thread) */
static inline void
parallelize_stats_assigned(ParallelizeStats *self, unsigned worker, gsize count)
{
  stats_counter_add(self->total.assigned, count);
  stats_counter_add(self->total.queued, count);
  stats_counter_add(self->worker[worker].assigned, count);
  stats_counter_add(self->worker[worker].queued, count);
}

/* count messages a worker passed on (worker thread) */
static inline void
parallelize_stats_processed(ParallelizeStats *self, unsigned worker, gsize count)
{
  stats_counter_add(self->total.processed, count);
  stats_counter_sub(self->total.queued, count);
  stats_counter_add(self->worker[worker].processed, count);
  stats_counter_sub(self->worker[worker].queued, count);
}

static inline void
parallelize_stats_inline(ParallelizeStats *self, gsize count)
{
  stats_counter_add(self->inline_delivered, count);
}

#endif
