/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-stats.h"
#include "parallelize-compat.h"

#include "stats/stats-cluster-single.h"

#include <string.h>

#define STATS_LEVEL 0
#define STATS_ID_PREFIX "parallelize@"

/* the wait buckets: bound in microseconds, its le label in seconds (Prometheus' base unit) and its 3.x name */
static const struct
{
  guint64 bound_us;
  const gchar *le;
  const gchar *legacy_name;
} wait_buckets[PARALLELIZE_WAIT_BUCKETS] = {
  {100, "0.0001", "parallelized_wait_le_100us_events_total"},
  {1000, "0.001", "parallelized_wait_le_1ms_events_total"},
  {10000, "0.01", "parallelized_wait_le_10ms_events_total"},
  {100000, "0.1", "parallelized_wait_le_100ms_events_total"},
  {G_MAXUINT64, "+Inf", "parallelized_wait_le_inf_events_total"},
};

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

/* The keys of one instance: the 3.x fields, and the labels of the 4.x name (id, and worker where
 * it is a worker's; a bucket adds le) */
typedef struct _KeyMaker
{
  const ParallelizeStats *stats;
  const gchar *instance; /* total, or workerN */
  const gchar *worker; /* N, or NULL for the instance's own counters */
  gboolean summed; /* total of the workers' counters: 3.x key only, Prometheus sums by itself */
  ParallelizeStatsKey key;
} KeyMaker;

static StatsClusterKey *
_key_with_label(KeyMaker *self, const gchar *name, const gchar *legacy_name, const gchar *le)
{
  ParallelizeStatsLabel labels[3] = {{"id", self->stats->label}};
  gsize n = 1;
  if (self->worker)
    labels[n++] = (ParallelizeStatsLabel){"worker", self->worker};
  if (le)
    labels[n++] = (ParallelizeStatsLabel){"le", le};
  return parallelize_stats_key_set_labelled(
    &self->key, self->summed ? NULL : name, labels, n, SCS_PARSER, self->stats->id, self->instance, legacy_name);
}

static StatsClusterKey *
_key(KeyMaker *self, const gchar *name, const gchar *legacy_name)
{
  return _key_with_label(self, name, legacy_name ? legacy_name : name, NULL);
}

static void
_worker_counters(KeyMaker *keys, ParallelizeWorkerCounters *counters, const CounterOps *ops)
{
  ops->counter(_key(keys, "parallelized_assigned_events_total", NULL), &counters->assigned);
  ops->counter(_key(keys, "parallelized_processed_events_total", NULL), &counters->processed);
  ops->gauge(_key(keys, "parallelized_queued_events", NULL), &counters->queued);
  ops->counter(_key(keys, "parallelized_busy_microseconds_total", NULL), &counters->busy_us);
}

static void
_order_gauges(ParallelizeStats *self, const CounterOps *ops)
{
  KeyMaker keys = {.stats = self, .instance = "total"};

  ops->gauge(_key(&keys, "in_order_waiting_events", NULL), &self->in_order_waiting);
  ops->gauge(_key(&keys, "in_order_max_waiting_events", NULL), &self->in_order_max_waiting);
  ops->gauge(_key(&keys, "in_order_head_wait_max_microseconds", "in_order_head_wait_max_us"),
             &self->in_order_head_wait_max_us);
}

static void
_instance_counters(ParallelizeStats *self, const CounterOps *ops)
{
  KeyMaker keys = {.stats = self, .instance = "total"};

  ops->counter(_key(&keys, "parallelized_inline_events_total", NULL), &self->inline_delivered);
  ops->gauge(_key(&keys, "parallelized_workers", NULL), &self->running_workers);
  for (gint i = 0; i < PARALLELIZE_WAIT_BUCKETS; i++)
    ops->counter(
      _key_with_label(&keys, "parallelized_wait_seconds_bucket", wait_buckets[i].legacy_name, wait_buckets[i].le),
      &self->wait[i]);
  ops->counter(_key(&keys, "parallelized_wait_max_microseconds", NULL), &self->wait_max_us);
  if (self->keyed)
    ops->gauge(_key(&keys, "parallelized_key_skew_percent", NULL), &self->key_skew_percent);
}

