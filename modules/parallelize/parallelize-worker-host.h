/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How a worker thread of parallelize() is one of syslog-ng's worker threads:
 * how it takes a thread id, how reload and shutdown tell it to exit and wait
 * for it, how it leaves.  The host releases differ here in substance, so there
 * is one glue file per host family, chosen by configure (as for thread ids,
 * parallelize-thread-ids.h); parallelize-worker.c is the same on every host.
 *
 * syslog-ng 3.36 and later (parallelize-worker-host-jobs.c): each running
 * worker is a job of the main loop with its own exit callback; the last
 * job_complete() leaves the pending reload or shutdown to a task of the main
 * loop.
 *
 * syslog-ng 3.35 (parallelize-worker-host-proxy.c): an exit callback gets on the
 * host's list only with a thread the host starts itself
 * (main_loop_create_worker_thread()), and the last job_complete() runs the
 * reload or shutdown inside the call, which would join a worker still waiting
 * in it.  So the workers are no jobs there: one host thread per configuration
 * (the proxy) is the job; told to exit, it tells the workers and returns once
 * every one has left.  The host starts it with g_thread_new(), which aborts
 * where no thread can be made: a thread of ours held from the first instance's
 * init (parallelize_worker_host_reserve()) keeps its room until then.
 */
#ifndef PARALLELIZE_WORKER_HOST_H_INCLUDED
#define PARALLELIZE_WORKER_HOST_H_INCLUDED

#include "syslog-ng.h"

/* main thread, init, before an instance starts its workers: whatever the host needs
 * beside them is in place; FALSE (with the reason) when no worker can run */
gboolean parallelize_worker_host_reserve(GError **error);
/* main thread: the instance's workers are gone (each reserve is released once) */
void parallelize_worker_host_release(void);

/* main thread, once the configuration is up: reload and shutdown call request_exit(cookie)
 * from the main thread, and go on once the worker has called parallelize_worker_host_leave() */
void parallelize_worker_host_join(void (*request_exit)(gpointer cookie), gpointer cookie);

/* worker thread: become a worker thread of the host, with a thread id from the I/O
 * threads' range, or with none (-1: every push takes a destination queue's lock);
 * main_loop_worker_thread_stop() undoes it */
void parallelize_worker_host_thread_start(gboolean io_thread_id);
/* worker thread, its last batch delivered and its batch callbacks run: stop being a
 * host thread and let the pending reload or shutdown go on */
void parallelize_worker_host_leave(void);

#endif
