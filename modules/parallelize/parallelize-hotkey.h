/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hot partition key detection.  Every window (5 s) the main thread compares
 * how many messages each worker was assigned; a worker that gets more than
 * twice its fair share (with two workers: more than 75%) in three windows in
 * a row, with at least 1000 messages a window, is reported once, with an
 * example key value that was routed to it, and then not again for an hour.
 * Each window also sets the instance's key skew gauge (parallelize-stats.h).
 */
#ifndef PARALLELIZE_HOTKEY_H_INCLUDED
#define PARALLELIZE_HOTKEY_H_INCLUDED

#include "parallelize-stats.h"

#include <iv.h>

#define PARALLELIZE_HOTKEY_WINDOW_MSEC 5000
#define PARALLELIZE_HOTKEY_WINDOWS 3
#define PARALLELIZE_HOTKEY_MIN_MESSAGES 1000
#define PARALLELIZE_HOTKEY_QUIET_SEC 3600
#define PARALLELIZE_HOTKEY_SAMPLE_MAX 256

typedef struct _ParallelizeHotKey
{
  struct iv_timer timer;
  ParallelizeStats *stats;
  /* how log lines name the instance: name='...' or location='...' */
  const gchar *instance_tag;
  const gchar *instance;
  gint workers;
  gssize *last_assigned;
  gint suspect; /* worker hot in the previous windows, or -1 */
  gint hot_windows;
  gint64 quiet_until; /* monotonic seconds */

  /* the source threads fill in one key routed to the suspect worker */
  gint sample_wanted; /* worker + 1, or 0; atomic */
  GMutex sample_lock;
  gchar sample[PARALLELIZE_HOTKEY_SAMPLE_MAX];
} ParallelizeHotKey;

void parallelize_hotkey_start(
  ParallelizeHotKey *self, ParallelizeStats *stats, const gchar *instance_tag, const gchar *instance, gint workers);
void parallelize_hotkey_stop(ParallelizeHotKey *self);
void parallelize_hotkey_offer_sample(ParallelizeHotKey *self, unsigned worker, const gchar *key, gssize len);

/* on every keyed message: one relaxed load unless a sample is wanted */
static inline void
parallelize_hotkey_observe(ParallelizeHotKey *self, unsigned worker, const gchar *key, gssize len)
{
  if (G_UNLIKELY(g_atomic_int_get(&self->sample_wanted) == (gint) worker + 1))
    parallelize_hotkey_offer_sample(self, worker, key, len);
}

#endif
