/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dispatch engine of parallelize(): spreads opaque items from producer
 * threads over N workers, in batches, and drains each worker's queue on its
 * own thread.  It knows nothing of syslog-ng; this header is its whole ABI.
 *
 * Threads and roles:
 *   - A *batching producer* owns one producer slot (0 .. producers-1): only
 *     that thread calls pd_dispatcher_add()/pd_dispatcher_flush() with it.
 *     Items are collected per worker and handed over at flush time, or when
 *     a worker's batch reaches batch_size.  The flush also tells each worker
 *     it gave items to that they end a fetch (fetch_done), so a worker can
 *     pass what it made of them on in chunks as large as the producer's,
 *     not one per hand-off.
 *   - Any other thread hands items over one at a time with
 *     pd_dispatcher_hand_off().
 *   - Worker w's thread calls pd_dispatcher_open(w), then
 *     pd_dispatcher_drain(w) whenever its wake callback fired, and finally
 *     pd_dispatcher_close(w).  Close waits until no producer is half-way
 *     through a batch for w (at most until that producer's next flush),
 *     consumes everything queued, and returns.  A worker not yet opened or
 *     closed accepts nothing: items handed to it go to deliver_inline on the
 *     handing thread, after everything it had queued was consumed, so the
 *     order of each producer's items per worker is kept.
 *
 * Ordered (pd_options.ordered): every item gets a ticket when it is added or
 * handed over, a sequence number per dispatcher in the order items arrive
 * (0, 1, 2 ...; one atomic increment per item), and consume and
 * deliver_inline get the tickets with the items (see reorder.h, which
 * restores that order).  Without ordering, tickets are NULL / 0.
 *
 * No C++ exception crosses this interface.
 */
#ifndef PARALLELIZE_DISPATCHER_H_INCLUDED
#define PARALLELIZE_DISPATCHER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pd_dispatcher pd_dispatcher;

/* Upper bounds of the configuration, checked by pd_dispatcher_new(). */
#define PD_MAX_WORKERS 256
#define PD_MAX_PRODUCERS 256
#define PD_MAX_BATCH_SIZE 1000000
#define PD_MAX_QUEUED 100000000

typedef struct pd_callbacks
{
  /* worker thread: a batch of items, in the order they were added, and
   * their tickets (NULL unless ordered) */
  void (*consume)(void *user_data, unsigned worker, void *const *items, const uint64_t *tickets, size_t count);
  /* any thread: the worker is idle (it found its queue empty and sleeps, or is
   * about to) and has work now: wake it up.  Once per idle spell: a busy
   * worker is never woken, it finds the work before it sleeps. */
  void (*wake)(void *user_data, unsigned worker);
  /* handing thread: worker is closed, deliver this item yourself (ticket: 0 unless ordered) */
  void (*deliver_inline)(void *user_data, unsigned worker, void *item, uint64_t ticket);
  /* worker thread, optional: the items consumed before this complete a batching
   * producer's flush (or a hand-off): what the worker collected from them may go on */
  void (*fetch_done)(void *user_data, unsigned worker);
  /* handing thread, optional: count items were queued for worker */
  void (*queued)(void *user_data, unsigned worker, size_t count);
  /* batching producer's thread, optional: it ran ahead (see max_queued) and
   * would wait; nonzero lets it, and end_wait follows the wait.  Without
   * these, a producer that ran ahead always waits. */
  int (*begin_wait)(void *user_data);
  void (*end_wait)(void *user_data);
  /* worker thread, optional: a batch of count items, handed over at
   * handed_over_ns (pd_clock_ns()), is about to be consumed.  With it, the
   * engine reads the clock once per hand-off (per batch, never per item). */
  void (*taken)(void *user_data, unsigned worker, uint64_t handed_over_ns, size_t count);
  /* worker thread, optional: the worker consumed items and found its queue
   * empty: drain returns (and the worker sleeps) next */
  void (*idle)(void *user_data, unsigned worker);
} pd_callbacks;

typedef struct pd_options
{
  unsigned workers; /* 1 .. PD_MAX_WORKERS */
  unsigned producers; /* batching producer slots, 0 .. PD_MAX_PRODUCERS */
  /* most items in one hand-off to a worker that is busy; one that was idle at
   * the last hand-off is handed up to 16 times as many (doubling while it
   * stays idle: it keeps up, and fewer wake-ups cost less); 0: no limit */
  unsigned batch_size;
  /* Per worker: once more items than this wait for a worker it fed, a
   * batching producer waits in pd_dispatcher_flush() until some worker is
   * down to half of it and none it fed is above four times it (or a worker
   * closes).  0: producers never wait. */
  unsigned max_queued;
  int ordered; /* nonzero: every item gets a ticket (see above) */
} pd_options;

/* NULL if an option is out of range.  The engine aborts when memory runs out,
 * as its host does: no fallback could keep the order of a key. */
pd_dispatcher *pd_dispatcher_new(const pd_options *options, const pd_callbacks *callbacks, void *user_data);
/* Only once no thread uses it any more; items still queued are not consumed. */
void pd_dispatcher_free(pd_dispatcher *self);

/* Routing: a worker for a key (same key, same worker), or the next worker in
 * round-robin order for a producer slot (runs of 16 items to one worker; each
 * slot starts at a different worker), or for any thread (item by item, with
 * PD_ANY_PRODUCER). */
#define PD_ANY_PRODUCER UINT32_MAX
unsigned pd_dispatcher_route_key(const pd_dispatcher *self, const void *key, size_t key_len);
unsigned pd_dispatcher_route_next(pd_dispatcher *self, unsigned producer);

/* Batching producer: collect item for worker; flush hands every collected
 * batch of this producer over (and may wait: see max_queued). */
void pd_dispatcher_add(pd_dispatcher *self, unsigned producer, unsigned worker, void *item);
void pd_dispatcher_flush(pd_dispatcher *self, unsigned producer);
/* Returns nonzero if the producer holds items not yet handed over. */
int pd_dispatcher_has_pending(const pd_dispatcher *self, unsigned producer);

/* Any thread: hand one item over at once. */
void pd_dispatcher_hand_off(pd_dispatcher *self, unsigned worker, void *item);

/* Worker side. drain and close return the number of items consumed. */
void pd_dispatcher_open(pd_dispatcher *self, unsigned worker);
size_t pd_dispatcher_drain(pd_dispatcher *self, unsigned worker);
size_t pd_dispatcher_close(pd_dispatcher *self, unsigned worker);

/* Items handed over to a worker and not yet consumed (racy: for diagnostics and tests). */
int64_t pd_dispatcher_queued(const pd_dispatcher *self, unsigned worker);

/* The clock of taken's timestamps: monotonic nanoseconds (CLOCK_MONOTONIC on Linux). */
uint64_t pd_clock_ns(void);

#ifdef __cplusplus
}
#endif

#endif
