/* SPDX-License-Identifier: GPL-2.0-or-later */
/* syslog-ng 3.36 and later: each running worker is a job of the main loop (see the header) */
#include "parallelize-worker-host.h"

#include "mainloop.h"
#include "mainloop-call.h"
#include "mainloop-worker.h"

gboolean
parallelize_worker_host_reserve(GError **error)
{
  return TRUE;
}

void
parallelize_worker_host_release(void)
{}

void
parallelize_worker_host_join(void (*request_exit)(gpointer cookie), gpointer cookie)
{
  main_loop_assert_main_thread();
  main_loop_worker_job_start();
  main_loop_worker_register_exit_notification_callback(request_exit, cookie);
}

void
parallelize_worker_host_thread_start(gboolean io_thread_id)
{
  main_loop_worker_thread_start(io_thread_id ? MLW_ASYNC_WORKER : MLW_THREADED_INPUT_WORKER);
}

void
parallelize_worker_host_leave(void)
{
  /* the last job's completion leaves the reload or shutdown to a task of the main loop */
  main_loop_call((MainLoopTaskFunc) main_loop_worker_job_complete, NULL, TRUE);
  main_loop_worker_thread_stop();
}
