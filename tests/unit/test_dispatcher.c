/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The dispatch engine through its C ABI: routing, batching, hand-off, draining. */
#include "dispatcher.h"

#ifdef STANDALONE_CRITERION
#include "standalone-criterion.h"
#else
#include <criterion/criterion.h>
#endif
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WORKERS 16
#define MAX_ITEMS (1 << 20)
#define G_N_ELEMENTS_(a) (sizeof(a) / sizeof((a)[0]))

/* What the callbacks saw.  Items are integers: producer << 24 | sequence. */
typedef struct Recorder
{
  pd_dispatcher *dispatcher;
  unsigned workers;
  atomic_uint consumed_per_worker[MAX_WORKERS];
  atomic_uint inline_count;
  atomic_uint wakes;
  /* fetch_done per worker, and how many items that worker had consumed when it came */
  atomic_uint fetch_done[MAX_WORKERS];
  atomic_uint consumed_at_fetch_done[MAX_WORKERS];
  /* the size of every batch handed to consume, in order (single-threaded tests) */
  unsigned batch_sizes[256];
  atomic_uint batch_count;
  atomic_uint queued_count;
  /* taken: per worker, the items it announced, the batches, the last hand-off time, and batches whose
   * hand-off time lay outside [handed_after_ns, the moment taken ran]; idle: per worker */
  atomic_uint taken_items[MAX_WORKERS];
  atomic_uint taken_batches[MAX_WORKERS];
  atomic_uint_fast64_t last_handed_over_ns[MAX_WORKERS];
  uint64_t handed_after_ns;
  atomic_uint taken_time_errors;
  atomic_uint taken_after_consume; /* taken came for a batch whose items were consumed already */
  atomic_uint idle[MAX_WORKERS];
  atomic_uchar seen[MAX_ITEMS]; /* how often each item was delivered */
  /* last sequence seen per (producer, key): for order checks */
  int last_seq[64][64];
  int order_violations;
  pthread_mutex_t order_lock;
  unsigned keys; /* items map to key (seq % keys); 0: no order check */
  /* ordered dispatchers: the ticket each item came with (+1; 0: none yet), how often each ticket came */
  int ordered;
  atomic_uint_fast64_t ticket_plus1[MAX_ITEMS];
  atomic_uchar ticket_seen[MAX_ITEMS];
  atomic_uint ticket_errors; /* tickets missing where ordered, or given where not */
  /* per worker, consumed and inline alike: the last ticket (+1), and how often a lower one followed it
   * (only meaningful with one producer: several take tickets and hand batches over in either order) */
  atomic_uint_fast64_t worker_last_ticket_plus1[MAX_WORKERS];
  atomic_uint worker_ticket_regressions;
  /* threaded mode */
  sem_t wake_sem[MAX_WORKERS];
  atomic_int stop;
  pthread_t threads[MAX_WORKERS];
  unsigned thread_index[MAX_WORKERS];
} Recorder;

static Recorder rec;

#define ITEM(producer, seq) ((void *) (uintptr_t) ((((uintptr_t) (producer)) << 24) | (uintptr_t) (seq) | 0x40000000))
#define ITEM_PRODUCER(item) ((((uintptr_t) (item)) >> 24) & 0x3f)
#define ITEM_SEQ(item) (((uintptr_t) (item)) & 0xffffff)

static void
_record(void *item)
{
  unsigned seq = ITEM_SEQ(item);
  unsigned producer = ITEM_PRODUCER(item);
  atomic_fetch_add(&rec.seen[(producer * 65536 + seq) % MAX_ITEMS], 1);
  if (rec.keys)
    {
      pthread_mutex_lock(&rec.order_lock);
      int *last = &rec.last_seq[producer][seq % rec.keys];
      if ((int) seq <= *last)
        {
          if (!rec.order_violations)
            fprintf(stderr, "order: producer %u key %u: %u after %d\n", producer, seq % rec.keys, seq, *last);
          rec.order_violations++;
        }
      *last = (int) seq;
      pthread_mutex_unlock(&rec.order_lock);
    }
}

static void
_record_ticket(unsigned worker, void *item, int given, uint64_t ticket)
{
  if (!rec.ordered)
    {
      if (given && ticket != 0)
        atomic_fetch_add(&rec.ticket_errors, 1);
      return;
    }
  if (!given || ticket >= MAX_ITEMS)
    {
      atomic_fetch_add(&rec.ticket_errors, 1);
      return;
    }
  atomic_store(&rec.ticket_plus1[(ITEM_PRODUCER(item) * 65536 + ITEM_SEQ(item)) % MAX_ITEMS], ticket + 1);
  atomic_fetch_add(&rec.ticket_seen[ticket], 1);
  if (atomic_exchange(&rec.worker_last_ticket_plus1[worker], ticket + 1) > ticket + 1)
    atomic_fetch_add(&rec.worker_ticket_regressions, 1);
}

static void
_consume(void *user_data, unsigned worker, void *const *items, const uint64_t *tickets, size_t count)
{
  if (!tickets && rec.ordered)
    atomic_fetch_add(&rec.ticket_errors, 1);
  if (tickets && !rec.ordered)
    atomic_fetch_add(&rec.ticket_errors, 1);
  for (size_t i = 0; i < count; i++)
    {
      _record(items[i]);
      _record_ticket(worker, items[i], tickets != NULL, tickets ? tickets[i] : 0);
    }
  atomic_fetch_add(&rec.consumed_per_worker[worker], count);
  unsigned n = atomic_fetch_add(&rec.batch_count, 1);
  if (n < 256)
    rec.batch_sizes[n] = (unsigned) count;
}

static void
_fetch_done(void *user_data, unsigned worker)
{
  atomic_fetch_add(&rec.fetch_done[worker], 1);
  atomic_store(&rec.consumed_at_fetch_done[worker], atomic_load(&rec.consumed_per_worker[worker]));
}

static void
_wake(void *user_data, unsigned worker)
{
  atomic_fetch_add(&rec.wakes, 1);
  if (rec.threads[worker])
    sem_post(&rec.wake_sem[worker]);
}

static void
_deliver_inline(void *user_data, unsigned worker, void *item, uint64_t ticket)
{
  _record(item);
  _record_ticket(worker, item, 1, ticket);
  atomic_fetch_add(&rec.inline_count, 1);
}

