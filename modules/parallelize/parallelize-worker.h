/*
 * One worker thread of parallelize(): registered with syslog-ng's main loop
 * (so reload and shutdown wait for it), running its own ivykis loop that
 * sleeps until the dispatcher wakes it.
 */
#ifndef PARALLELIZE_WORKER_H_INCLUDED
#define PARALLELIZE_WORKER_H_INCLUDED

#include "mainloop-threaded-worker.h"
#include "dispatcher.h"

#include <iv_event.h>

typedef struct _ParallelizeWorker
{
  MainLoopThreadedWorker thread;
  struct iv_event wakeup;
  struct iv_event exit_requested;
  pd_dispatcher *dispatcher;
  unsigned index;
} ParallelizeWorker;

void parallelize_worker_init(ParallelizeWorker *self, pd_dispatcher *dispatcher, unsigned index);
/* main thread; returns once the worker accepts work */
gboolean parallelize_worker_start(ParallelizeWorker *self);
/* any thread: work was queued for this worker */
void parallelize_worker_wake(ParallelizeWorker *self);
/* main thread, after the main loop stopped the worker */
void parallelize_worker_clear(ParallelizeWorker *self);

#endif
