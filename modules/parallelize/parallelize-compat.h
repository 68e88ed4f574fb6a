/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What differs between the syslog-ng releases the module builds for (3.35: Ubuntu
 * 22.04, EPEL 9; 3.38: Debian 12; 4.3: Ubuntu 24.04; 4.8: Debian 13), in one place:
 * configure's feature checks (config.h) pick one side of each.  Where the hosts
 * differ in substance, there is one glue file per host API instead: worker thread
 * ids (parallelize-thread-ids.h: -v3.c / -v4.c) and how a worker is a thread of the
 * main loop (parallelize-worker-host.h: -jobs.c / -proxy.c).  docs/dev/hosts.md
 * lists every difference.
 */
#ifndef PARALLELIZE_COMPAT_H_INCLUDED
#define PARALLELIZE_COMPAT_H_INCLUDED

#include "config.h"

#include "logpipe.h"
#include "mainloop-worker.h"
#include "parse-number.h"
#include "stats/stats-cluster-single.h"
#include "template/templates.h"

#include <string.h>

/* this thread's index among syslog-ng's worker threads, -1 without one (renamed in 4.1) */
static inline gint
parallelize_thread_index(void)
{
#if HAVE_DECL_MAIN_LOOP_WORKER_GET_THREAD_INDEX
  return main_loop_worker_get_thread_index();
#else
  return main_loop_worker_get_thread_id();
#endif
}

/* The pipe's hooks around the configuration's init: pre runs on every pipe before any
 * init (4.1 and later only: 3.38 has no such hook, see parallelize-thread-ids.h), post
 * once every pipe is initialised (3.38 calls it on_config_inited). */
static inline void
parallelize_set_config_hooks(LogPipe *s, gboolean (*pre)(LogPipe *s), gboolean (*post)(LogPipe *s))
{
#if HAVE_LOGPIPE_POST_CONFIG_INIT
  s->pre_config_init = pre;
  s->post_config_init = post;
#else
  s->on_config_inited = post;
#endif
}

/* 4.8's FilterX keeps a message's changes beside it until a pipe that asks for them:
 * one that hands messages to another thread must, or they are lost there */
#if HAVE_DECL_PIF_SYNC_FILTERX
#define PARALLELIZE_PIF_SYNC_FILTERX PIF_SYNC_FILTERX
#else
#define PARALLELIZE_PIF_SYNC_FILTERX 0
#endif

/* the partition-key() text, as written (renamed in 4.3) */
static inline const gchar *
parallelize_template_text(LogTemplate *template_)
{
#if HAVE_LOGTEMPLATE_TEMPLATE_STR
  return template_->template_str;
#else
  return template_->template;
#endif
}

/* A counter keyed as in 3.x (component;id;instance;name): 4.x calls that key legacy
 * (beside its name-and-labels keys) and keeps its fields under .legacy */
static inline void
parallelize_stats_key_set(
  StatsClusterKey *key, guint16 component, const gchar *id, const gchar *instance, const gchar *name)
{
#if HAVE_DECL_STATS_CLUSTER_SINGLE_KEY_LEGACY_SET_WITH_NAME
  stats_cluster_single_key_legacy_set_with_name(key, component, id, instance, name);
#else
  stats_cluster_single_key_set_with_name(key, component, id, instance, name);
#endif
}

/* A counter label (4.x: shown by `syslog-ng-ctl stats prometheus`); 3.x has none */
typedef struct _ParallelizeStatsLabel
{
  const gchar *name;
  const gchar *value;
} ParallelizeStatsLabel;

#define PARALLELIZE_STATS_MAX_LABELS 4

/* A counter with a name and labels where the host has them (4.1 and later: in Prometheus form as
 * syslogng_NAME{labels}), always also keyed as in 3.x (component;id;instance;legacy_name), which
 * `stats` and `query` list on every release.  name NULL: the 3.x key only (on 4.x, Prometheus shows
 * it only with --with-legacy-metrics).  labels must outlive the key's use (register or unregister). */
typedef struct _ParallelizeStatsKey
{
  StatsClusterKey key;
#if HAVE_DECL_STATS_CLUSTER_SINGLE_KEY_ADD_LEGACY_ALIAS_WITH_NAME
  StatsClusterLabel labels[PARALLELIZE_STATS_MAX_LABELS];
#endif
} ParallelizeStatsKey;

static inline StatsClusterKey *
parallelize_stats_key_set_labelled(ParallelizeStatsKey *self,
                                   const gchar *name,
                                   const ParallelizeStatsLabel *labels,
                                   gsize labels_len,
                                   guint16 component,
                                   const gchar *id,
                                   const gchar *instance,
                                   const gchar *legacy_name)
{
#if HAVE_DECL_STATS_CLUSTER_SINGLE_KEY_ADD_LEGACY_ALIAS_WITH_NAME
  if (name)
    {
      g_assert(labels_len <= PARALLELIZE_STATS_MAX_LABELS);
      for (gsize i = 0; i < labels_len; i++)
        self->labels[i] = stats_cluster_label(labels[i].name, labels[i].value);
      stats_cluster_single_key_set(&self->key, name, self->labels, labels_len);
      stats_cluster_single_key_add_legacy_alias_with_name(&self->key, component, id, instance, legacy_name);
      return &self->key;
    }
#endif
  parallelize_stats_key_set(&self->key, component, id, instance, legacy_name);
  return &self->key;
}

static inline gboolean
parallelize_stats_key_is(const StatsClusterKey *key, guint16 component, const gchar *id_prefix)
{
#if HAVE_DECL_STATS_CLUSTER_SINGLE_KEY_LEGACY_SET_WITH_NAME
  return key->legacy.set && key->legacy.component == component && key->legacy.id &&
         g_str_has_prefix(key->legacy.id, id_prefix);
#else
  return key->component == component && key->id && g_str_has_prefix(key->id, id_prefix);
#endif
}

/* A number as the configuration's lexer reads it: 10, 1k, 10M, 10Mi, 1GiB, 0x10, 010.
 * 3.38 dispatches on the form (hex, octal, decimal with a suffix) as its lexer's
 * patterns do; 3.35's parser detects the base itself. */
static inline gboolean
parallelize_parse_number(const gchar *text, gint64 *value)
{
#if HAVE_DECL_PARSE_INT64_WITH_SUFFIX
  if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    return parse_int64_base16(text, value);
  if (text[0] == '0' && text[1] && strspn(text + 1, "01234567") == strlen(text + 1))
    return parse_int64_base8(text, value);
  return parse_int64_with_suffix(text, value);
#else
  return parse_number_with_suffix(text, value);
#endif
}

/* A source's log-fetch-limit() above this breaks flow control: 3.38 counts a thread's
 * messages in a destination queue in 16 bits (fixed in 4.3) */
#if HOST_FIFO_COUNTS_32_BITS
#define PARALLELIZE_HOST_MAX_SOURCE_FETCH_LIMIT G_MAXINT
#else
#define PARALLELIZE_HOST_MAX_SOURCE_FETCH_LIMIT 65535
#endif

#endif