static void
_queued(void *user_data, unsigned worker, size_t count)
{
  atomic_fetch_add(&rec.queued_count, count);
}

static void
_taken(void *user_data, unsigned worker, uint64_t handed_over_ns, size_t count)
{
  if (handed_over_ns < rec.handed_after_ns || handed_over_ns > pd_clock_ns())
    atomic_fetch_add(&rec.taken_time_errors, 1);
  /* before its batch is consumed: everything this worker consumed so far was announced before */
  if (atomic_load(&rec.consumed_per_worker[worker]) != atomic_load(&rec.taken_items[worker]))
    atomic_fetch_add(&rec.taken_after_consume, 1);
  atomic_store(&rec.last_handed_over_ns[worker], handed_over_ns);
  atomic_fetch_add(&rec.taken_items[worker], count);
  atomic_fetch_add(&rec.taken_batches[worker], 1);
}

static void
_idle(void *user_data, unsigned worker)
{
  atomic_fetch_add(&rec.idle[worker], 1);
}

/* a dispatcher whose workers say what they take and when they run dry */
static pd_dispatcher *
_new_timed_dispatcher(unsigned workers, unsigned producers, unsigned batch_size)
{
  pd_options options = {.workers = workers, .producers = producers, .batch_size = batch_size};
  pd_callbacks callbacks = {
    .consume = _consume, .wake = _wake, .deliver_inline = _deliver_inline, .taken = _taken, .idle = _idle};
  rec.workers = workers;
  rec.dispatcher = pd_dispatcher_new(&options, &callbacks, &rec);
  cr_assert_not_null(rec.dispatcher);
  return rec.dispatcher;
}

static pd_dispatcher *
_new_bounded_dispatcher(unsigned workers, unsigned producers, unsigned batch_size, unsigned max_queued)
{
  pd_options options = {.workers = workers,
                        .producers = producers,
                        .batch_size = batch_size,
                        .max_queued = max_queued,
                        .ordered = rec.ordered};
  pd_callbacks callbacks = {.consume = _consume,
                            .wake = _wake,
                            .deliver_inline = _deliver_inline,
                            .queued = _queued,
                            .fetch_done = _fetch_done};
  rec.workers = workers;
  rec.dispatcher = pd_dispatcher_new(&options, &callbacks, &rec);
  cr_assert_not_null(rec.dispatcher);
  return rec.dispatcher;
}

static pd_dispatcher *
_new_dispatcher(unsigned workers, unsigned producers, unsigned batch_size)
{
  return _new_bounded_dispatcher(workers, producers, batch_size, 0);
}

static void
_reset(void)
{
  memset(&rec, 0, sizeof(rec));
  memset(rec.last_seq, 0xff, sizeof(rec.last_seq)); /* -1 */
  pthread_mutex_init(&rec.order_lock, NULL);
}

static void
_teardown(void)
{
  if (rec.dispatcher)
    pd_dispatcher_free(rec.dispatcher);
  pthread_mutex_destroy(&rec.order_lock);
}

static unsigned
_total_consumed(void)
{
  unsigned total = 0;
  for (unsigned w = 0; w < rec.workers; w++)
    total += atomic_load(&rec.consumed_per_worker[w]);
  return total;
}

/* threaded workers: sleep on a semaphore until woken, like the glue's ivykis loop */

static void *
_worker_main(void *arg)
{
  unsigned worker = *(unsigned *) arg;
  pd_dispatcher_open(rec.dispatcher, worker);
  for (;;)
    {
      sem_wait(&rec.wake_sem[worker]);
      if (atomic_load(&rec.stop))
        break;
      pd_dispatcher_drain(rec.dispatcher, worker);
    }
  pd_dispatcher_close(rec.dispatcher, worker);
  return NULL;
}

static void
_start_workers(void)
{
  for (unsigned w = 0; w < rec.workers; w++)
    {
      sem_init(&rec.wake_sem[w], 0, 0);
      rec.thread_index[w] = w;
    }
  /* mark every thread present before any can be woken */
  for (unsigned w = 0; w < rec.workers; w++)
    rec.threads[w] = (pthread_t) 1;
  for (unsigned w = 0; w < rec.workers; w++)
    pthread_create(&rec.threads[w], NULL, _worker_main, &rec.thread_index[w]);
}

static void
_stop_workers(void)
{
  atomic_store(&rec.stop, 1);
  for (unsigned w = 0; w < rec.workers; w++)
    sem_post(&rec.wake_sem[w]);
  for (unsigned w = 0; w < rec.workers; w++)
    {
      pthread_join(rec.threads[w], NULL);
      rec.threads[w] = 0;
      sem_destroy(&rec.wake_sem[w]);
    }
}

/* ordered: tickets 0 .. total-1, each once; each producer's tickets rise with its sequence */
static void
_assert_tickets(unsigned producers, unsigned items)
{
  cr_assert_eq(atomic_load(&rec.ticket_errors), 0, "tickets missing, or given without ordering");
  if (!rec.ordered)
    return;
  for (unsigned t = 0; t < producers * items; t++)
    cr_assert_eq(atomic_load(&rec.ticket_seen[t]), 1, "ticket %u came %u times", t, atomic_load(&rec.ticket_seen[t]));
  for (unsigned p = 0; p < producers; p++)
    {
      uint64_t last = 0;
      for (unsigned seq = 0; seq < items; seq++)
        {
          uint64_t t = atomic_load(&rec.ticket_plus1[(p * 65536 + seq) % MAX_ITEMS]);
          cr_assert_gt(t,
                       last,
                       "producer %u: item %u has ticket %llu after %llu",
                       p,
                       seq,
                       (unsigned long long) t - 1,
                       (unsigned long long) last - 1);
          last = t;
        }
    }
}

/* one producer: each item's ticket is exactly the position in which it was added, and the rest of
 * _assert_tickets() */
static void
_assert_tickets_are_positions(unsigned items)
{
  for (unsigned i = 0; i < items; i++)
    cr_assert_eq(atomic_load(&rec.ticket_plus1[i]), i + 1, "item %u", i);
  _assert_tickets(1, items);
}

/* producer 0's end of fetch, then the workers in the mask (bit w: worker w) take what they got */
static void
_flush_and_drain(unsigned worker_mask)
{
  pd_dispatcher_flush(rec.dispatcher, 0);
  for (unsigned w = 0; w < MAX_WORKERS; w++)
    if (worker_mask & (1U << w))
      pd_dispatcher_drain(rec.dispatcher, w);
}

