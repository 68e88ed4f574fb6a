/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-stats.h"

#include "stats/stats-cluster-single.h"

#define STATS_LEVEL 0

typedef void (*CounterFunc)(const StatsClusterKey *key, StatsCounterItem **counter);

static void
_register_one(const StatsClusterKey *key, StatsCounterItem **counter)
{
  stats_register_counter(STATS_LEVEL, key, SC_TYPE_SINGLE_VALUE, counter);
}

static void
_unregister_one(const StatsClusterKey *key, StatsCounterItem **counter)
{
  stats_unregister_counter(key, SC_TYPE_SINGLE_VALUE, counter);
}

static void
_counter(const gchar *id, const gchar *instance, const gchar *name, StatsCounterItem **counter, CounterFunc func)
{
  StatsClusterKey key;
  stats_cluster_single_key_set_with_name(&key, SCS_PARSER, id, instance, name);
  func(&key, counter);
}

static void
_worker_counters(const gchar *id, const gchar *instance, ParallelizeWorkerCounters *counters, CounterFunc func)
{
  _counter(id, instance, "parallelized_assigned_events_total", &counters->assigned, func);
  _counter(id, instance, "parallelized_processed_events_total", &counters->processed, func);
  _counter(id, instance, "parallelized_queued_events", &counters->queued, func);
}

static void
_all_counters(ParallelizeStats *self, CounterFunc func)
{
  stats_lock();
  _worker_counters(self->id, "total", &self->total, func);
  _counter(self->id, "total", "parallelized_inline_events_total", &self->inline_delivered, func);
  for (gint i = 0; i < self->workers; i++)
    {
      gchar instance[32];
      g_snprintf(instance, sizeof(instance), "worker%d", i);
      _worker_counters(self->id, instance, &self->worker[i], func);
    }
  stats_unlock();
}

void
parallelize_stats_register(ParallelizeStats *self, const gchar *location, gint workers)
{
  self->id = g_strdup_printf("parallelize@%s", location);
  self->workers = workers;
  self->worker = g_new0(ParallelizeWorkerCounters, workers);
  _all_counters(self, _register_one);
}

void
parallelize_stats_unregister(ParallelizeStats *self)
{
  if (!self->id)
    return;
  _all_counters(self, _unregister_one);
  g_clear_pointer(&self->worker, g_free);
  g_clear_pointer(&self->id, g_free);
  self->workers = 0;
}
