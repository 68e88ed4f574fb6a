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

/* a worker's batch of one ticket that held one item */
static void
_submit_one(pd_reorder *r, uint64_t ticket, void *item)
{
  pd_hold hold = {ticket, item, TARGET};
  pd_reorder_submit(r, &hold, 1, &ticket, 1);
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
  _submit_one(r, 0, ITEM(1));
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
  _submit_one(r, 0, ITEM(1));
  cr_assert_eq(atomic_load(&released_count), 4, "ticket 3 is not done");
  cr_assert(released[0] == 1 && released[1] == 10 && released[2] == 20 && released[3] == 21);
  _submit_one(r, 3, ITEM(30));
  cr_assert_eq(atomic_load(&released_count), 6);
  cr_assert(released[4] == 30 && released[5] == 40);
  cr_assert_eq(pd_reorder_waiting(r), 0);
  pd_reorder_free(r);
}

static void
_submit_each(pd_reorder *r, const uint64_t *tickets, size_t n)
{
  pd_hold holds[64];
  for (size_t i = 0; i < n; i++)
    holds[i] = (pd_hold){tickets[i], ITEM(tickets[i] + 1), TARGET};
  pd_reorder_submit(r, holds, n, tickets, n);
}

Test(reorder, batches_of_runs_wait_as_runs_and_go_in_ticket_order)
{
  pd_reorder *r = pd_reorder_new(_release, NULL, NULL);
  /* two workers' batches of runs, as round-robin makes them: 0-1 and 4-5 on one, 2-3 and 6-7 on the other */
  uint64_t b[] = {2, 3, 6, 7};
  _submit_each(r, b, 4);
  cr_assert_eq(atomic_load(&released_count), 0, "0 and 1 are not done");
  cr_assert_eq(pd_reorder_waiting(r), 4);
  uint64_t a[] = {0, 1, 4, 5};
  _submit_each(r, a, 4); /* 0-1 go at once, then 2-3 from the stage, 4-5, 6-7 */
  cr_assert_eq(atomic_load(&released_count), 8);
  for (int i = 0; i < 8; i++)
    cr_assert_eq(released[i], (uintptr_t) i + 1, "position %d", i);
  cr_assert_eq(pd_reorder_waiting(r), 0);
  cr_assert_eq(pd_reorder_max_waiting(r), 6, "the stage held b's four and a's 4-5; 0-1 never waited");
  cr_assert_eq(pd_reorder_release_all(r), 0);
  pd_reorder_free(r);
}

Test(reorder, a_batch_at_the_head_waits_for_a_single_hold_of_its_own_tickets)
{
  pd_reorder *r = pd_reorder_new(_release, NULL, NULL);
  pd_reorder_hold(r, 1, ITEM(100), TARGET); /* held at once (deliver_inline's way), before ticket 1 is done */
  uint64_t a[] = {0, 1, 2};
  _submit_each(r, a, 3);
  cr_assert_eq(atomic_load(&released_count), 4);
  cr_assert(released[0] == 1 && released[1] == 100 && released[2] == 2 && released[3] == 3);
  cr_assert_eq(pd_reorder_release_all(r), 0);
  pd_reorder_free(r);
}