/* producer 0 adds its items from..to-1 for worker 0; with drain_each, the worker takes each at once */
static void
_add_to_worker0(unsigned from, unsigned to, int drain_each)
{
  for (unsigned i = from; i < to; i++)
    {
      pd_dispatcher_add(rec.dispatcher, 0, 0, ITEM(0, i));
      if (drain_each)
        pd_dispatcher_drain(rec.dispatcher, 0);
    }
}

static void
_open_all(unsigned workers)
{
  for (unsigned w = 0; w < workers; w++)
    pd_dispatcher_open(rec.dispatcher, w);
}

static void
_close_all(unsigned workers)
{
  for (unsigned w = 0; w < workers; w++)
    pd_dispatcher_close(rec.dispatcher, w);
}

TestSuite(dispatcher, .init = _reset, .fini = _teardown);

Test(dispatcher, ordered_items_carry_their_arrival_position_as_ticket_to_workers_and_inline)
{
  rec.ordered = 1;
  _new_dispatcher(3, 1, 7);
  pd_dispatcher_open(rec.dispatcher, 0);
  pd_dispatcher_open(rec.dispatcher, 1);
  /* worker 2 never opens: what round-robin gives it is delivered inline, with its ticket */
  unsigned n = 1000;
  for (unsigned i = 0; i < n; i++)
    {
      pd_dispatcher_add(rec.dispatcher, 0, pd_dispatcher_route_next(rec.dispatcher, 0), ITEM(0, i));
      if (i % 50 == 49)
        {
          _flush_and_drain(0x3);
        }
    }
  _flush_and_drain(0x3);
  cr_assert_eq(_total_consumed() + atomic_load(&rec.inline_count), n);
  cr_assert_gt(atomic_load(&rec.inline_count), 0, "worker 2 got nothing: the inline path went untested");
  cr_assert_gt(_total_consumed(), 0);
  _assert_tickets_are_positions(n);
}

Test(dispatcher, ordered_hand_off_and_keyed_routing_also_number_every_item)
{
  rec.ordered = 1;
  _new_dispatcher(4, 1, 5);
  _open_all(4);
  char key[16];
  for (unsigned i = 0; i < 600; i++)
    {
      int len = snprintf(key, sizeof(key), "k%u", i % 13);
      unsigned worker = pd_dispatcher_route_key(rec.dispatcher, key, (size_t) len);
      if (i % 3 == 0)
        pd_dispatcher_hand_off(rec.dispatcher, worker, ITEM(0, i));
      else
        pd_dispatcher_add(rec.dispatcher, 0, worker, ITEM(0, i));
    }
  pd_dispatcher_flush(rec.dispatcher, 0);
  _close_all(4);
  cr_assert_eq(_total_consumed(), 600);
  _assert_tickets_are_positions(600);
}

Test(dispatcher, ordered_round_robin_over_open_workers_numbers_items_in_the_order_they_were_added)
{
  rec.ordered = 1;
  _new_dispatcher(4, 1, 3);
  _open_all(4);
  /* 128 runs of 16: an equal share for each worker; batches of 3, consumed ones reused with new tickets */
  unsigned n = 2048;
  for (unsigned i = 0; i < n; i++)
    {
      pd_dispatcher_add(rec.dispatcher, 0, pd_dispatcher_route_next(rec.dispatcher, 0), ITEM(0, i));
      if (i % 37 == 36)
        pd_dispatcher_flush(rec.dispatcher, 0);
      if (i % 101 == 100)
        pd_dispatcher_drain(rec.dispatcher, (i / 101) % 4);
    }
  pd_dispatcher_flush(rec.dispatcher, 0);
  _close_all(4);
  cr_assert_eq(atomic_load(&rec.inline_count), 0);
  for (unsigned w = 0; w < 4; w++)
    cr_assert_eq(atomic_load(&rec.consumed_per_worker[w]), n / 4, "worker %u", w);
  cr_assert_eq(atomic_load(&rec.worker_ticket_regressions), 0, "a worker got one producer's tickets out of order");
  _assert_tickets_are_positions(n);
}

Test(dispatcher, ordered_tickets_stay_with_their_items_when_a_batch_grows)
{
  rec.ordered = 1;
  /* batch_size 0: a batch starts at 32 items and doubles (tickets moved behind the items) until the flush */
  _new_dispatcher(2, 1, 0);
  pd_dispatcher_open(rec.dispatcher, 0);
  pd_dispatcher_open(rec.dispatcher, 1);
  unsigned n = 3000;
  for (unsigned i = 0; i < n; i++)
    {
      pd_dispatcher_add(rec.dispatcher, 0, (i / 5) % 2, ITEM(0, i));
      if (i % 1000 == 999)
        {
          _flush_and_drain(0x3);
        }
    }
  cr_assert_eq(_total_consumed(), n);
  cr_assert_eq(atomic_load(&rec.worker_ticket_regressions), 0, "a worker got one producer's tickets out of order");
  _assert_tickets_are_positions(n);
}

Test(dispatcher, ordered_items_for_a_closed_worker_go_inline_with_their_position_as_ticket)
{
  rec.ordered = 1;
  _new_dispatcher(3, 1, 4);
  _open_all(3);
  unsigned n = 900;
  unsigned consumed_by_1_before_close = 0;
  for (unsigned i = 0; i < n; i++)
    {
      unsigned worker = pd_dispatcher_route_next(rec.dispatcher, 0);
      /* handed over or added, both go inline to a closed worker (only there: a hand-off to an open worker
       * may overtake the producer's batch for it, and the tickets a worker gets would not rise) */
      if (worker == 1 && i > n / 2 && i % 2 == 0)
        pd_dispatcher_hand_off(rec.dispatcher, worker, ITEM(0, i));
      else
        pd_dispatcher_add(rec.dispatcher, 0, worker, ITEM(0, i));
      if (i == n / 2)
        {
          /* worker 1 goes away half-way: what it had is consumed, what it gets from now on goes inline */
          pd_dispatcher_flush(rec.dispatcher, 0);
          pd_dispatcher_close(rec.dispatcher, 1);
          consumed_by_1_before_close = atomic_load(&rec.consumed_per_worker[1]);
        }
      if (i % 40 == 39)
        {
          _flush_and_drain(0x5);
        }
    }
  pd_dispatcher_flush(rec.dispatcher, 0);
  pd_dispatcher_close(rec.dispatcher, 0);
  pd_dispatcher_close(rec.dispatcher, 2);
  cr_assert_gt(consumed_by_1_before_close, 0);
  cr_assert_eq(atomic_load(&rec.consumed_per_worker[1]), consumed_by_1_before_close, "a closed worker consumed");
  cr_assert_gt(atomic_load(&rec.inline_count), 0, "nothing went inline: the closed path went untested");
  cr_assert_eq(_total_consumed() + atomic_load(&rec.inline_count), n);
  /* worker 1's inline items follow its consumed ones: their tickets go on rising */
  cr_assert_eq(atomic_load(&rec.worker_ticket_regressions),
               0,
               "tickets went back on a worker (on worker 1: inline overtook its queue)");
  _assert_tickets_are_positions(n);
}

