/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-hotkey.h"

#include "messages.h"
#include "timeutils/misc.h"

#include <string.h>

static gdouble
_threshold(gint workers)
{
  return workers == 2 ? 0.75 : 2.0 / workers;
}

static void
_arm(ParallelizeHotKey *self)
{
  iv_validate_now();
  self->timer.expires = iv_now;
  timespec_add_msec(&self->timer.expires, PARALLELIZE_HOTKEY_WINDOW_MSEC);
  iv_timer_register(&self->timer);
}

static void
_report(ParallelizeHotKey *self, gint worker, gdouble share)
{
  gchar example[PARALLELIZE_HOTKEY_SAMPLE_MAX];

  g_mutex_lock(&self->sample_lock);
  g_strlcpy(example, self->sample[0] ? self->sample : "(none seen)", sizeof(example));
  g_mutex_unlock(&self->sample_lock);

  msg_warning("parallelize(): one worker gets far more than its share; the partition key is too coarse "
              "(one hot value?) - consider a key with more distinct values",
              evt_tag_str(self->instance_tag, self->instance),
              evt_tag_int("worker", worker),
              evt_tag_printf("share", "%.0f%%", share * 100),
              evt_tag_printf("fair_share", "%.0f%%", 100.0 / self->workers),
              evt_tag_str("example_key", example),
              evt_tag_int("sustained_seconds", PARALLELIZE_HOTKEY_WINDOWS * PARALLELIZE_HOTKEY_WINDOW_MSEC / 1000));
}

static void
_window_elapsed(void *cookie)
{
  ParallelizeHotKey *self = (ParallelizeHotKey *) cookie;
  gssize total = 0;
  gint busiest = 0;
  gssize busiest_count = -1;

  for (gint i = 0; i < self->workers; i++)
    {
      gssize now = (gssize) stats_counter_get(self->stats->worker[i].assigned);
      gssize delta = now - self->last_assigned[i];
      self->last_assigned[i] = now;
      total += delta;
      if (delta > busiest_count)
        {
          busiest_count = delta;
          busiest = i;
        }
    }

  gdouble share = total > 0 ? (gdouble) busiest_count / total : 0;
  atomic_gssize_set(&self->stats->key_skew_percent, (gssize) (share * self->workers * 100 + 0.5));
  gboolean hot = total >= PARALLELIZE_HOTKEY_MIN_MESSAGES && share > _threshold(self->workers);
  if (hot && busiest == self->suspect)
    self->hot_windows++;
  else if (hot)
    {
      self->suspect = busiest;
      self->hot_windows = 1;
      g_mutex_lock(&self->sample_lock);
      self->sample[0] = 0;
      g_mutex_unlock(&self->sample_lock);
      g_atomic_int_set(&self->sample_wanted, busiest + 1);
    }
  else
    {
      self->suspect = -1;
      self->hot_windows = 0;
      g_atomic_int_set(&self->sample_wanted, 0);
    }

  gint64 now_sec = g_get_monotonic_time() / G_USEC_PER_SEC;
  if (self->hot_windows >= PARALLELIZE_HOTKEY_WINDOWS && now_sec >= self->quiet_until)
    {
      _report(self, busiest, share);
      self->quiet_until = now_sec + PARALLELIZE_HOTKEY_QUIET_SEC;
    }
  _arm(self);
}

void
parallelize_hotkey_offer_sample(ParallelizeHotKey *self, unsigned worker, const gchar *key, gssize len)
{
  g_mutex_lock(&self->sample_lock);
  if (g_atomic_int_get(&self->sample_wanted) == (gint) worker + 1)
    {
      gsize n = MIN((gsize) len, sizeof(self->sample) - 1);
      memcpy(self->sample, key, n);
      self->sample[n] = 0;
      g_atomic_int_set(&self->sample_wanted, 0);
    }
  g_mutex_unlock(&self->sample_lock);
}

/* main thread */
void
parallelize_hotkey_start(
  ParallelizeHotKey *self, ParallelizeStats *stats, const gchar *instance_tag, const gchar *instance, gint workers)
{
  self->stats = stats;
  self->instance_tag = instance_tag;
  self->instance = instance;
  self->workers = workers;
  self->last_assigned = g_new0(gssize, workers);
  self->suspect = -1;
  self->hot_windows = 0;
  self->quiet_until = 0;
  self->sample_wanted = 0;
  self->sample[0] = 0;
  g_mutex_init(&self->sample_lock);
  for (gint i = 0; i < workers; i++)
    self->last_assigned[i] = (gssize) stats_counter_get(stats->worker[i].assigned);

  IV_TIMER_INIT(&self->timer);
  self->timer.cookie = self;
  self->timer.handler = _window_elapsed;
  _arm(self);
}

/* main thread */
void
parallelize_hotkey_stop(ParallelizeHotKey *self)
{
  if (!self->last_assigned)
    return;
  if (iv_timer_registered(&self->timer))
    iv_timer_unregister(&self->timer);
  g_clear_pointer(&self->last_assigned, g_free);
  g_mutex_clear(&self->sample_lock);
}
