/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-worker.h"

#include "cfg.h"
#include "logqueue.h"
#include "mainloop.h"
#include "mainloop-worker.h"

#include <iv.h>

static void
_on_wakeup(void *cookie)
{
  ParallelizeWorker *self = (ParallelizeWorker *) cookie;

  /* every consumed batch ends like an I/O job (batch callbacks, GC): see parallelize.c */
  pd_dispatcher_drain(self->dispatcher, self->index);
}

static void
_on_exit_requested(void *cookie)
{
  ParallelizeWorker *self = (ParallelizeWorker *) cookie;

  /* everything queued is delivered before the thread goes; later arrivals are delivered inline */
  pd_dispatcher_close(self->dispatcher, self->index);
  iv_event_unregister(&self->wakeup);
  iv_event_unregister(&self->exit_requested);
  iv_quit();
}

static gboolean
_thread_init(MainLoopThreadedWorker *s)
{
  ParallelizeWorker *self = (ParallelizeWorker *) s->data;

  IV_EVENT_INIT(&self->wakeup);
  self->wakeup.cookie = self;
  self->wakeup.handler = _on_wakeup;
  IV_EVENT_INIT(&self->exit_requested);
  self->exit_requested.cookie = self;
  self->exit_requested.handler = _on_exit_requested;
  if (iv_event_register(&self->wakeup) != 0)
    return FALSE;
  if (iv_event_register(&self->exit_requested) != 0)
    {
      iv_event_unregister(&self->wakeup);
      return FALSE;
    }

  pd_dispatcher_open(self->dispatcher, self->index);
  self->running = TRUE;
  return TRUE;
}

static void
_run(MainLoopThreadedWorker *s)
{
  iv_main();
}

static void
_request_exit(MainLoopThreadedWorker *s)
{
  ParallelizeWorker *self = (ParallelizeWorker *) s->data;

  /* a thread whose setup failed has already gone, and has no event to post to */
  if (self->running)
    iv_event_post(&self->exit_requested);
}

gboolean parallelize_worker_ids_from_io_range;

/* Once per process, at the first load of the module.  Loaded for the first
 * configuration at startup, no destination queue exists yet: widen
 * log_queue_max_threads to every id an I/O-range thread can get, so that
 * workers may take such ids too.  First loaded at a reload, queues of the
 * running configuration may be kept: leave them alone, use id -1. */
void
parallelize_worker_ids_decide(PluginContext *context)
{
  static gboolean decided;

  if (decided)
    return;
  decided = TRUE;

  MainLoop *main_loop = main_loop_get_instance();
  GlobalConfig *current = main_loop ? main_loop_get_current_config(main_loop) : NULL;
  if (current && &current->plugin_context == context && !current->tree.initialized_pipes->len)
    {
      log_queue_set_max_threads(MAIN_LOOP_MAX_WORKER_THREADS);
      parallelize_worker_ids_from_io_range = TRUE;
    }
}

void
parallelize_worker_init(ParallelizeWorker *self, pd_dispatcher *dispatcher, unsigned index, gboolean io_thread_id)
{
  /* THREADED_INPUT gives id -1, which any destination queue accepts; ASYNC an id from the I/O range
   * (or -1 once all 64 are taken) */
  main_loop_threaded_worker_init(&self->thread, io_thread_id ? MLW_ASYNC_WORKER : MLW_THREADED_INPUT_WORKER, self);
  self->thread.thread_init = _thread_init;
  self->thread.run = _run;
  self->thread.request_exit = _request_exit;
  self->dispatcher = dispatcher;
  self->index = index;
}

gboolean
parallelize_worker_start(ParallelizeWorker *self)
{
  return main_loop_threaded_worker_start(&self->thread);
}

void
parallelize_worker_wake(ParallelizeWorker *self)
{
  iv_event_post(&self->wakeup);
}

void
parallelize_worker_clear(ParallelizeWorker *self)
{
  main_loop_threaded_worker_clear(&self->thread);
}
