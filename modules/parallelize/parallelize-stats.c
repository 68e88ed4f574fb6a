/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-stats.h"
#include "parallelize-compat.h"

#include "stats/stats-cluster-single.h"

#include <string.h>

#define STATS_LEVEL 0
#define STATS_ID_PREFIX "parallelize@"

/* ids registered now, so that two instances never share counters (main thread only) */
static GHashTable *ids_in_use;

typedef struct _CounterOps
{
  void (*counter)(const StatsClusterKey *key, StatsCounterItem **counter);
  void (*gauge)(const StatsClusterKey *key, atomic_gssize *gauge);
} CounterOps;

static void
_register_counter(const StatsClusterKey *key, StatsCounterItem **counter)
{
  stats_register_counter(STATS_LEVEL, key, SC_TYPE_SINGLE_VALUE, counter);
}

static void
_unregister_counter(const StatsClusterKey *key, StatsCounterItem **counter)
{
  stats_unregister_counter(key, SC_TYPE_SINGLE_VALUE, counter);
}

static void
_register_gauge(const StatsClusterKey *key, atomic_gssize *gauge)
{
  atomic_gssize_set(gauge, 0);
  stats_register_external_counter(STATS_LEVEL, key, SC_TYPE_SINGLE_VALUE, gauge);
}

static void
_unregister_gauge(const StatsClusterKey *key, atomic_gssize *gauge)
{
  stats_unregister_external_counter(key, SC_TYPE_SINGLE_VALUE, gauge);
}

static const CounterOps registering = {_register_counter, _register_gauge};
static const CounterOps unregistering = {_unregister_counter, _unregister_gauge};

static void
_key(StatsClusterKey *key, const gchar *id, const gchar *instance, const gchar *name)
{
  parallelize_stats_key_set(key, SCS_PARSER, id, instance, name);
}

static void
_worker_counters(const gchar *id, const gchar *instance, ParallelizeWorkerCounters *counters, const CounterOps *ops)
{
  StatsClusterKey key;

  _key(&key, id, instance, "parallelized_assigned_events_total");
  ops->counter(&key, &counters->assigned);
  _key(&key, id, instance, "parallelized_processed_events_total");
  ops->counter(&key, &counters->processed);
  _key(&key, id, instance, "parallelized_queued_events");
  ops->gauge(&key, &counters->queued);
}

static void
_order_gauges(ParallelizeStats *self, const CounterOps *ops)
{
  StatsClusterKey key;

  _key(&key, self->id, "total", "in_order_waiting_events");
  ops->gauge(&key, &self->in_order_waiting);
  _key(&key, self->id, "total", "in_order_max_waiting_events");
  ops->gauge(&key, &self->in_order_max_waiting);
  _key(&key, self->id, "total", "in_order_head_wait_max_us");
  ops->gauge(&key, &self->in_order_head_wait_max_us);
}

static void
_all_counters(ParallelizeStats *self, const CounterOps *ops)
{
  StatsClusterKey key;

  stats_lock();
  _worker_counters(self->id, "total", &self->total, ops);
  _key(&key, self->id, "total", "parallelized_inline_events_total");
  ops->counter(&key, &self->inline_delivered);
  _key(&key, self->id, "total", "parallelized_workers");
  ops->gauge(&key, &self->running_workers);
  if (self->ordered)
    _order_gauges(self, ops);
  for (gint i = 0; i < self->workers; i++)
    {
      gchar instance[32];
      g_snprintf(instance, sizeof(instance), "worker%d", i);
      _worker_counters(self->id, instance, &self->worker[i], ops);
    }
  stats_unlock();
}

static gchar *
_unique_id(const gchar *location)
{
  if (!ids_in_use)
    ids_in_use = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

  gchar *id = g_strdup_printf(STATS_ID_PREFIX "%s", location);
  for (gint n = 1; g_hash_table_contains(ids_in_use, id); n++)
    {
      g_free(id);
      id = g_strdup_printf(STATS_ID_PREFIX "%s#%d", location, n);
    }
  g_hash_table_add(ids_in_use, g_strdup(id));
  return id;
}

void
parallelize_stats_register(ParallelizeStats *self, const gchar *location, gint workers)
{
  self->id = _unique_id(location);
  self->workers = workers;
  self->worker = g_new0(ParallelizeWorkerCounters, workers);
  _all_counters(self, &registering);
  atomic_gssize_set(&self->running_workers, workers);
}

void
parallelize_stats_unregister(ParallelizeStats *self)
{
  if (!self->id)
    return;
  _all_counters(self, &unregistering);
  self->ordered = FALSE;
  g_hash_table_remove(ids_in_use, self->id);
  g_clear_pointer(&self->worker, g_free);
  g_clear_pointer(&self->id, g_free);
  self->workers = 0;
}

static gboolean
_is_orphaned_parallelize_cluster(StatsCluster *sc, gpointer user_data)
{
  return stats_cluster_is_orphaned(sc) && parallelize_stats_key_is(&sc->key, SCS_PARSER, STATS_ID_PREFIX);
}

void
parallelize_stats_remove_orphans(void)
{
  stats_lock();
  stats_foreach_cluster_remove(_is_orphaned_parallelize_cluster, NULL);
  stats_unlock();
}

void
parallelize_stats_register_order(ParallelizeStats *self)
{
  if (!self->id || self->ordered)
    return;
  self->ordered = TRUE;
  stats_lock();
  _order_gauges(self, &registering);
  stats_unlock();
}
