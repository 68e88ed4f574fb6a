/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-dispatcher: the dispatch engine alone (lib/dispatcher.h), with a
 * no-op consumer, so that the cost of the hand-off is seen without syslog-ng.
 *
 *   bench-dispatcher threads MESSAGES WORKERS [BATCH_SIZE [FETCH_BATCH]]
 *     one producer thread routes round-robin, adds, and flushes every
 *     FETCH_BATCH items (as a source's end of fetch batch does); WORKERS
 *     threads sleep on a semaphore and drain when woken.  Prints msg/s.
 *   bench-dispatcher loop MESSAGES WORKERS [BATCH_SIZE [FETCH_BATCH]]
 *     the same work on one thread: add, flush, then drain every worker;
 *     repeatable under valgrind --tool=callgrind --toggle-collect=measured_loop,
 *     which counts only the hot loop: instructions / MESSAGES is the cost of
 *     one message through route + add + flush + drain + consume.
 *   bench-dispatcher loop-ordered MESSAGES WORKERS [BATCH_SIZE [FETCH_BATCH]]
 *     the loop with tickets, and every consumed item held in a reorder stage
 *     (as in-order() does) and its batch reported done: the difference to
 *     loop is what in-order() costs the engine per message.
 *
 * Every mode sets the taken and idle callbacks as parallelize() does for its
 * counters: the engine stamps each hand-off with the clock, and the consumer
 * reads it once per batch it takes and once when it runs dry.
 */
#include "dispatcher.h"
#include "reorder.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct
{
  pd_dispatcher *dispatcher;
  unsigned index;
  sem_t wake;
  size_t consumed;
} Worker;

static Worker *workers;
static atomic_size_t consumed_total;
static atomic_int producer_done;
static size_t consumed_by_consume;

static pd_reorder *stage; /* loop-ordered only */

static void
_consume(void *user_data, unsigned worker, void *const *items, const uint64_t *tickets, size_t count)
{
  (void) user_data;
  (void) worker;
  if (stage)
    {
      /* as the glue does: in-order() collects the batch's holds, one submit hands them over */
      static pd_hold holds[1 << 16];
      for (size_t i = 0; i < count; i++)
        holds[i] = (pd_hold){.ticket = tickets[i], .item = items[i], .target = NULL};
      pd_reorder_submit(stage, holds, count, tickets, count);
    }
  consumed_by_consume += count; /* only meaningful in loop mode; threads count in drain */
}

/* as the glue's wait and busy-time counters do: a clock read per batch taken, and per idle spell */
typedef struct
{
  _Alignas(64) uint64_t waited_ns;
  uint64_t idle_at_ns;
} WorkerClock; /* a cache line per worker: the threads mode must not share one */
static WorkerClock worker_clock[256];

static void
_taken(void *user_data, unsigned worker, uint64_t handed_over_ns, size_t count)
{
  (void) user_data;
  worker_clock[worker % 256].waited_ns += (pd_clock_ns() - handed_over_ns) * count;
}

static void
_idle(void *user_data, unsigned worker)
{
  (void) user_data;
  worker_clock[worker % 256].idle_at_ns = pd_clock_ns();
}

static void
_release(void *user_data, void *item, void *target)
{
  (void) user_data;
  (void) item;
  (void) target;
}

static void
_wake(void *user_data, unsigned worker)
{
  if (user_data)
    sem_post(&workers[worker].wake);
}

static void
_deliver_inline(void *user_data, unsigned worker, void *item, uint64_t ticket)
{
  (void) user_data;
  (void) worker;
  (void) item;
  fprintf(stderr, "bench-dispatcher: unexpected inline delivery\n");
  abort();
}

static double
_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
_worker_main(void *arg)
{
  Worker *self = arg;
  for (;;)
    {
      sem_wait(&self->wake);
      size_t n = pd_dispatcher_drain(self->dispatcher, self->index);
      self->consumed += n;
      atomic_fetch_add_explicit(&consumed_total, n, memory_order_relaxed);
      if (atomic_load(&producer_done))
        {
          /* the producer posts once more after its last flush */
          size_t last = pd_dispatcher_close(self->dispatcher, self->index);
          self->consumed += last;
          atomic_fetch_add_explicit(&consumed_total, last, memory_order_relaxed);
          return NULL;
        }
    }
}

/* kept out of line: callgrind's --toggle-collect counts exactly this */
__attribute__((noinline)) void
measured_loop(pd_dispatcher *d, size_t messages, unsigned nworkers, size_t fetch_batch)
{
  static char item_storage;
  void *item = &item_storage;
  for (size_t i = 0; i < messages; i++)
    {
      pd_dispatcher_add(d, 0, pd_dispatcher_route_next(d, 0), item);
      if ((i + 1) % fetch_batch == 0 || i + 1 == messages)
        {
          pd_dispatcher_flush(d, 0);
          for (unsigned w = 0; w < nworkers; w++)
            pd_dispatcher_drain(d, w);
        }
    }
}

int
main(int argc, char **argv)
{
  if (argc < 4 ||
      (strcmp(argv[1], "threads") != 0 && strcmp(argv[1], "loop") != 0 && strcmp(argv[1], "loop-ordered") != 0))
    {
      fprintf(stderr, "usage: %s threads|loop|loop-ordered MESSAGES WORKERS [BATCH_SIZE [FETCH_BATCH]]\n", argv[0]);
      return 2;
    }
  int threaded = strcmp(argv[1], "threads") == 0;
  int ordered = strcmp(argv[1], "loop-ordered") == 0;
  size_t messages = strtoull(argv[2], NULL, 10);
  unsigned nworkers = (unsigned) atoi(argv[3]);
  unsigned batch_size = argc > 4 ? (unsigned) atoi(argv[4]) : 100;
  size_t fetch_batch = argc > 5 ? strtoull(argv[5], NULL, 10) : 10000;
  if (fetch_batch == 0)
    fetch_batch = 10000;

  pd_options options = {.workers = nworkers, .producers = 1, .batch_size = batch_size, .ordered = ordered};
  if (ordered)
    stage = pd_reorder_new(_release, NULL, NULL);
  pd_callbacks callbacks = {
    .consume = _consume, .wake = _wake, .deliver_inline = _deliver_inline, .taken = _taken, .idle = _idle};
  pd_dispatcher *d = pd_dispatcher_new(&options, &callbacks, threaded ? (void *) 1 : NULL);
  if (!d)
    {
      fprintf(stderr, "bench-dispatcher: bad options\n");
      return 2;
    }
  workers = calloc(nworkers, sizeof(Worker));
  for (unsigned w = 0; w < nworkers; w++)
    {
      workers[w].dispatcher = d;
      workers[w].index = w;
      sem_init(&workers[w].wake, 0, 0);
      pd_dispatcher_open(d, w);
    }

  if (!threaded)
    {
      /* warm up the batch pool outside the measured loop */
      measured_loop(d, fetch_batch, nworkers, fetch_batch);
      consumed_by_consume = 0;
      double t0 = _now();
      measured_loop(d, messages, nworkers, fetch_batch);
      double t1 = _now();
      printf("%s: %zu messages, %u workers, batch-size %u, flush every %zu: %.0f msg/s (%.1f ns/msg), consumed %zu\n",
             argv[1],
             messages,
             nworkers,
             batch_size,
             fetch_batch,
             messages / (t1 - t0),
             (t1 - t0) / messages * 1e9,
             consumed_by_consume);
      return consumed_by_consume == messages ? 0 : 1;
    }

  pthread_t *threads = calloc(nworkers, sizeof(pthread_t));
  for (unsigned w = 0; w < nworkers; w++)
    pthread_create(&threads[w], NULL, _worker_main, &workers[w]);
  static char item_storage;
  double t0 = _now();
  for (size_t i = 0; i < messages; i++)
    {
      pd_dispatcher_add(d, 0, pd_dispatcher_route_next(d, 0), &item_storage);
      if ((i + 1) % fetch_batch == 0)
        pd_dispatcher_flush(d, 0);
    }
  pd_dispatcher_flush(d, 0);
  double t_produced = _now();
  atomic_store(&producer_done, 1);
  for (unsigned w = 0; w < nworkers; w++)
    sem_post(&workers[w].wake);
  for (unsigned w = 0; w < nworkers; w++)
    pthread_join(threads[w], NULL);
  double t1 = _now();
  size_t total = atomic_load(&consumed_total);
  printf("threads: %zu messages, 1 producer, %u workers, batch-size %u, flush every %zu: %.0f msg/s end to end "
         "(producer alone %.0f msg/s), consumed %zu\n",
         messages,
         nworkers,
         batch_size,
         fetch_batch,
         messages / (t1 - t0),
         messages / (t_produced - t0),
         total);
  pd_dispatcher_free(d);
  return total == messages ? 0 : 1;
}