Test(reorder, release_all_at_shutdown_includes_runs_and_single_holds)
{
  pd_reorder *r = pd_reorder_new(_release, NULL, NULL);
  uint64_t b[] = {3, 4, 8};
  _submit_each(r, b, 3);
  pd_reorder_hold(r, 6, ITEM(7), TARGET);
  pd_reorder_hold(r, 1, ITEM(2), TARGET); /* never done: its worker stopped */
  cr_assert_eq(pd_reorder_release_all(r), 5);
  uintptr_t expected[] = {2, 4, 5, 7, 9};
  for (int i = 0; i < 5; i++)
    cr_assert_eq(released[i], expected[i], "position %d", i);
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

/* runs thread_main on nthreads threads against a fresh stress_stage, then checks what came out:
 * every item that holds_for() says was held, once, in strict order, one releaser at a time */
static void
_run_stress(void *(*thread_main)(void *), int nthreads, unsigned (*holds_for)(uint64_t), uint64_t tickets)
{
  stress_stage = pd_reorder_new(_release, _released, NULL);
  pthread_t threads[8];
  cr_assert_leq(nthreads, 8);
  for (uintptr_t i = 0; i < (uintptr_t) nthreads; i++)
    pthread_create(&threads[i], NULL, thread_main, (void *) (i + 1));
  for (int i = 0; i < nthreads; i++)
    pthread_join(threads[i], NULL);

  size_t expected = 0;
  for (uint64_t t = 0; t < tickets; t++)
    expected += holds_for(t);
  cr_assert_eq(atomic_load(&released_count), expected, "every held item once");
  cr_assert_eq(atomic_load(&concurrent_releases), 0, "one releasing thread at a time");
  cr_assert_eq(atomic_load(&overtaken), 0, "a thread released before the previous one flushed what it released");
  for (size_t i = 1; i < expected; i++)
    cr_assert_lt(released[i - 1], released[i], "strict order at %zu", i);
  cr_assert_eq(pd_reorder_waiting(stress_stage), 0);
  cr_assert_eq(pd_reorder_release_all(stress_stage), 0);
  pd_reorder_free(stress_stage);
}

Test(reorder, many_threads_release_every_item_once_in_ticket_order)
{
  atomic_store(&next_ticket, 0);
  _run_stress(_stress_thread, STRESS_THREADS, _holds_for, STRESS_TICKETS);
}

/* The shape of in-order() behind a dispatcher: threads take runs of tickets
 * (round-robin hands each worker a run, then the next worker's run), collect
 * a batch of runs with gaps, and submit it at once with its holds: mostly one
 * per ticket, sometimes a drop or a fork, sometimes a hold made at once
 * beforehand.  Every item once, in ticket order. */
#define SUBMIT_THREADS 4
#define SUBMIT_TICKETS 400000
#define SUBMIT_RUNS 6

static atomic_uint_fast64_t next_run;
static atomic_int submit_plain; /* nonzero: one hold per ticket only */

static unsigned
_submit_holds_for(uint64_t t)
{
  if (atomic_load(&submit_plain))
    return 1;
  unsigned h = (unsigned) ((t * 2654435761u) >> 9) % 64;
  return h == 0 ? 0 : h == 1 ? 2 : 1;
}

static void *
_submit_thread(void *arg)
{
  unsigned seed = (unsigned) (uintptr_t) arg;
  uint64_t tickets[SUBMIT_RUNS * 16];
  pd_hold holds[SUBMIT_RUNS * 16 * 2];
  for (;;)
    {
      size_t n = 0, h = 0;
      for (int run = 0; run < SUBMIT_RUNS; run++)
        {
          uint64_t length = 1 + rand_r(&seed) % 16;
          uint64_t first = atomic_fetch_add(&next_run, length);
          for (uint64_t t = first; t < first + length && t < SUBMIT_TICKETS; t++)
            {
              tickets[n++] = t;
              unsigned count = _submit_holds_for(t);
              if (count == 2 && t % 3 == 0)
                {
                  /* one of the fork's holds made at once, the other with the batch */
                  pd_reorder_hold(stress_stage, t, ITEM(t * 2 + 1), TARGET);
                  holds[h++] = (pd_hold){t, ITEM(t * 2 + 2), TARGET};
                }
              else
                for (unsigned k = 0; k < count; k++)
                  holds[h++] = (pd_hold){t, ITEM(t * 2 + k + 1), TARGET};
            }
        }
      if (rand_r(&seed) % 64 == 0)
        usleep(rand_r(&seed) % 300);
      if (n)
        pd_reorder_submit(stress_stage, holds, h, tickets, n);
      if (atomic_load(&next_run) >= SUBMIT_TICKETS)
        return NULL;
    }
}

static void
_submit_stress(int plain)
{
  atomic_store(&next_run, 0);
  atomic_store(&submit_plain, plain);
  _run_stress(_submit_thread, SUBMIT_THREADS, _submit_holds_for, SUBMIT_TICKETS);
}

Test(reorder, many_threads_submitting_batches_of_runs_release_every_item_once_in_order, .timeout = 300)
{
  _submit_stress(1);
}

Test(reorder, many_threads_submitting_runs_with_drops_forks_and_single_holds, .timeout = 300)
{
  _submit_stress(0);
}
