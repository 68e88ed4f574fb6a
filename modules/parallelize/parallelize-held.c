/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-held.h"

/* The reference count is the low 15 bits of one atomic word on every host
 * (3.35 to 4.8; lib/logmsg/logmsg.c, LOGMSG_REFCACHE_REF_MASK).  A thread that
 * caches references on a message (log_msg_refcache_start_*(): the source's
 * and the writer's) adds a bias of 0x2000 first and takes it away last, so a
 * message still in such hands never reads as ours alone. */
#define PARALLELIZE_MSG_REF_MASK 0x7FFF

#define PARALLELIZE_HELD_MIN 4096
#define PARALLELIZE_HELD_MAX 65536

guint
parallelize_held_capacity(gint fetch_limit)
{
  /* measured (cheap path, log-fetch-limit(10000)): two fetches' worth was enough for every message */
  return (guint) CLAMP(4 * (gint64) fetch_limit, PARALLELIZE_HELD_MIN, PARALLELIZE_HELD_MAX);
}

static gboolean
_ours_alone(LogMessage *msg)
{
  return (g_atomic_int_get(&msg->ack_and_ref_and_abort_and_suspended) & PARALLELIZE_MSG_REF_MASK) == 1;
}

static LogMessage *
_pop(ParallelizeHeld *self)
{
  LogMessage *msg = self->ring[self->head];
  self->bytes -= self->sizes[self->head];
  self->head = (self->head + 1) % self->capacity;
  self->count--;
  return msg;
}

void
parallelize_held_release_done(ParallelizeHeld *self)
{
  while (self->count && _ours_alone(self->ring[self->head]))
    {
      log_msg_unref(_pop(self));
      self->freed_home++;
    }
}

static gboolean
_full(ParallelizeHeld *self)
{
  return self->count == self->capacity || self->bytes >= PARALLELIZE_HELD_MAX_BYTES;
}

void
parallelize_held_keep(ParallelizeHeld *self, LogMessage *msg, guint capacity)
{
  if (!self->ring)
    {
      self->capacity = capacity;
      self->ring = g_new(LogMessage *, capacity);
      self->sizes = g_new(guint, capacity);
    }
  if (_full(self))
    {
      parallelize_held_release_done(self);
      while (_full(self))
        {
          log_msg_unref(_pop(self));
          self->let_go++;
        }
    }
  guint tail = (self->head + self->count) % self->capacity;
  self->ring[tail] = log_msg_ref(msg);
  self->sizes[tail] = msg->allocated_bytes;
  self->bytes += msg->allocated_bytes;
  self->count++;
}

void
parallelize_held_release_all(ParallelizeHeld *self)
{
  while (self->count)
    {
      log_msg_unref(_pop(self));
      self->at_stop++;
    }
  g_clear_pointer(&self->ring, g_free);
  g_clear_pointer(&self->sizes, g_free);
}
