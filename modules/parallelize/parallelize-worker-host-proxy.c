/* SPDX-License-Identifier: GPL-2.0-or-later */
/* syslog-ng 3.35: one host thread per configuration (the proxy) is the workers' job (see the header) */
#include "parallelize-worker-host.h"

#include "mainloop.h"
#include "mainloop-worker.h"
#include "mainloop-call.h"

#include <sys/syscall.h>
#include <unistd.h>

typedef struct
{
  void (*request_exit)(gpointer cookie);
  gpointer cookie;
} ExitRequest;

static struct
{
  /* main thread only */
  gint reserves; /* instances of the configuration holding a reserve */
  GThread *placeholder; /* keeps the proxy's room from the first reserve until the first join */
  GArray *exit_requests; /* the running configuration's workers; empty while no proxy runs */

  GMutex lock;
  GCond changed;
  gboolean placeholder_may_go; /* under lock */
  pid_t placeholder_tid; /* under lock */
  gint workers_joined; /* under lock: joined and not left yet */
} host;

/* WorkerOptions instead of 3.36's MLW_ types; the thread reads them after it started */
static WorkerOptions io_range_thread = {0};
static WorkerOptions thread_without_id = {.is_external_input = TRUE};

static gpointer
_placeholder_main(gpointer user_data)
{
  g_mutex_lock(&host.lock);
  host.placeholder_tid = (pid_t) syscall(SYS_gettid);
  while (!host.placeholder_may_go)
    g_cond_wait(&host.changed, &host.lock);
  g_mutex_unlock(&host.lock);
  return NULL;
}

static void
_drop_placeholder(void)
{
  g_mutex_lock(&host.lock);
  host.placeholder_may_go = TRUE;
  g_cond_broadcast(&host.changed);
  g_mutex_unlock(&host.lock);
  g_thread_join(host.placeholder);
  host.placeholder = NULL;

  /* The join returns before the kernel has released the thread, and until then it counts
   * toward the thread limits (RLIMIT_NPROC, pids.max): the thread that takes its room must
   * not find it still taken.  It is gone from /proc once released. */
  gchar task[64];
  g_snprintf(task, sizeof(task), "/proc/self/task/%d", (gint) host.placeholder_tid);
  for (gint waited_us = 0; waited_us < G_USEC_PER_SEC && access(task, F_OK) == 0; waited_us += 50)
    g_usleep(50);
}

gboolean
parallelize_worker_host_reserve(GError **error)
{
  main_loop_assert_main_thread();
  if (!host.placeholder)
    {
      g_assert(!host.exit_requests || host.exit_requests->len == 0);
      host.placeholder_may_go = FALSE;
      host.placeholder = g_thread_try_new("parallelize-rsv", _placeholder_main, NULL, error);
      if (!host.placeholder)
        return FALSE;
    }
  host.reserves++;
  return TRUE;
}

void
parallelize_worker_host_release(void)
{
  main_loop_assert_main_thread();
  g_assert(host.reserves > 0);
  host.reserves--;
  if (host.reserves == 0 && host.placeholder)
    _drop_placeholder();
}

/* the proxy, a host thread: returns (and the host completes its job) once every worker left */
static void
_proxy_run(gpointer user_data)
{
  g_mutex_lock(&host.lock);
  while (host.workers_joined > 0)
    g_cond_wait(&host.changed, &host.lock);
  g_mutex_unlock(&host.lock);
}

/* main thread, from the host's reload or shutdown: the proxy's exit callback */
static void
_proxy_request_exit(gpointer user_data)
{
  for (guint i = 0; i < host.exit_requests->len; i++)
    {
      ExitRequest *request = &g_array_index(host.exit_requests, ExitRequest, i);
      request->request_exit(request->cookie);
    }
  g_array_set_size(host.exit_requests, 0);
}

void
parallelize_worker_host_join(void (*request_exit)(gpointer cookie), gpointer cookie)
{
  main_loop_assert_main_thread();
  g_mutex_lock(&host.lock);
  host.workers_joined++;
  g_mutex_unlock(&host.lock);

  if (!host.exit_requests)
    host.exit_requests = g_array_new(FALSE, FALSE, sizeof(ExitRequest));
  ExitRequest request = {request_exit, cookie};
  g_array_append_val(host.exit_requests, request);
  if (host.exit_requests->len > 1)
    return;

  /* the configuration's first worker: the proxy takes the placeholder's room (the host's
   * g_thread_new() aborts the daemon where it finds none) */
  g_assert(host.placeholder);
  _drop_placeholder();
  static WorkerOptions proxy_thread = {.is_external_input = TRUE}; /* no id: it pushes nothing */
  main_loop_create_worker_thread(_proxy_run, _proxy_request_exit, NULL, &proxy_thread);
}

void
parallelize_worker_host_thread_start(gboolean io_thread_id)
{
  main_loop_worker_thread_start(io_thread_id ? &io_range_thread : &thread_without_id);
}

static gpointer
_nothing(gpointer user_data)
{
  return NULL;
}

void
parallelize_worker_host_leave(void)
{
  /* A destination's writer asks the main thread to move its mark or suppress() timer with
   * main_loop_call(..., FALSE) from whatever thread pushes into it (ml-batched-timer.c),
   * here this worker.  The call waits in the main thread's queue on a call site in this
   * thread's thread-local storage, and the queue is taken newest first: the proxy's
   * job_complete(), queued after it, can run the reload, whose deinit joins this thread,
   * before the main thread reaches it.  It then takes a call site from a thread that is
   * gone, whose storage a new worker may already reuse (seen: SIGSEGV in
   * main_loop_call_handler() right after a reload).  A waiting call first waits for this
   * thread's earlier one, so after it nothing of ours is left in the queue.  (On 3.36 and
   * later the worker's own waiting job_complete() does the same.) */
  main_loop_call(_nothing, NULL, TRUE);
  main_loop_worker_thread_stop();
  g_mutex_lock(&host.lock);
  host.workers_joined--;
  g_cond_broadcast(&host.changed);
  g_mutex_unlock(&host.lock);
}
