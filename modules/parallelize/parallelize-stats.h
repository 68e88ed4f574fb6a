/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Counters of one parallelize() instance.  In syslog-ng-ctl stats/query (every release):
 *   parser;parallelize@ID;total;parallelized_assigned_events_total
 *   parser;parallelize@ID;workerN;parallelized_assigned_events_total
 * and the same for processed_events_total, queued_events and busy_microseconds_total; per
 * instance (SourceInstance total) inline_events_total, parallelized_workers (the worker threads
 * running), the wait buckets parallelized_wait_le_{100us,1ms,10ms,100ms,inf}_events_total,
 * parallelized_wait_max_microseconds and, with partition-key(), parallelized_key_skew_percent.
 * With an in-order() after it, per instance (gauges, refreshed as workers report tickets done):
 *   in_order_waiting_events      messages in-order() holds now
 *   in_order_max_waiting_events  the most it held at once
 *   in_order_head_wait_max_us    the longest time held messages waited for one release
 *
 * On 4.x the same counters, but the sums over workers, also have a name and labels, which
 * `syslog-ng-ctl stats prometheus` shows: syslogng_parallelized_assigned_events_total{id="ID",
 * worker="N"}, syslogng_parallelized_wait_seconds_bucket{id="ID",le="0.0001"} (cumulative, as
 * Prometheus histograms are), syslogng_in_order_head_wait_max_microseconds{id="ID"} ...
 *
 * What they mean:
 *   busy_microseconds_total  wall-clock time a worker spent from taking a batch until it ran out
 *                            of work (time the OS gave its CPU to others included): its rate is
 *                            the worker's utilization, 0 to 1
 *   wait_le_X_events_total   messages a worker took at most X after they were handed over
 *                            (cumulative; le_inf counts every message a worker took, so it
 *                            equals processed_events_total); measured per batch, counted per message
 *   wait_max_microseconds    the longest such wait since start or `stats --reset`
 *   key_skew_percent         over the last 5-second window (see parallelize-hotkey.h): the busiest
 *                            worker's share of the messages assigned, in percent of a fair share
 *                            (100: even; workers x 100: all on one worker; 0: no message)
 *
 * ID is the instance's name() where it has one, else where parallelize() stands
 * (file:line:col).  Instances that share one (an @include'd snippet used in two log paths,
 * a named parser referenced twice) are told apart as ID#1, #2... in the order they
 * initialise, which a reload repeats, so counters keep their values across a reload that
 * keeps the name or the line.  Counters of ids the new configuration no longer has are
 * removed once it is up, so moved lines leave none behind.
 *
 * The queued and skew gauges are syslog-ng external counters, which
 * `syslog-ng-ctl stats --reset` leaves alone (as it does the host's own
 * queued gauges): reset to 0 while messages are queued, they would go negative.
 */
#ifndef PARALLELIZE_STATS_H_INCLUDED
#define PARALLELIZE_STATS_H_INCLUDED

#include "stats/stats-registry.h"

/* upper bounds of the wait buckets in microseconds; one more bucket takes everything */
#define PARALLELIZE_WAIT_BOUNDS 4
#define PARALLELIZE_WAIT_BUCKETS (PARALLELIZE_WAIT_BOUNDS + 1)

typedef struct _ParallelizeWorkerCounters
{
  StatsCounterItem *assigned;
  StatsCounterItem *processed;
  StatsCounterItem *busy_us;
  atomic_gssize queued;
} ParallelizeWorkerCounters;

/* a worker's own, on its thread only (a cache line each): its busy spell, accounted per batch */
typedef struct _ParallelizeWorkerClock
{
  guint64 busy_since_ns; /* 0: idle */
  guint64 unaccounted_ns; /* what was below a microsecond, carried over */
  gchar padding[64 - 2 * sizeof(guint64)];
} ParallelizeWorkerClock;

typedef struct _ParallelizeStats
{
  gchar *id; /* parallelize@ID, the 3.x id */
  gchar *label; /* ID, the id label on 4.x */
  gint workers;
  gboolean keyed;
  ParallelizeWorkerCounters total;
  StatsCounterItem *inline_delivered;
  atomic_gssize running_workers;
  ParallelizeWorkerCounters *worker;
  ParallelizeWorkerClock *clock;
  StatsCounterItem *wait[PARALLELIZE_WAIT_BUCKETS];
  StatsCounterItem *wait_max_us;
  atomic_gssize key_skew_percent;
  gboolean ordered;
  atomic_gssize in_order_waiting;
  atomic_gssize in_order_max_waiting;
  atomic_gssize in_order_head_wait_max_us;
} ParallelizeStats;

/* name: the instance's name() or its location; keyed: it has a partition-key() (skew) */
void parallelize_stats_register(ParallelizeStats *self, const gchar *name, gint workers, gboolean keyed);
void parallelize_stats_unregister(ParallelizeStats *self);
/* once registered: the in-order() gauges too */
void parallelize_stats_register_order(ParallelizeStats *self);
/* main thread: drop the counters no instance has registered any more */
void parallelize_stats_remove_orphans(void);

/* worker thread, per batch: it takes count messages handed over at handed_over_ns; now_ns is the
 * same clock (pd_clock_ns()) */
void
parallelize_stats_taken(ParallelizeStats *self, unsigned worker, guint64 handed_over_ns, guint64 now_ns, gsize count);
/* worker thread: it ran out of work */
void parallelize_stats_idle(ParallelizeStats *self, unsigned worker, guint64 now_ns);

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
