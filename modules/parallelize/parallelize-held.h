/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Messages go back to the thread that allocated them.
 *
 * A source's thread allocates each message; without parallelize() the
 * destination's writer frees it, often on that same thread.  With workers in
 * between it is another thread, and glibc's malloc() then takes the
 * allocating thread's arena lock for every block freed there, while that
 * thread allocates from the same arena: the two wait on each other (futex
 * storms on a cheap path; docs/parallelize.md, "Where the CPU goes").
 *
 * So the source's thread keeps a reference on each message it hands over and
 * drops it at the end of a later fetch, once every other user has dropped
 * theirs: the message is then freed where it was allocated, into that
 * thread's own cache of free blocks, which its next messages reuse.  Only
 * the reference count is read; acknowledgements and flow control are
 * untouched (a held message has been acknowledged and holds no window slot).
 *
 * Bounded: at most `capacity` messages and PARALLELIZE_HELD_MAX_BYTES of them
 * per source thread and instance.  When either is reached and the oldest is
 * still in use, it is let go as it is (freed by its last user, as before).
 * After a burst, what the last fetches handed over stays allocated until that
 * thread's next fetch, a reload or shutdown.
 */
#ifndef PARALLELIZE_HELD_H_INCLUDED
#define PARALLELIZE_HELD_H_INCLUDED

#include "logmsg/logmsg.h"

#define PARALLELIZE_HELD_MAX_BYTES (64 * 1024 * 1024)

typedef struct _ParallelizeHeld
{
  LogMessage **ring; /* allocated on the first message */
  guint *sizes; /* the message's allocated bytes when kept */
  guint capacity;
  guint head; /* oldest */
  guint count;
  gsize bytes;
  gsize freed_home; /* dropped on the source's thread, as the last reference */
  gsize let_go; /* still in use when the ring was full: dropped, freed by its last user */
  gsize at_stop; /* dropped at deinit */
} ParallelizeHeld;

/* how many messages a source thread keeps: what a few of its fetches hand over */
guint parallelize_held_capacity(gint fetch_limit);

/* on the source's thread, before handing @msg over: keep a reference on it */
void parallelize_held_keep(ParallelizeHeld *self, LogMessage *msg, guint capacity);
/* on the source's thread: drop the references nobody else shares any more, oldest first */
void parallelize_held_release_done(ParallelizeHeld *self);
/* at deinit, when the workers are done: drop them all, on whichever thread */
void parallelize_held_release_all(ParallelizeHeld *self);

#endif
