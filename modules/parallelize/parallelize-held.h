/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Messages go back to the thread that allocated most of them.
 *
 * A source's thread allocates each message; without parallelize() the
 * destination's writer frees it, often on that same thread.  With workers in
 * between it is another thread, and glibc's malloc() then takes the
 * allocating thread's arena lock for every block freed there, while that
 * thread allocates from the same arena: the two wait on each other (futex
 * storms on a cheap path; docs/parallelize.md, "Where the CPU goes").
 *
 * So the source's thread keeps a reference on each message it hands over and
 * drops it later (every few dozen messages it hands over, and at the end of
 * each fetch), once every other user has dropped theirs: the message is then
 * freed where it was allocated, into that thread's own cache of free blocks,
 * which its next messages reuse.  Only the reference count is read;
 * acknowledgements and flow control are untouched (a message whose other
 * users are done has been acknowledged and holds no window slot).
 *
 * Unless the path after the element makes the message grow (parsers add
 * values, and the message's values are moved to a larger block, allocated
 * on the worker): then most of its memory came from the worker's arena, the
 * source's thread freeing it would contend for that lock instead (a
 * parsing worker allocates all the time), and the worker keeps the
 * reference and frees it.  Each worker samples whether its messages grew
 * (parallelize_held_sample()), and the instance switches between the two
 * with hysteresis.
 *
 * One ring per worker: a worker's messages finish in the order it got them,
 * while two workers finish at their own pace, so a single ring would wait on
 * the slower one with the faster one's finished messages behind it.
 *
 * Bounded, per source thread (or worker) and instance: `capacity` messages and
 * PARALLELIZE_HELD_MAX_BYTES (as allocated when kept).  At either bound, a
 * message still in use is let go as it is (freed by its last user, as
 * before).  After a burst, what the source's last fetch handed over stays
 * allocated until that thread's next fetch, a reload or shutdown; on a
 * worker, what the writer had not finished when the worker ran out of work
 * stays until its next batch.
 */
#ifndef PARALLELIZE_HELD_H_INCLUDED
#define PARALLELIZE_HELD_H_INCLUDED

#include "logmsg/logmsg.h"

#define PARALLELIZE_HELD_MAX_BYTES (64 * 1024 * 1024)

/* the messages handed to one worker, oldest first; grows by doubling */
typedef struct _ParallelizeHeldRing
{
  LogMessage **slots;
  guint *sizes; /* the message's allocated bytes when kept */
  guint size; /* a power of two: positions wrap with a mask */
  guint head;
  guint count;
} ParallelizeHeldRing;

typedef struct _ParallelizeHeld
{
  ParallelizeHeldRing *rings; /* one per worker, allocated on the first message */
  guint workers;
  guint count; /* over all rings */
  gsize bytes;
  guint kept; /* counts to the next look at the oldest */
  gsize freed_home; /* dropped on the keeper's thread, as the last reference */
  gsize let_go; /* still in use at a bound: dropped, freed by its last user */
  gsize at_stop; /* dropped at deinit */
} ParallelizeHeld;

/* who keeps the references, for an instance: what the workers' samples said last */
#define PARALLELIZE_HELD_BY_SOURCE 0
#define PARALLELIZE_HELD_BY_WORKER 1

/* a worker's sample of whether its messages grew along the path after it */
#define PARALLELIZE_HELD_SAMPLES 64
typedef struct _ParallelizeHeldGrowth
{
  guint samples;
  guint grown;
} ParallelizeHeldGrowth;

/* how many messages a source thread keeps: what a few of its fetches hand over */
guint parallelize_held_capacity(gint fetch_limit);

/* on the source's thread, before handing @msg over to @worker (of @workers): keep a reference on it */
void parallelize_held_keep(ParallelizeHeld *self, LogMessage *msg, guint worker, guint workers, guint capacity);
/* the same, with a reference the caller took (on a worker: before passing @msg on) */
void parallelize_held_keep_ref(ParallelizeHeld *self, LogMessage *msg, guint worker, guint workers, guint capacity);
/* a message's allocated bytes before and after the path: returns who should
 * keep the references now (PARALLELIZE_HELD_BY_*), -1 while it is undecided
 * (more than 1/4 and less than 3/4 of a window grew: as it was) */
gint parallelize_held_sample(ParallelizeHeldGrowth *self, gsize before, gsize after);
/* on the keeper's thread: drop the references nobody else shares any more, oldest first per worker */
void parallelize_held_release_done(ParallelizeHeld *self);
/* at deinit, when the workers are done: drop them all, on whichever thread */
void parallelize_held_release_all(ParallelizeHeld *self);

#endif