Test(dispatcher, without_ordering_there_are_no_tickets)
{
  _new_dispatcher(2, 1, 4);
  pd_dispatcher_open(rec.dispatcher, 0);
  for (unsigned i = 0; i < 100; i++)
    pd_dispatcher_add(rec.dispatcher, 0, pd_dispatcher_route_next(rec.dispatcher, 0), ITEM(0, i));
  pd_dispatcher_flush(rec.dispatcher, 0);
  /* handed over one at a time, to an open worker and to one never opened */
  for (unsigned i = 100; i < 120; i++)
    pd_dispatcher_hand_off(rec.dispatcher, i % 2, ITEM(0, i));
  pd_dispatcher_drain(rec.dispatcher, 0);
  cr_assert_eq(_total_consumed() + atomic_load(&rec.inline_count), 120);
  cr_assert_gt(atomic_load(&rec.inline_count), 0);
  cr_assert_gt(_total_consumed(), 0);
  _assert_tickets(1, 120);
}

Test(dispatcher, rejects_out_of_range_options)
{
  pd_callbacks callbacks = {.consume = _consume, .wake = _wake, .deliver_inline = _deliver_inline};
  pd_options zero_workers = {.workers = 0, .producers = 1, .batch_size = 10};
  pd_options too_many = {.workers = PD_MAX_WORKERS + 1, .producers = 1, .batch_size = 10};
  pd_options huge_batch = {.workers = 1, .producers = 1, .batch_size = PD_MAX_BATCH_SIZE + 1};
  cr_assert_null(pd_dispatcher_new(&zero_workers, &callbacks, NULL));
  cr_assert_null(pd_dispatcher_new(&too_many, &callbacks, NULL));
  cr_assert_null(pd_dispatcher_new(&huge_batch, &callbacks, NULL));
  pd_callbacks no_consume = {.wake = _wake, .deliver_inline = _deliver_inline};
  pd_options fine = {.workers = 1, .producers = 1, .batch_size = 10};
  cr_assert_null(pd_dispatcher_new(&fine, &no_consume, NULL));
}

Test(dispatcher, round_robin_gives_every_worker_an_equal_share)
{
  _new_dispatcher(4, 2, 100);
  unsigned counts[4] = {0};
  unsigned previous = 0, switches = 0;
  for (unsigned i = 0; i < 4096; i++)
    {
      unsigned worker = pd_dispatcher_route_next(rec.dispatcher, 0);
      switches += i > 0 && worker != previous;
      previous = worker;
      counts[worker]++;
    }
  for (unsigned w = 0; w < 4; w++)
    cr_assert_eq(counts[w], 1024, "worker %u got %u", w, counts[w]);
  /* dealt out in runs of 16, so that neighbouring messages stay on one worker */
  cr_assert_eq(switches, 4096 / 16 - 1);

  /* threads without a slot share one counter; still even */
  memset(counts, 0, sizeof(counts));
  for (unsigned i = 0; i < 4000; i++)
    counts[pd_dispatcher_route_next(rec.dispatcher, PD_ANY_PRODUCER)]++;
  for (unsigned w = 0; w < 4; w++)
    cr_assert_eq(counts[w], 1000);
}

Test(dispatcher, round_robin_producers_start_their_runs_at_different_workers)
{
  _new_dispatcher(4, 8, 100);
  unsigned first_of[8];
  for (unsigned p = 0; p < 8; p++)
    first_of[p] = pd_dispatcher_route_next(rec.dispatcher, p);
  /* four producers, four different workers: not all of them piling onto worker 0 */
  for (unsigned p = 0; p < 4; p++)
    for (unsigned q = p + 1; q < 4; q++)
      cr_assert_neq(first_of[p], first_of[q], "producers %u and %u both start at worker %u", p, q, first_of[p]);
  cr_assert_eq(first_of[4], first_of[0]);
}

Test(dispatcher, same_key_always_goes_to_the_same_worker_and_keys_spread)
{
  _new_dispatcher(8, 1, 100);
  unsigned counts[8] = {0};
  char key[32];
  for (unsigned k = 0; k < 8000; k++)
    {
      int len = snprintf(key, sizeof(key), "host-%u", k);
      unsigned worker = pd_dispatcher_route_key(rec.dispatcher, key, len);
      cr_assert_lt(worker, 8);
      for (int again = 0; again < 3; again++)
        cr_assert_eq(pd_dispatcher_route_key(rec.dispatcher, key, len), worker);
      counts[worker]++;
    }
  for (unsigned w = 0; w < 8; w++)
    cr_assert(counts[w] > 800 && counts[w] < 1200, "worker %u got %u of 8000 keys", w, counts[w]);
  /* the empty key is a key like any other */
  cr_assert_eq(pd_dispatcher_route_key(rec.dispatcher, "", 0), pd_dispatcher_route_key(rec.dispatcher, "", 0));
}

Test(dispatcher, nothing_is_handed_over_before_the_producer_flushes)
{
  _new_dispatcher(2, 1, 1000);
  pd_dispatcher_open(rec.dispatcher, 0);
  pd_dispatcher_open(rec.dispatcher, 1);
  for (unsigned i = 0; i < 10; i++)
    pd_dispatcher_add(rec.dispatcher, 0, i % 2, ITEM(0, i));
  cr_assert(pd_dispatcher_has_pending(rec.dispatcher, 0));
  cr_assert_eq(atomic_load(&rec.wakes), 0);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 0), 0);

  pd_dispatcher_flush(rec.dispatcher, 0);
  cr_assert_not(pd_dispatcher_has_pending(rec.dispatcher, 0));
  cr_assert_eq(atomic_load(&rec.wakes), 2, "one wake per worker that got a batch");
  cr_assert_eq(atomic_load(&rec.queued_count), 10);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 0), 5);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 1), 5);
  cr_assert_eq(atomic_load(&rec.inline_count), 0);
}

