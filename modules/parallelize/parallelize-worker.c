/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "parallelize-worker.h"
#include "parallelize-worker-host.h"
#include "parallelize-cpus.h"
#include "parallelize-thread-ids.h"
#include "parallelize-compat.h"

#include "mainloop.h"
#include "mainloop-worker.h"

#include <iv.h>
#include <sys/resource.h>

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

  /* the "C" locale object while the process's locale is "C": parallelize-locale.h */
  parallelize_thread_locale_sync(&self->locale);
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
  parallelize_worker_host_thread_start(self->io_thread_id);
  if (!parallelize_thread_ids_fits(parallelize_thread_index()))
    {
      /* an id no destination queue has room for would abort the daemon at the first push */
      main_loop_worker_thread_stop();
      parallelize_worker_host_thread_start(FALSE);
    }

  parallelize_thread_locale_start(&self->locale);
  if (self->locale.on_c_locale)
    msg_debug("parallelize(): the worker thread uses the \"C\" locale object, as the process's locale is \"C\"",
              evt_tag_int("worker", self->index));
  pd_dispatcher_open(self->dispatcher, self->index);
  _set_state(self, STATE_RUNNING);
  iv_main();

  _unregister_events(self);
  main_loop_worker_invoke_batch_callbacks();
  parallelize_thread_locale_stop(&self->locale);
  parallelize_worker_host_leave();
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
  /* from now on reload and shutdown call _request_exit and wait until the worker left */
  parallelize_worker_host_join(_request_exit, self);
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

/* sizing: how many workers the configuration asks for, and how many the host lets us start */

gint
parallelize_workers_resolve(gint option)
{
  if (option >= 0)
    return option;
  gint cpus = parallelize_usable_cpus();
  if (option == PARALLELIZE_WORKERS_AUTO)
    return MAX(cpus - 1, 1);
  return MIN(cpus, PARALLELIZE_DEFAULT_MAX_WORKERS);
}

/* Each worker's event loop holds a descriptor (measured: 40 workers, 40 more
 * open files), and ivykis aborts the daemon when it cannot get it.  Workers
 * of instances initialised earlier hold theirs already, so counting what is
 * open now covers every instance of the configuration. */
#define PARALLELIZE_FDS_PER_WORKER 1
#define PARALLELIZE_FD_HEADROOM 32

static gint
_workers_that_fit_open_files(gint wanted)
{
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return wanted;

  GDir *fds = g_dir_open("/proc/self/fd", 0, NULL);
  if (!fds)
    return wanted;
  gsize open_fds = 0;
  while (g_dir_read_name(fds))
    open_fds++;
  g_dir_close(fds);

  if (open_fds + PARALLELIZE_FD_HEADROOM >= limit.rlim_cur)
    return 0;
  gsize fit = (limit.rlim_cur - open_fds - PARALLELIZE_FD_HEADROOM) / PARALLELIZE_FDS_PER_WORKER;
  return (gint) MIN((gsize) wanted, fit);
}

/* When the thread limit (RLIMIT_NPROC, a cgroup's pids.max, systemd's
 * TasksMax) stops us, give back this many more, so that threads syslog-ng
 * starts later (its I/O pool grows on demand) still find room. */
static gint
_thread_headroom(void)
{
  return parallelize_thread_ids_io_threads() + 2;
}

static void
_thread_limit_reason(gchar **reason, GError **error)
{
  g_free(*reason);
  *reason = g_strdup_printf("%s; raise the thread limit (RLIMIT_NPROC, TasksMax=, pids.max) or lower workers()",
                            *error ? (*error)->message : "cannot create a thread");
  g_clear_error(error);
}

ParallelizeWorker *
parallelize_workers_create(gint wanted, gint *count, gchar **reason)
{
  *reason = NULL;
  *count = 0;
  gint fit = _workers_that_fit_open_files(wanted);
  if (fit < wanted)
    *reason = g_strdup("the open files limit leaves too few descriptors; raise it (LimitNOFILE=) or lower workers()");
  if (fit == 0)
    return NULL;

  GError *error = NULL;
  if (!parallelize_worker_host_reserve(&error))
    {
      _thread_limit_reason(reason, &error);
      return NULL;
    }
  ParallelizeWorker *workers = g_new0(ParallelizeWorker, fit);
  gint started = 0;
  for (; started < fit; started++)
    {
      if (!parallelize_worker_create(&workers[started], started, &error))
        {
          _thread_limit_reason(reason, &error);
          gint keep = MAX(started - _thread_headroom(), 0);
          while (started > keep)
            parallelize_worker_destroy(&workers[--started]);
          break;
        }
    }
  *count = started;
  if (!started)
    {
      parallelize_workers_destroy(workers, 0);
      return NULL;
    }
  return workers;
}

void
parallelize_workers_destroy(ParallelizeWorker *workers, gint count)
{
  if (!workers)
    return;
  for (gint i = 0; i < count; i++)
    parallelize_worker_destroy(&workers[i]);
  g_free(workers);
  parallelize_worker_host_release();
}
