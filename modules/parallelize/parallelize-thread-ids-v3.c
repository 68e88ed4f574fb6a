/* SPDX-License-Identifier: GPL-2.0-or-later */
/* syslog-ng 3.38: the destination queues' per-thread tables are widened at the first parse (see the header) */
#include "parallelize-thread-ids.h"

#include "cfg.h"
#include "logqueue.h"
#include "mainloop.h"
#include "mainloop-worker.h"

/* all of it is touched on the main thread only, except the table size the workers read */
static struct
{
  gboolean loaded;
  gint io_threads;
  gboolean reserve_open; /* the first configuration is being parsed: no queue exists */
  gint reserved;
  gint taken;
  gint table; /* log_queue_max_threads as every queue has it */
} ids;

void
parallelize_thread_ids_module_loaded(PluginContext *context)
{
  if (ids.loaded)
    return;
  ids.loaded = TRUE;
  /* untouched by anyone else: the I/O pool's size, as main_loop_io_worker_init() set it */
  ids.io_threads = log_queue_max_threads;
  ids.table = log_queue_max_threads;

  /* Loaded for the first configuration at startup: nothing has been initialised, so no
   * destination queue exists.  Loaded first by a reload: queues of the running
   * configuration may be kept, with tables that cannot change. */
  MainLoop *main_loop = main_loop_get_instance();
  GlobalConfig *current = main_loop ? main_loop_get_current_config(main_loop) : NULL;
  ids.reserve_open = current && &current->plugin_context == context && !current->tree.initialized_pipes->len;
}

void
parallelize_thread_ids_parsed(gint workers)
{
  if (!ids.reserve_open || workers <= 0)
    return;
  ids.reserved = MIN(ids.reserved + workers, MAIN_LOOP_MAX_WORKER_THREADS - ids.io_threads);
  ids.table = ids.io_threads + ids.reserved;
  log_queue_set_max_threads(ids.table);
}

/* never called: 3.38 has no pre_config_init hook */
void
parallelize_thread_ids_config_starting(gint workers)
{
}

void
parallelize_thread_ids_close_reserve(void)
{
  ids.reserve_open = FALSE;
}

gboolean
parallelize_thread_ids_take(void)
{
  if (ids.taken >= ids.reserved)
    return FALSE;
  ids.taken++;
  return TRUE;
}

void
parallelize_thread_ids_give_back(void)
{
  g_assert(ids.taken > 0);
  ids.taken--;
}

gboolean
parallelize_thread_ids_fits(gint thread_id)
{
  return thread_id < ids.table;
}

gint
parallelize_thread_ids_io_threads(void)
{
  return ids.io_threads;
}