Test(dispatcher, a_full_batch_is_handed_over_without_waiting_for_the_flush)
{
  _new_dispatcher(1, 1, 8);
  pd_dispatcher_open(rec.dispatcher, 0);
  _add_to_worker0(0, 7, 0);
  cr_assert_eq(atomic_load(&rec.queued_count), 0);
  pd_dispatcher_add(rec.dispatcher, 0, 0, ITEM(0, 7));
  cr_assert_eq(atomic_load(&rec.queued_count), 8, "the 8th item completes a batch");
  cr_assert_eq(atomic_load(&rec.wakes), 1);

  /* a queue that already holds work needs no second wake-up */
  _add_to_worker0(8, 16, 0);
  cr_assert_eq(atomic_load(&rec.wakes), 1);
  pd_dispatcher_add(rec.dispatcher, 0, 0, ITEM(0, 16));
  pd_dispatcher_flush(rec.dispatcher, 0);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 0), 17);
}

Test(dispatcher, an_idle_worker_is_woken_once_and_a_busy_one_not_at_all)
{
  _new_dispatcher(1, 1, 4);
  pd_dispatcher_open(rec.dispatcher, 0);
  _add_to_worker0(0, 4, 0);
  cr_assert_eq(atomic_load(&rec.wakes), 1, "a worker is idle once it opened");
  /* not drained yet: the worker is busy (or about to be), more work wakes nobody */
  _add_to_worker0(4, 30, 0);
  pd_dispatcher_flush(rec.dispatcher, 0);
  cr_assert_eq(atomic_load(&rec.wakes), 1);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 0), 30);
  /* drained to empty: idle again, and the next hand-off wakes it */
  pd_dispatcher_hand_off(rec.dispatcher, 0, ITEM(0, 30));
  cr_assert_eq(atomic_load(&rec.wakes), 2);
  pd_dispatcher_hand_off(rec.dispatcher, 0, ITEM(0, 31));
  cr_assert_eq(atomic_load(&rec.wakes), 2);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 0), 2);
}

Test(dispatcher, a_worker_hears_of_each_batch_before_consuming_it_with_the_time_it_was_handed_over)
{
  _new_timed_dispatcher(2, 1, 10);
  _open_all(2);
  rec.handed_after_ns = pd_clock_ns();
  _add_to_worker0(0, 25, 0);
  pd_dispatcher_hand_off(rec.dispatcher, 1, ITEM(1, 0));
  pd_dispatcher_flush(rec.dispatcher, 0);
  uint64_t handed_before_ns = pd_clock_ns();
  usleep(2000);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 0), 25);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 1), 1);

  /* 10, then 15 (the idle worker's next cut is twice as large); the flush's empty fetch-end batch is
   * no batch to announce */
  cr_assert_eq(atomic_load(&rec.taken_batches[0]), 2);
  cr_assert_eq(atomic_load(&rec.taken_items[0]), 25);
  cr_assert_eq(atomic_load(&rec.batch_count), 3, "every batch consumed was announced once");
  cr_assert_eq(atomic_load(&rec.taken_batches[1]), 1, "a hand-off is a batch of its own");
  cr_assert_eq(atomic_load(&rec.taken_items[1]), 1);
  cr_assert_eq(
    atomic_load(&rec.taken_time_errors), 0, "a hand-off time from before the items came, or later than taken");
  cr_assert_eq(atomic_load(&rec.taken_after_consume), 0);
  for (unsigned w = 0; w < 2; w++)
    {
      uint64_t handed = atomic_load(&rec.last_handed_over_ns[w]);
      cr_assert(handed <= handed_before_ns, "worker %u: handed over after the flush returned", w);
      cr_assert(pd_clock_ns() - handed >= 2000000, "worker %u: the 2 ms the batch waited are not in its time", w);
    }
}

Test(dispatcher, a_worker_that_ran_dry_says_so_once_per_drain_and_not_when_it_found_nothing)
{
  _new_timed_dispatcher(1, 1, 4);
  _open_all(1);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 0), 0);
  cr_assert_eq(atomic_load(&rec.idle[0]), 0, "nothing consumed: no idle spell ended a busy one");
  _add_to_worker0(0, 9, 0);
  pd_dispatcher_flush(rec.dispatcher, 0);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 0), 9);
  cr_assert_eq(atomic_load(&rec.idle[0]), 1, "one drain, three batches: one idle");
  pd_dispatcher_hand_off(rec.dispatcher, 0, ITEM(0, 9));
  cr_assert_eq(pd_dispatcher_close(rec.dispatcher, 0), 1);
  cr_assert_eq(atomic_load(&rec.idle[0]), 2);
}

Test(dispatcher, a_worker_idle_at_every_hand_off_gets_batches_doubling_up_to_sixteen_times_batch_size)
{
  _new_dispatcher(1, 1, 4);
  pd_dispatcher_open(rec.dispatcher, 0);
  /* the worker drains whatever reached it at once: it is idle at each hand-off */
  _add_to_worker0(0, 600, 1);
  unsigned expected[] = {4, 8, 16, 32, 64, 64, 64, 64, 64};
  cr_assert_geq(atomic_load(&rec.batch_count), G_N_ELEMENTS_(expected));
  for (unsigned b = 0; b < G_N_ELEMENTS_(expected); b++)
    cr_assert_eq(rec.batch_sizes[b], expected[b], "batch %u: %u items", b, rec.batch_sizes[b]);
  cr_assert_eq(atomic_load(&rec.wakes), atomic_load(&rec.batch_count), "one wake-up per batch");
}

