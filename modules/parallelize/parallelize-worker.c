/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-worker.h"
#include "parallelize-thread-ids.h"
#include "parallelize-compat.h"

#include "mainloop.h"
#include "mainloop-call.h"
#include "mainloop-worker.h"

#include <iv.h>

enum
{
  STATE_STARTING,
  STATE_WAITING, /* event loop set up, waiting for a command */
  STATE_SETUP_FAILED,
  STATE_RUNNING, /* accepts work */
};

enum
{
  COMMAND_NONE,
  COMMAND_RUN,
  COMMAND_QUIT,
};

static void
_set_state(ParallelizeWorker *self, gint state)
{
  g_mutex_lock(&self->lock);
  self->state = state;
  g_cond_broadcast(&self->changed);
  g_mutex_unlock(&self->lock);
}

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
  iv_quit();
}

static gboolean
_register_events(ParallelizeWorker *self)
{
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
  return TRUE;
}

static void
_unregister_events(ParallelizeWorker *self)
{
  iv_event_unregister(&self->wakeup);
  iv_event_unregister(&self->exit_requested);
}

/* as a threaded worker of the host: a thread id, per-thread state, then work */
static void
_run(ParallelizeWorker *self)
{
  main_loop_worker_thread_start(self->io_thread_id ? MLW_ASYNC_WORKER : MLW_THREADED_INPUT_WORKER);
  if (!parallelize_thread_ids_fits(parallelize_thread_index()))
    {
      /* an id no destination queue has room for would abort the daemon at the first push */
      main_loop_worker_thread_stop();
      main_loop_worker_thread_start(MLW_THREADED_INPUT_WORKER);
    }

  pd_dispatcher_open(self->dispatcher, self->index);
  _set_state(self, STATE_RUNNING);
  iv_main();

  _unregister_events(self);
  main_loop_worker_invoke_batch_callbacks();
  main_loop_call((MainLoopTaskFunc) main_loop_worker_job_complete, NULL, TRUE);
  main_loop_worker_thread_stop();
}

static gpointer
_thread_main(gpointer user_data)
{
  ParallelizeWorker *self = (ParallelizeWorker *) user_data;

  iv_init();
  if (!_register_events(self))
    {
      iv_deinit();
      _set_state(self, STATE_SETUP_FAILED);
      return NULL;
    }
  _set_state(self, STATE_WAITING);

  g_mutex_lock(&self->lock);
  while (self->command == COMMAND_NONE)
    g_cond_wait(&self->changed, &self->lock);
  gint command = self->command;
  g_mutex_unlock(&self->lock);

  if (command == COMMAND_RUN)
    _run(self);
  else
    _unregister_events(self);
  iv_deinit();
  return NULL;
}

static void
_wait_for_state_beyond(ParallelizeWorker *self, gint state)
{
  g_mutex_lock(&self->lock);
  while (self->state <= state)
    g_cond_wait(&self->changed, &self->lock);
  g_mutex_unlock(&self->lock);
}

static void
_command(ParallelizeWorker *self, gint command)
{
  g_mutex_lock(&self->lock);
  self->command = command;
  g_cond_broadcast(&self->changed);
  g_mutex_unlock(&self->lock);
}

gboolean
parallelize_worker_create(ParallelizeWorker *self, unsigned index, GError **error)
{
  g_mutex_init(&self->lock);
  g_cond_init(&self->changed);
  self->index = index;
  self->state = STATE_STARTING;
  self->command = COMMAND_NONE;

  gchar name[16];
  g_snprintf(name, sizeof(name), "parallelize/%u", index);
  /* g_thread_new() would abort the daemon where the thread limit is reached */
  self->thread = g_thread_try_new(name, _thread_main, self, error);
  if (!self->thread)
    {
      g_mutex_clear(&self->lock);
      g_cond_clear(&self->changed);
      return FALSE;
    }

  _wait_for_state_beyond(self, STATE_STARTING);
  if (self->state == STATE_SETUP_FAILED)
    {
      g_set_error_literal(error, G_THREAD_ERROR, G_THREAD_ERROR_AGAIN, "cannot set up the worker's event loop");
      parallelize_worker_destroy(self);
      return FALSE;
    }
  return TRUE;
}

static void
_request_exit(gpointer user_data)
{
  ParallelizeWorker *self = (ParallelizeWorker *) user_data;

  iv_event_post(&self->exit_requested);
}

void
parallelize_worker_run(ParallelizeWorker *self, pd_dispatcher *dispatcher, gboolean io_thread_id)
{
  main_loop_assert_main_thread();
  self->dispatcher = dispatcher;
  self->io_thread_id = io_thread_id;
  /* a running job of the main loop: reload and shutdown call _request_exit and wait for it */
  main_loop_worker_job_start();
  main_loop_worker_register_exit_notification_callback(_request_exit, self);
  _command(self, COMMAND_RUN);
  _wait_for_state_beyond(self, STATE_SETUP_FAILED);
}

void
parallelize_worker_wake(ParallelizeWorker *self)
{
  iv_event_post(&self->wakeup);
}

void
parallelize_worker_destroy(ParallelizeWorker *self)
{
  if (!self->thread)
    return;
  _command(self, COMMAND_QUIT); /* only heard by a worker that never ran */
  g_thread_join(self->thread);
  self->thread = NULL;
  g_mutex_clear(&self->lock);
  g_cond_clear(&self->changed);
}
