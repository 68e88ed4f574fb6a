/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-held.h"

/* The reference count is the low 15 bits of one atomic word on every host
 * (3.35 to 4.8; lib/logmsg/logmsg.c, LOGMSG_REFCACHE_REF_MASK).  A thread that
 * caches references on a message (log_msg_refcache_start_*(): the source's
 * and the writer's) adds a bias of 0x2000 first and takes it away last, so a
 * message still in such hands never reads as ours alone. */
#define PARALLELIZE_MSG_REF_MASK 0x7FFF

/* Within a fetch (thousands of messages), the oldest are looked at every so
 * many messages: what is done goes then, not only at the end of the fetch.
 * A look reads one reference count per worker, on a line the writer wrote. */
#define PARALLELIZE_HELD_CHECK_EVERY 64

#define PARALLELIZE_HELD_MIN 4096
#define PARALLELIZE_HELD_MAX 65536
#define PARALLELIZE_HELD_RING_START 256 /* a power of two, doubled as it grows */

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
_pop(ParallelizeHeld *self, ParallelizeHeldRing *ring)
{
  LogMessage *msg = ring->slots[ring->head];
  self->bytes -= ring->sizes[ring->head];
  ring->head = (ring->head + 1) & (ring->size - 1);
  ring->count--;
  self->count--;
  return msg;
}

static void
_grow(ParallelizeHeldRing *ring)
{
  guint size = ring->size ? ring->size * 2 : PARALLELIZE_HELD_RING_START;
  LogMessage **slots = g_new(LogMessage *, size);
  guint *sizes = g_new(guint, size);
  for (guint i = 0; i < ring->count; i++)
    {
      guint from = (ring->head + i) & (ring->size - 1);
      slots[i] = ring->slots[from];
      sizes[i] = ring->sizes[from];
    }
  g_free(ring->slots);
  g_free(ring->sizes);
  ring->slots = slots;
  ring->sizes = sizes;
  ring->size = size;
  ring->head = 0;
}

void
parallelize_held_release_done(ParallelizeHeld *self)
{
  for (guint w = 0; w < self->workers; w++)
    {
      ParallelizeHeldRing *ring = &self->rings[w];
      while (ring->count && _ours_alone(ring->slots[ring->head]))
        {
          log_msg_unref(_pop(self, ring));
          self->freed_home++;
        }
    }
}

static gboolean
_full(ParallelizeHeld *self, guint capacity)
{
  return self->count >= capacity || self->bytes >= PARALLELIZE_HELD_MAX_BYTES;
}

/* at a bound with nothing done: the oldest of the fullest ring goes as it is */
static void
_let_go_one(ParallelizeHeld *self)
{
  ParallelizeHeldRing *fullest = &self->rings[0];
  for (guint w = 1; w < self->workers; w++)
    if (self->rings[w].count > fullest->count)
      fullest = &self->rings[w];
  log_msg_unref(_pop(self, fullest));
  self->let_go++;
}

void
parallelize_held_keep_ref(ParallelizeHeld *self, LogMessage *msg, guint worker, guint workers, guint capacity)
{
  if (!self->rings)
    {
      self->workers = workers;
      self->rings = g_new0(ParallelizeHeldRing, workers);
    }
  g_assert(worker < self->workers);

  if (_full(self, capacity))
    {
      parallelize_held_release_done(self);
      while (_full(self, capacity))
        _let_go_one(self);
    }
  else if ((self->kept++ & (PARALLELIZE_HELD_CHECK_EVERY - 1)) == 0)
    parallelize_held_release_done(self);

  ParallelizeHeldRing *ring = &self->rings[worker];
  if (ring->count == ring->size)
    _grow(ring);
  guint tail = (ring->head + ring->count) & (ring->size - 1);
  ring->slots[tail] = msg;
  ring->sizes[tail] = msg->allocated_bytes;
  ring->count++;
  self->count++;
  self->bytes += msg->allocated_bytes;
}

void
parallelize_held_keep(ParallelizeHeld *self, LogMessage *msg, guint worker, guint workers, guint capacity)
{
  parallelize_held_keep_ref(self, log_msg_ref(msg), worker, workers, capacity);
}

gint
parallelize_held_sample(ParallelizeHeldGrowth *self, gsize before, gsize after)
{
  self->samples++;
  if (after > before)
    self->grown++;
  if (self->samples < PARALLELIZE_HELD_SAMPLES)
    return -1;

  gint keeper = -1;
  if (self->grown * 4 > self->samples * 3)
    keeper = PARALLELIZE_HELD_BY_WORKER;
  else if (self->grown * 4 < self->samples)
    keeper = PARALLELIZE_HELD_BY_SOURCE;
  self->samples = self->grown = 0;
  return keeper;
}

void
parallelize_held_release_all(ParallelizeHeld *self)
{
  for (guint w = 0; w < self->workers; w++)
    {
      ParallelizeHeldRing *ring = &self->rings[w];
      while (ring->count)
        {
          log_msg_unref(_pop(self, ring));
          self->at_stop++;
        }
      g_free(ring->slots);
      g_free(ring->sizes);
    }
  g_clear_pointer(&self->rings, g_free);
  self->workers = 0;
}