Test(dispatcher, a_worker_found_busy_gets_batch_size_again)
{
  _new_dispatcher(1, 1, 4);
  pd_dispatcher_open(rec.dispatcher, 0);
  _add_to_worker0(0, 12, 1);
  /* batches of 4 and 8 so far; now the worker stops draining: the batch of 16 still finds it idle, the
   * next one of 32 finds it busy, and from then on it gets batch_size */
  _add_to_worker0(12, 68, 0);
  pd_dispatcher_flush(rec.dispatcher, 0);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 0), 56);
  unsigned expected[] = {4, 8, 16, 32, 4, 4};
  cr_assert_eq(atomic_load(&rec.batch_count), G_N_ELEMENTS_(expected));
  for (unsigned b = 0; b < G_N_ELEMENTS_(expected); b++)
    cr_assert_eq(rec.batch_sizes[b], expected[b], "batch %u: %u items", b, rec.batch_sizes[b]);
}

Test(dispatcher, every_worker_a_fetch_fed_hears_that_it_ended_after_its_items)
{
  _new_dispatcher(3, 1, 4);
  _open_all(3);
  /* worker 0: 4 items, a batch that went at batch_size already; worker 1: 2 items; worker 2: none */
  _add_to_worker0(0, 4, 0);
  for (unsigned i = 4; i < 6; i++)
    pd_dispatcher_add(rec.dispatcher, 0, 1, ITEM(0, i));
  pd_dispatcher_drain(rec.dispatcher, 0);
  cr_assert_eq(atomic_load(&rec.fetch_done[0]), 0, "the fetch has not ended yet");
  pd_dispatcher_flush(rec.dispatcher, 0);
  for (unsigned w = 0; w < 3; w++)
    pd_dispatcher_drain(rec.dispatcher, w);
  cr_assert_eq(atomic_load(&rec.fetch_done[0]), 1);
  cr_assert_eq(atomic_load(&rec.consumed_at_fetch_done[0]), 4);
  cr_assert_eq(atomic_load(&rec.fetch_done[1]), 1);
  cr_assert_eq(atomic_load(&rec.consumed_at_fetch_done[1]), 2);
  cr_assert_eq(atomic_load(&rec.fetch_done[2]), 0, "worker 2 got nothing from this fetch");
  /* a hand-off from a thread that does not batch is a fetch of its own */
  pd_dispatcher_hand_off(rec.dispatcher, 2, ITEM(0, 6));
  pd_dispatcher_drain(rec.dispatcher, 2);
  cr_assert_eq(atomic_load(&rec.fetch_done[2]), 1);
  cr_assert_eq(atomic_load(&rec.consumed_at_fetch_done[2]), 1);
}

Test(dispatcher, batch_size_zero_cuts_only_at_flush_and_grows_as_needed)
{
  _new_dispatcher(1, 1, 0);
  rec.keys = 1;
  pd_dispatcher_open(rec.dispatcher, 0);
  _add_to_worker0(0, 5000, 0);
  cr_assert_eq(atomic_load(&rec.queued_count), 0);
  pd_dispatcher_flush(rec.dispatcher, 0);
  cr_assert_eq(pd_dispatcher_drain(rec.dispatcher, 0), 5000);
  cr_assert_eq(rec.order_violations, 0);
}

Test(dispatcher, a_worker_consumes_in_the_order_items_were_added)
{
  _new_dispatcher(1, 2, 3);
  rec.keys = 1;
  pd_dispatcher_open(rec.dispatcher, 0);
  for (unsigned round = 0; round < 50; round++)
    {
      for (unsigned i = 0; i < 10; i++)
        {
          pd_dispatcher_add(rec.dispatcher, 0, 0, ITEM(0, round * 10 + i));
          pd_dispatcher_add(rec.dispatcher, 1, 0, ITEM(1, round * 10 + i));
        }
      pd_dispatcher_flush(rec.dispatcher, 0);
      if (round % 3 == 0)
        pd_dispatcher_drain(rec.dispatcher, 0);
      pd_dispatcher_flush(rec.dispatcher, 1);
    }
  pd_dispatcher_drain(rec.dispatcher, 0);
  cr_assert_eq(_total_consumed(), 1000);
  cr_assert_eq(rec.order_violations, 0);
}

Test(dispatcher, closing_drains_the_queue_and_later_items_are_delivered_inline_in_order)
{
  _new_dispatcher(2, 1, 4);
  rec.keys = 1;
  pd_dispatcher_open(rec.dispatcher, 0);
  pd_dispatcher_open(rec.dispatcher, 1);
  _add_to_worker0(0, 10, 0);
  pd_dispatcher_flush(rec.dispatcher, 0);

  cr_assert_eq(pd_dispatcher_close(rec.dispatcher, 0), 10, "close consumes what was queued");
  pd_dispatcher_add(rec.dispatcher, 0, 0, ITEM(0, 10));
  pd_dispatcher_hand_off(rec.dispatcher, 0, ITEM(0, 11));
  cr_assert_eq(atomic_load(&rec.inline_count), 2);
  cr_assert_not(pd_dispatcher_has_pending(rec.dispatcher, 0));

  /* the other worker is still open */
  pd_dispatcher_hand_off(rec.dispatcher, 1, ITEM(0, 12));
  cr_assert_eq(atomic_load(&rec.inline_count), 2);
  cr_assert_eq(pd_dispatcher_close(rec.dispatcher, 1), 1);
  cr_assert_eq(rec.order_violations, 0);
}

Test(dispatcher, before_a_worker_opens_everything_is_delivered_inline)
{
  _new_dispatcher(2, 1, 4);
  pd_dispatcher_add(rec.dispatcher, 0, 1, ITEM(0, 1));
  pd_dispatcher_hand_off(rec.dispatcher, 1, ITEM(0, 2));
  pd_dispatcher_flush(rec.dispatcher, 0);
  cr_assert_eq(atomic_load(&rec.inline_count), 2);
  cr_assert_eq(atomic_load(&rec.wakes), 0);
}

/* Bounded run-ahead: a producer that got too far ahead of a worker waits in flush. */

typedef struct FlushArgs
{
  unsigned items;
  atomic_int returned;
  int64_t queued_at_return;
} FlushArgs;

static void *
_fill_and_flush(void *arg)
{
  FlushArgs *args = arg;
  for (unsigned i = 0; i < args->items; i++)
    pd_dispatcher_add(rec.dispatcher, 0, 0, ITEM(0, i));
  pd_dispatcher_flush(rec.dispatcher, 0);
  args->queued_at_return = pd_dispatcher_queued(rec.dispatcher, 0);
  atomic_store(&args->returned, 1);
  return NULL;
}