static void
_all_counters(ParallelizeStats *self, const CounterOps *ops)
{
  stats_lock();
  KeyMaker summed = {.stats = self, .instance = "total", .summed = TRUE};
  _worker_counters(&summed, &self->total, ops);
  _instance_counters(self, ops);
  if (self->ordered)
    _order_gauges(self, ops);
  for (gint i = 0; i < self->workers; i++)
    {
      gchar instance[32], worker[16];
      g_snprintf(instance, sizeof(instance), "worker%d", i);
      g_snprintf(worker, sizeof(worker), "%d", i);
      KeyMaker keys = {.stats = self, .instance = instance, .worker = worker};
      _worker_counters(&keys, &self->worker[i], ops);
    }
  stats_unlock();
}

static gchar *
_unique_id(const gchar *name)
{
  if (!ids_in_use)
    ids_in_use = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

  gchar *id = g_strdup_printf(STATS_ID_PREFIX "%s", name);
  for (gint n = 1; g_hash_table_contains(ids_in_use, id); n++)
    {
      g_free(id);
      id = g_strdup_printf(STATS_ID_PREFIX "%s#%d", name, n);
    }
  g_hash_table_add(ids_in_use, g_strdup(id));
  return id;
}

void
parallelize_stats_register(ParallelizeStats *self, const gchar *name, gint workers, gboolean keyed)
{
  self->id = _unique_id(name);
  self->label = g_strdup(self->id + strlen(STATS_ID_PREFIX));
  self->workers = workers;
  self->keyed = keyed;
  self->worker = g_new0(ParallelizeWorkerCounters, workers);
  self->clock = g_new0(ParallelizeWorkerClock, workers);
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
  g_clear_pointer(&self->clock, g_free);
  g_clear_pointer(&self->id, g_free);
  g_clear_pointer(&self->label, g_free);
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

/* the busy spell up to now, in whole microseconds (the rest is carried) */
static void
_account_busy(ParallelizeStats *self, unsigned worker, guint64 now_ns)
{
  ParallelizeWorkerClock *clock = &self->clock[worker];
  guint64 busy_ns = clock->unaccounted_ns + (now_ns - clock->busy_since_ns);
  gsize busy_us = (gsize) (busy_ns / 1000);

  clock->unaccounted_ns = busy_ns % 1000;
  stats_counter_add(self->worker[worker].busy_us, busy_us);
  stats_counter_add(self->total.busy_us, busy_us);
}

/* workers race for the maximum: the larger value wins */
static void
_raise_to(StatsCounterItem *counter, gssize value)
{
  if (!counter)
    return;
  gssize seen = atomic_gssize_get(&counter->value);
  while (value > seen && !atomic_gssize_compare_and_exchange(&counter->value, seen, value))
    seen = atomic_gssize_get(&counter->value);
}

void
parallelize_stats_taken(ParallelizeStats *self, unsigned worker, guint64 handed_over_ns, guint64 now_ns, gsize count)
{
  ParallelizeWorkerClock *clock = &self->clock[worker];

  /* busy since the last batch it took (or since now): accounted per batch, so rate() sees it as it goes */
  if (clock->busy_since_ns)
    _account_busy(self, worker, now_ns);
  clock->busy_since_ns = now_ns;

  guint64 waited_us = now_ns > handed_over_ns ? (now_ns - handed_over_ns) / 1000 : 0;
  gint bucket = 0;
  while (waited_us > wait_buckets[bucket].bound_us)
    bucket++;
  for (; bucket < PARALLELIZE_WAIT_BUCKETS; bucket++)
    stats_counter_add(self->wait[bucket], count);
  _raise_to(self->wait_max_us, (gssize) MIN(waited_us, (guint64) G_MAXSSIZE));
}

void
parallelize_stats_idle(ParallelizeStats *self, unsigned worker, guint64 now_ns)
{
  ParallelizeWorkerClock *clock = &self->clock[worker];

  if (!clock->busy_since_ns)
    return;
  _account_busy(self, worker, now_ns);
  clock->busy_since_ns = 0;
}
