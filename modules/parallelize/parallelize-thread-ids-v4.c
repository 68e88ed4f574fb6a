/* SPDX-License-Identifier: GPL-2.0-or-later */
/* syslog-ng 4.x: one pool of ids, sized for each configuration in pre_config_init (see the header) */
#include "parallelize-thread-ids.h"

#include "mainloop-worker.h"

#include <unistd.h>

static gint io_threads;

void
parallelize_thread_ids_module_loaded(PluginContext *context)
{
  if (io_threads)
    return;
  /* The I/O pool's size is private to the host: this is its default (one per CPU, at
   * least 2); a --worker-threads given on the command line is not seen here. */
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  io_threads = (gint) CLAMP(cpus, MAIN_LOOP_MIN_WORKER_THREADS, MAIN_LOOP_MAX_WORKER_THREADS);
}

/* the ids are announced for each configuration in pre_config_init, clones included */
void
parallelize_thread_ids_parsed(gint workers)
{
}

void
parallelize_thread_ids_config_starting(gint workers)
{
  if (workers > 0)
    main_loop_worker_allocate_thread_space(workers);
}

void
parallelize_thread_ids_close_reserve(void)
{
}

/* every worker was announced: each takes an id from the host's pool */
gboolean
parallelize_thread_ids_take(void)
{
  return TRUE;
}

void
parallelize_thread_ids_give_back(void)
{
}

/* the host sizes every queue for the ids it hands out, and hands out -1 beyond them */
gboolean
parallelize_thread_ids_fits(gint thread_id)
{
  return TRUE;
}

gint
parallelize_thread_ids_io_threads(void)
{
  return io_threads;
}