/* a producer that hands 100 items to one worker (mark 40, batches of 10) and, nobody draining, is stuck */
static pthread_t
_start_stuck_producer(FlushArgs *args)
{
  _new_bounded_dispatcher(1, 1, 10, 40);
  pd_dispatcher_open(rec.dispatcher, 0);
  args->items = 100;
  pthread_t producer;
  pthread_create(&producer, NULL, _fill_and_flush, args);
  usleep(100 * 1000);
  cr_assert_eq(atomic_load(&args->returned), 0, "flush returned with 100 queued over a mark of 40");
  cr_assert_eq(pd_dispatcher_queued(rec.dispatcher, 0), 100);
  return producer;
}

/* consume slowly, a batch at a time, as a busy worker would, until the producer's flush returns */
static void
_drain_slowly_until(atomic_int *returned, unsigned worker)
{
  while (!atomic_load(returned))
    {
      pd_dispatcher_drain(rec.dispatcher, worker);
      usleep(1000);
    }
}

Test(dispatcher, a_producer_far_ahead_of_its_worker_waits_in_flush_until_half_is_consumed)
{
  FlushArgs args = {0};
  pthread_t producer = _start_stuck_producer(&args);

  _drain_slowly_until(&args.returned, 0);
  pthread_join(producer, NULL);
  cr_assert_leq(
    args.queued_at_return, 20, "released above the low-water mark: %lld", (long long) args.queued_at_return);
  cr_assert_eq(_total_consumed(), 100);
}

static atomic_int wait_permits, waits_begun, waits_ended;

static int
_begin_wait(void *user_data)
{
  atomic_fetch_add(&waits_begun, 1);
  return atomic_load(&wait_permits);
}

static void
_end_wait(void *user_data)
{
  atomic_fetch_add(&waits_ended, 1);
}

static void
_new_dispatcher_asking_to_wait(int permit)
{
  atomic_store(&wait_permits, permit);
  atomic_store(&waits_begun, 0);
  atomic_store(&waits_ended, 0);
  pd_options options = {.workers = 1, .producers = 1, .batch_size = 10, .max_queued = 40};
  pd_callbacks callbacks = {.consume = _consume,
                            .wake = _wake,
                            .deliver_inline = _deliver_inline,
                            .begin_wait = _begin_wait,
                            .end_wait = _end_wait};
  rec.workers = 1;
  rec.dispatcher = pd_dispatcher_new(&options, &callbacks, &rec);
  cr_assert_not_null(rec.dispatcher);
  pd_dispatcher_open(rec.dispatcher, 0);
}

Test(dispatcher, a_producer_refused_the_wait_goes_on_at_once)
{
  _new_dispatcher_asking_to_wait(0);
  FlushArgs args = {.items = 100};
  _fill_and_flush(&args); /* on this thread: would hang here if it waited */
  cr_assert_eq(args.queued_at_return, 100);
  cr_assert_eq(atomic_load(&waits_begun), 1);
  cr_assert_eq(atomic_load(&waits_ended), 0);
  pd_dispatcher_drain(rec.dispatcher, 0);
  cr_assert_eq(_total_consumed(), 100);
}

Test(dispatcher, a_producer_allowed_the_wait_waits_and_says_when_it_is_over)
{
  _new_dispatcher_asking_to_wait(1);
  FlushArgs args = {.items = 100};
  pthread_t producer;
  pthread_create(&producer, NULL, _fill_and_flush, &args);
  usleep(100 * 1000);
  cr_assert_eq(atomic_load(&args.returned), 0, "flush returned with 100 queued over a mark of 40");
  cr_assert_eq(atomic_load(&waits_ended), 0);
  _drain_slowly_until(&args.returned, 0);
  pthread_join(producer, NULL);
  cr_assert_eq(atomic_load(&waits_begun), 1);
  cr_assert_eq(atomic_load(&waits_ended), 1);
  cr_assert_eq(_total_consumed(), 100);
}

Test(dispatcher, a_producer_within_the_mark_never_waits)
{
  _new_bounded_dispatcher(1, 1, 10, 40);
  pd_dispatcher_open(rec.dispatcher, 0);
  FlushArgs args = {.items = 40};
  _fill_and_flush(&args);
  cr_assert_eq(atomic_load(&args.returned), 1);
  cr_assert_eq(pd_dispatcher_queued(rec.dispatcher, 0), 40);
}

typedef struct SkewArgs
{
  unsigned to_busy, to_idle;
  atomic_int returned;
} SkewArgs;

static void *
_feed_skewed(void *arg)
{
  SkewArgs *args = arg;
  for (unsigned i = 0; i < args->to_busy; i++)
    pd_dispatcher_add(rec.dispatcher, 0, 0, ITEM(0, i));
  for (unsigned i = 0; i < args->to_idle; i++)
    pd_dispatcher_add(rec.dispatcher, 0, 1, ITEM(0, args->to_busy + i));
  pd_dispatcher_flush(rec.dispatcher, 0);
  atomic_store(&args->returned, 1);
  return NULL;
}

Test(dispatcher, with_a_skewed_key_a_producer_goes_on_while_another_worker_runs_dry_up_to_the_hard_mark)
{
  /* mark 40: low-water 20, hard mark 160 */
  _new_bounded_dispatcher(2, 1, 10, 40);
  pd_dispatcher_open(rec.dispatcher, 0);
  pd_dispatcher_open(rec.dispatcher, 1);

  /* worker 0 gets 100 (over the mark), worker 1 only 5: it needs work, so no waiting */
  SkewArgs first = {.to_busy = 100, .to_idle = 5};
  _feed_skewed(&first);
  cr_assert_eq(atomic_load(&first.returned), 1);

  /* 100 more for worker 0 puts it at 200, over the hard mark: now the producer waits for it */
  SkewArgs second = {.to_busy = 100, .to_idle = 0};
  pthread_t producer;
  pthread_create(&producer, NULL, _feed_skewed, &second);
  usleep(100 * 1000);
  cr_assert_eq(atomic_load(&second.returned), 0, "a worker was left above the hard mark");
  _drain_slowly_until(&second.returned, 0);
  pthread_join(producer, NULL);
  pd_dispatcher_drain(rec.dispatcher, 0);
  pd_dispatcher_drain(rec.dispatcher, 1);
  cr_assert_eq(_total_consumed(), 205);
}

