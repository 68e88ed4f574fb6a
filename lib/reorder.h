/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The reorder stage behind in-order(): items are held under the ticket (a
 * sequence number, 0, 1, 2 ...) of the work they came from, and released
 * strictly in ticket order: ticket t's items go once t and every ticket
 * before it are done.  A done ticket with no items just lets the next one
 * through (a message a filter dropped never holds the rest back); a ticket
 * with several items (a forked message) releases them in the order they
 * were held.  It knows nothing of syslog-ng; this header is its whole ABI.
 *
 * Threads and roles (any thread may play any role):
 *   - pd_reorder_hold(t, ...) before t is reported done, while the work of
 *     ticket t runs;
 *   - pd_reorder_done() once the work of the tickets is over (each ticket is
 *     reported once);
 *   - releasing: one thread at a time calls the release callback, with no
 *     lock held, in ticket order.  A thread that reports done while another
 *     releases leaves the releasing to that one, which looks again before it
 *     stops, so nothing releasable is left behind.
 *
 * No C++ exception crosses this interface; out of memory aborts.
 */
#ifndef PARALLELIZE_REORDER_H_INCLUDED
#define PARALLELIZE_REORDER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_reorder pd_reorder;

/* an item is passed on: item and target as given to pd_reorder_hold() */
typedef void (*pd_release_fn)(void *user_data, void *item, void *target);
/* optional: the releasing thread is about to let another thread release the
 * next items: whatever its releases left collected on this thread (a host
 * that batches per thread) must move on now, or a later thread's items could
 * overtake them */
typedef void (*pd_released_fn)(void *user_data);

/* tickets start at 0 */
pd_reorder *pd_reorder_new(pd_release_fn release, pd_released_fn released, void *user_data);
/* Only once no thread uses it any more; items still held are not released. */
void pd_reorder_free(pd_reorder *self);

void pd_reorder_hold(pd_reorder *self, uint64_t ticket, void *item, void *target);
void pd_reorder_done(pd_reorder *self, const uint64_t *tickets, size_t count);

/* Both at once, under one lock: a worker collects the holds of a batch and
 * hands them over with the batch's done tickets (the holds first, in the
 * order given; holds come in ticket order, as a worker makes them).  A batch
 * whose first ticket is the oldest one not yet released goes out straight
 * from these arrays, on this thread, before the call returns. */
typedef struct pd_hold
{
  uint64_t ticket;
  void *item;
  void *target;
} pd_hold;
void
pd_reorder_submit(pd_reorder *self, const pd_hold *holds, size_t hold_count, const uint64_t *tickets, size_t count);

/* Shutdown: releases everything still held, in ticket order, done or not;
 * returns how many items that was (0 when every ticket was done). */
size_t pd_reorder_release_all(pd_reorder *self);

/* racy, for counters: items held now, the most held at once, the longest
 * time (microseconds) the oldest unreleased ticket kept held items waiting */
uint64_t pd_reorder_waiting(const pd_reorder *self);
uint64_t pd_reorder_max_waiting(const pd_reorder *self);
uint64_t pd_reorder_longest_head_wait_us(const pd_reorder *self);

#ifdef __cplusplus
}
#endif

#endif
