/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The reorder stage through its C ABI: strict ticket order, drops, forks, many threads. */
#include "reorder.h"

#ifdef STANDALONE_CRITERION
#include "standalone-criterion.h"
#else
#include <criterion/criterion.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RELEASED (1 << 20)

static uintptr_t released[MAX_RELEASED];
static atomic_size_t released_count;
static atomic_int releasing_now;
static atomic_int concurrent_releases;
/* what a host that batches per thread would see: a thread releasing while
 * the thread that released before it still holds items it never flushed */
static _Thread_local char thread_marker;
static atomic_uintptr_t last_releaser;
static atomic_size_t unflushed;
static atomic_int overtaken;

static void
_released(void *user_data)
{
  atomic_store(&unflushed, 0);
}

static void
_release(void *user_data, void *item, void *target)
{
  if (atomic_fetch_add(&releasing_now, 1) != 0)
    atomic_fetch_add(&concurrent_releases, 1);
  uintptr_t me = (uintptr_t) &thread_marker;
  if (atomic_exchange(&last_releaser, me) != me && atomic_load(&unflushed) != 0)
    atomic_fetch_add(&overtaken, 1);
  atomic_fetch_add(&unflushed, 1);
  size_t i = atomic_fetch_add(&released_count, 1);
  if (i < MAX_RELEASED)
    released[i] = (uintptr_t) item;
  cr_assert_eq((uintptr_t) target, 7, "the target travels with the item");
  atomic_fetch_sub(&releasing_now, 1);
}

static void
_reset(void)
{
  atomic_store(&released_count, 0);
  atomic_store(&concurrent_releases, 0);
  atomic_store(&last_releaser, 0);
  atomic_store(&unflushed, 0);
  atomic_store(&overtaken, 0);
}

TestSuite(reorder, .init = _reset);

#define ITEM(n) ((void *) (uintptr_t) (n))
#define TARGET ((void *) (uintptr_t) 7)

static void
_done1(pd_reorder *r, uint64_t t)
{
  pd_reorder_done(r, &t, 1);
}

Test(reorder, items_wait_for_every_earlier_ticket)
{
  pd_reorder *r = pd_reorder_new(_release, NULL, NULL);
  pd_reorder_hold(r, 2, ITEM(102), TARGET);
  _done1(r, 2);
  pd_reorder_hold(r, 1, ITEM(101), TARGET);
  _done1(r, 1);
  cr_assert_eq(atomic_load(&released_count), 0, "ticket 0 is not done");
  cr_assert_eq(pd_reorder_waiting(r), 2);
  pd_reorder_hold(r, 0, ITEM(100), TARGET);
  cr_assert_eq(atomic_load(&released_count), 0, "held, not yet done");
  _done1(r, 0);
  cr_assert_eq(atomic_load(&released_count), 3);
  cr_assert(released[0] == 100 && released[1] == 101 && released[2] == 102);
  cr_assert_eq(pd_reorder_waiting(r), 0);
  cr_assert_eq(pd_reorder_max_waiting(r), 3);
  pd_reorder_free(r);
}

Test(reorder, a_dropped_ticket_lets_the_next_through_and_a_fork_keeps_its_hold_order)
{
  pd_reorder *r = pd_reorder_new(_release, NULL, NULL);
  pd_reorder_hold(r, 1, ITEM(11), TARGET);
  pd_reorder_hold(r, 1, ITEM(12), TARGET);
  pd_reorder_hold(r, 1, ITEM(13), TARGET);
  uint64_t both[] = {1, 0}; /* 0: dropped, nothing held */
  pd_reorder_done(r, both, 2);
  cr_assert_eq(atomic_load(&released_count), 3);
  cr_assert(released[0] == 11 && released[1] == 12 && released[2] == 13);
  pd_reorder_free(r);
}

Test(reorder, a_batch_submitted_at_once_holds_before_it_marks_done)
{
  pd_reorder *r = pd_reorder_new(_release, NULL, NULL);
  /* a worker's batch of tickets 1..3: 2 dropped, 3 forked; ticket 0 is another worker's */
  pd_hold holds[] = {{1, ITEM(11), TARGET}, {3, ITEM(31), TARGET}, {3, ITEM(32), TARGET}};
  uint64_t tickets[] = {1, 2, 3};
  pd_reorder_submit(r, holds, 3, tickets, 3);
  cr_assert_eq(atomic_load(&released_count), 0, "ticket 0 is not done");
  cr_assert_eq(pd_reorder_waiting(r), 3);
  pd_hold first = {0, ITEM(1), TARGET};
  uint64_t zero = 0;
  pd_reorder_submit(r, &first, 1, &zero, 1);
  cr_assert_eq(atomic_load(&released_count), 4);
  cr_assert(released[0] == 1 && released[1] == 11 && released[2] == 31 && released[3] == 32);
  cr_assert_eq(pd_reorder_waiting(r), 0);
  pd_reorder_free(r);
}

