/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One worker thread of parallelize().  Its thread is created when the
 * instance initialises, where a failure can still be handled (run with fewer
 * workers) instead of aborting the daemon, and it sets up its own ivykis
 * loop there, so that its descriptors count before the next instance checks
 * the open files limit.  Once the whole configuration is up, it joins
 * syslog-ng's main loop (reload and shutdown ask it to exit and wait for it,
 * like a threaded worker of the host: how, differs per host release, see
 * parallelize-worker-host.h), opens its queue and sleeps until the dispatcher
 * wakes it.
 */
#ifndef PARALLELIZE_WORKER_H_INCLUDED
#define PARALLELIZE_WORKER_H_INCLUDED

#include "syslog-ng.h"
#include "dispatcher.h"
#include "parallelize-locale.h"

#include <iv_event.h>

typedef struct _ParallelizeWorker
{
  GThread *thread;
  GMutex lock;
  GCond changed;
  gint state; /* the thread's progress, under lock */
  gint command; /* what the main thread asks of it, under lock */
  gboolean io_thread_id; /* take an id from the I/O range: see parallelize-thread-ids.h */
  struct iv_event wakeup;
  struct iv_event exit_requested;
  pd_dispatcher *dispatcher;
  unsigned index;
  ParallelizeThreadLocale locale; /* the worker thread's own */
} ParallelizeWorker;

/* workers(): a number, or one of these */
#define PARALLELIZE_WORKERS_DEFAULT (-1) /* one per usable CPU, at most PARALLELIZE_DEFAULT_MAX_WORKERS */
#define PARALLELIZE_WORKERS_AUTO (-2) /* one per usable CPU but one (the source's), at least 1 */
#define PARALLELIZE_DEFAULT_MAX_WORKERS 16

/* how many workers an option asks for (usable CPUs: parallelize-cpus.h) */
gint parallelize_workers_resolve(gint option);

/* main thread, init: up to wanted workers, as many as the open files and thread
 * limits let start (a limit means fewer workers, never an abort); *count: how many
 * (NULL when none), *reason: why not all (NULL when all; g_free() it) */
ParallelizeWorker *parallelize_workers_create(gint wanted, gint *count, gchar **reason);
void parallelize_workers_destroy(ParallelizeWorker *workers, gint count);

/* main thread, init: the thread is up with its event loop, waiting to run;
 * FALSE (with the reason) when it could not be created or set up */
gboolean parallelize_worker_create(ParallelizeWorker *self, unsigned index, GError **error);
/* main thread, once the configuration is up: returns when the worker accepts work */
void parallelize_worker_run(ParallelizeWorker *self, pd_dispatcher *dispatcher, gboolean io_thread_id);
/* any thread: work was queued for this worker */
void parallelize_worker_wake(ParallelizeWorker *self);
/* main thread, deinit: a running worker was stopped by the main loop by now; a
 * waiting one is told to go; both are joined */
void parallelize_worker_destroy(ParallelizeWorker *self);

#endif
