/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One worker thread of parallelize(): registered with syslog-ng's main loop
 * (so reload and shutdown wait for it), running its own ivykis loop that
 * sleeps until the dispatcher wakes it.
 */
#ifndef PARALLELIZE_WORKER_H_INCLUDED
#define PARALLELIZE_WORKER_H_INCLUDED

#include "mainloop-threaded-worker.h"
#include "plugin.h"
#include "dispatcher.h"

#include <iv_event.h>

typedef struct _ParallelizeWorker
{
  MainLoopThreadedWorker thread;
  struct iv_event wakeup;
  struct iv_event exit_requested;
  pd_dispatcher *dispatcher;
  unsigned index;
  gboolean running; /* its loop is up: set by the thread before start returns */
} ParallelizeWorker;

/*
 * Whether workers take thread ids from the I/O workers' range (0..63).  With
 * one, a worker's pushes into a destination queue collect in that queue's
 * per-thread input and move over once per batch, as an I/O worker's do;
 * with -1 (THREADED_INPUT) every push takes the queue's lock and may wake the
 * writer.  3.38's destination queues size their per-thread inputs by
 * log_queue_max_threads when created, so the range can only be widened
 * before the first configuration creates any queue: see
 * parallelize_worker_ids_decide().
 */
extern gboolean parallelize_worker_ids_from_io_range;
void parallelize_worker_ids_decide(PluginContext *context);

void parallelize_worker_init(ParallelizeWorker *self, pd_dispatcher *dispatcher, unsigned index, gboolean io_thread_id);
/* main thread; returns once the worker accepts work, or FALSE if its thread could not
 * set up (then its messages keep being delivered inline) */
gboolean parallelize_worker_start(ParallelizeWorker *self);
/* any thread: work was queued for this worker */
void parallelize_worker_wake(ParallelizeWorker *self);
/* main thread, after the main loop stopped the worker */
void parallelize_worker_clear(ParallelizeWorker *self);

#endif