Test(dispatcher, closing_the_worker_releases_a_waiting_producer)
{
  FlushArgs args = {0};
  pthread_t producer = _start_stuck_producer(&args);
  cr_assert_eq(pd_dispatcher_close(rec.dispatcher, 0), 100);
  pthread_join(producer, NULL);
  cr_assert_eq(atomic_load(&args.returned), 1);
}

/* Many producers, many workers, random settings: every item exactly once, per-key order kept. */

typedef struct ProducerArgs
{
  unsigned index;
  unsigned items;
  unsigned flush_every;
  int batching;
  unsigned seed;
  pthread_barrier_t *start; /* if set: all producers start together, to contend from the first item */
} ProducerArgs;

static void *
_producer_main(void *arg)
{
  ProducerArgs *args = arg;
  char key[16];
  if (args->start)
    pthread_barrier_wait(args->start);
  for (unsigned seq = 0; seq < args->items; seq++)
    {
      /* key = seq % keys: the same key always lands on the same worker */
      int len = snprintf(key, sizeof(key), "k%u", seq % rec.keys);
      unsigned worker = pd_dispatcher_route_key(rec.dispatcher, key, len);
      if (args->batching)
        {
          pd_dispatcher_add(rec.dispatcher, args->index, worker, ITEM(args->index, seq));
          if (rand_r(&args->seed) % args->flush_every == 0)
            pd_dispatcher_flush(rec.dispatcher, args->index);
        }
      else
        pd_dispatcher_hand_off(rec.dispatcher, worker, ITEM(args->index, seq));
    }
  pd_dispatcher_flush(rec.dispatcher, args->index);
  return NULL;
}

static void
_run_random_round(unsigned seed)
{
  _reset();
  unsigned workers = 1 + seed % 6;
  unsigned producers = 1 + (seed / 7) % 5;
  unsigned batch_size = (seed % 5 == 0) ? 0 : 1 + (seed * 13) % 64;
  unsigned items = 200 + (seed * 31) % 800;
  rec.keys = 1 + seed % 9;
  /* every third round with tickets (in-order() after parallelize()) */
  rec.ordered = seed % 3 == 0;
  /* every other round, producers may have to wait for their workers */
  _new_bounded_dispatcher(workers, producers, batch_size, seed % 2 ? 16 + seed % 50 : 0);
  _start_workers();

  pthread_t threads[8];
  ProducerArgs args[8];
  for (unsigned p = 0; p < producers; p++)
    {
      args[p] = (ProducerArgs){.index = p,
                               .items = items,
                               .flush_every = 1 + (seed + p) % 40,
                               .batching = (p + seed) % 3 != 0,
                               .seed = seed * 101 + p};
      pthread_create(&threads[p], NULL, _producer_main, &args[p]);
    }
  /* in some rounds, stop the workers while producers still run: the rest goes inline */
  int early_stop = seed % 4 == 0;
  if (early_stop)
    _stop_workers();
  for (unsigned p = 0; p < producers; p++)
    pthread_join(threads[p], NULL);
  if (!early_stop)
    _stop_workers();

  unsigned delivered = _total_consumed() + atomic_load(&rec.inline_count);
  cr_assert_eq(delivered, producers * items, "seed %u: %u delivered of %u", seed, delivered, producers * items);
  for (unsigned p = 0; p < producers; p++)
    for (unsigned seq = 0; seq < items; seq++)
      cr_assert_eq(atomic_load(&rec.seen[(p * 65536 + seq) % MAX_ITEMS]),
                   1,
                   "seed %u: item %u/%u seen %u times",
                   seed,
                   p,
                   seq,
                   atomic_load(&rec.seen[(p * 65536 + seq) % MAX_ITEMS]));
  cr_assert_eq(rec.order_violations, 0, "seed %u: per-key order broken", seed);
  _assert_tickets(producers, items);
  pd_dispatcher_free(rec.dispatcher);
  rec.dispatcher = NULL;
  pthread_mutex_destroy(&rec.order_lock);
}

Test(dispatcher, exactly_once_and_in_key_order_with_many_producers_and_workers, .timeout = 600)
{
  unsigned rounds = getenv("DISPATCHER_ROUNDS") ? (unsigned) atoi(getenv("DISPATCHER_ROUNDS")) : 2000;
  unsigned first = getenv("DISPATCHER_SEED") ? (unsigned) atoi(getenv("DISPATCHER_SEED")) : 1;
  for (unsigned seed = first; seed < first + rounds; seed++)
    _run_random_round(seed);
}

/* ordered, producers on threads of their own started together: three batching, flushing at different
 * paces, and one handing items over one at a time */
static void
_run_ordered_producers_round(unsigned round)
{
  _reset();
  rec.ordered = 1;
  rec.keys = 7;
  _new_dispatcher(3, 4, 8);
  _start_workers();
  unsigned producers = 4, items = 10000;
  pthread_t threads[4];
  ProducerArgs args[4];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, producers);
  for (unsigned p = 0; p < producers; p++)
    {
      args[p] = (ProducerArgs){.index = p,
                               .items = items,
                               .flush_every = 3 + p * 11,
                               .batching = p != 3,
                               .seed = round * 101 + p,
                               .start = &start};
      pthread_create(&threads[p], NULL, _producer_main, &args[p]);
    }
  for (unsigned p = 0; p < producers; p++)
    pthread_join(threads[p], NULL);
  pthread_barrier_destroy(&start);
  _stop_workers();
  cr_assert_eq(_total_consumed() + atomic_load(&rec.inline_count), producers * items, "round %u", round);
  for (unsigned p = 0; p < producers; p++)
    for (unsigned seq = 0; seq < items; seq++)
      cr_assert_eq(atomic_load(&rec.seen[p * 65536 + seq]), 1, "round %u: item %u/%u", round, p, seq);
  cr_assert_eq(rec.order_violations, 0, "round %u", round);
  /* tickets 0 .. 4 * items - 1, each once, and each producer's rising in the order it added its items */
  _assert_tickets(producers, items);
  pd_dispatcher_free(rec.dispatcher);
  rec.dispatcher = NULL;
  pthread_mutex_destroy(&rec.order_lock);
}

/* several rounds: two producers taking a ticket at the same instant is what breaks a ticket counter */
Test(dispatcher, ordered_tickets_from_many_producer_threads_are_unique_and_rise_per_producer)
{
  for (unsigned round = 0; round < 10; round++)
    _run_ordered_producers_round(round);
}