Test(reorder, a_batch_of_one_hold_per_ticket_keeps_the_order_and_earlier_holds)
{
  pd_reorder *r = pd_reorder_new(_release, NULL, NULL);
  pd_reorder_hold(r, 2, ITEM(20), TARGET); /* held at once on another thread, before the batch */
  /* a worker's round-robin runs leave gaps: 1, 2, then 4 (ticket 3 is another worker's) */
  pd_hold holds[] = {{1, ITEM(10), TARGET}, {2, ITEM(21), TARGET}, {4, ITEM(40), TARGET}};
  uint64_t tickets[] = {1, 2, 4};
  pd_reorder_submit(r, holds, 3, tickets, 3);
  cr_assert_eq(atomic_load(&released_count), 0, "ticket 0 is not done");
  cr_assert_eq(pd_reorder_waiting(r), 4);
  pd_hold first = {0, ITEM(1), TARGET};
  uint64_t zero = 0;
  pd_reorder_submit(r, &first, 1, &zero, 1);
  cr_assert_eq(atomic_load(&released_count), 4, "ticket 3 is not done");
  cr_assert(released[0] == 1 && released[1] == 10 && released[2] == 20 && released[3] == 21);
  pd_hold third = {3, ITEM(30), TARGET};
  uint64_t three = 3;
  pd_reorder_submit(r, &third, 1, &three, 1);
  cr_assert_eq(atomic_load(&released_count), 6);
  cr_assert(released[4] == 30 && released[5] == 40);
  cr_assert_eq(pd_reorder_waiting(r), 0);
  pd_reorder_free(r);
}

Test(reorder, release_all_passes_on_what_is_left_in_ticket_order)
{
  pd_reorder *r = pd_reorder_new(_release, NULL, NULL);
  pd_reorder_hold(r, 5000, ITEM(3), TARGET); /* far ahead: the ring grows */
  pd_reorder_hold(r, 3, ITEM(2), TARGET);
  pd_reorder_hold(r, 1, ITEM(1), TARGET);
  _done1(r, 3);
  cr_assert_eq(pd_reorder_release_all(r), 3);
  cr_assert(released[0] == 1 && released[1] == 2 && released[2] == 3);
  cr_assert_eq(pd_reorder_release_all(r), 0);
  pd_reorder_free(r);
}

/* Threads take tickets from one counter, hold 0, 1 or 2 items for each (a
 * drop, a message, a fork), sleep at random, and report done in batches: what
 * comes out must be every held item exactly once, in ticket order. */
#define STRESS_THREADS 6
#define STRESS_TICKETS 200000
#define STRESS_BATCH 37

static pd_reorder *stress_stage;
static atomic_uint_fast64_t next_ticket;

static unsigned
_holds_for(uint64_t t)
{
  return (unsigned) ((t * 2654435761u) >> 7) % 3;
}

static void *
_stress_thread(void *arg)
{
  unsigned seed = (unsigned) (uintptr_t) arg;
  uint64_t batch[STRESS_BATCH];
  for (;;)
    {
      size_t n = 0;
      while (n < STRESS_BATCH)
        {
          uint64_t t = atomic_fetch_add(&next_ticket, 1);
          if (t >= STRESS_TICKETS)
            break;
          for (unsigned h = 0; h < _holds_for(t); h++)
            pd_reorder_hold(stress_stage, t, ITEM(t * 2 + h + 1), TARGET);
          batch[n++] = t;
          if (rand_r(&seed) % 512 == 0)
            usleep(rand_r(&seed) % 200);
        }
      if (n)
        pd_reorder_done(stress_stage, batch, n);
      if (n < STRESS_BATCH)
        return NULL;
    }
}

Test(reorder, many_threads_release_every_item_once_in_ticket_order)
{
  stress_stage = pd_reorder_new(_release, _released, NULL);
  atomic_store(&next_ticket, 0);
  pthread_t threads[STRESS_THREADS];
  for (uintptr_t i = 0; i < STRESS_THREADS; i++)
    pthread_create(&threads[i], NULL, _stress_thread, (void *) (i + 1));
  for (int i = 0; i < STRESS_THREADS; i++)
    pthread_join(threads[i], NULL);

  size_t expected = 0;
  for (uint64_t t = 0; t < STRESS_TICKETS; t++)
    expected += _holds_for(t);
  cr_assert_eq(atomic_load(&released_count), expected, "every held item once");
  cr_assert_eq(atomic_load(&concurrent_releases), 0, "one releasing thread at a time");
  cr_assert_eq(atomic_load(&overtaken), 0, "a thread released before the previous one flushed what it released");
  for (size_t i = 1; i < expected; i++)
    cr_assert_lt(released[i - 1], released[i], "strict order at %zu", i);
  cr_assert_eq(pd_reorder_waiting(stress_stage), 0);
  cr_assert_eq(pd_reorder_release_all(stress_stage), 0);
  pd_reorder_free(stress_stage);
}
